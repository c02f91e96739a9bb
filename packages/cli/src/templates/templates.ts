/** The four `micro new` templates: service, pubsub, crud and gateway. */
import {
  DOCKERIGNORE,
  dockerfile,
  type Files,
  GITIGNORE,
  packageJson,
  pluginImports,
  readme,
  serviceMain,
  type TemplateContext,
  type TemplateName,
  TSCONFIG,
  testPreamble,
} from './common.js'

function common(ctx: TemplateContext, deps: string[], description: string, call: string): Files {
  return {
    'package.json': packageJson(ctx, deps, description),
    'tsconfig.json': TSCONFIG,
    Dockerfile: dockerfile(ctx),
    '.dockerignore': DOCKERIGNORE,
    '.gitignore': GITIGNORE,
    'README.md': readme(ctx, description, call),
  }
}

function service(ctx: TemplateContext): Files {
  const h = ctx.handler
  return {
    ...common(
      ctx,
      ['@micro-ts/core', 'zod'],
      `The ${ctx.name} service: \`${h}.Call\` greets by name.`,
      `curl -s localhost:8080/api/${ctx.name}/${h}/Call -d '{"name":"John"}'   # {"msg":"Hello John"}\nmicro call ${ctx.name} ${h}.Call '{"name":"John"}'`,
    ),
    'src/handler.ts': `import type { HandlerContext, SchemaHandler } from '@micro-ts/core'
import { z } from 'zod'

export const CallRequest = z.object({ name: z.string().min(1, 'a name is required') })
export const CallResponse = z.object({ msg: z.string() })

/**
 * The endpoints' contract: requests are checked against it before the handler runs, it is
 * published in the registry, and typed clients are made from it.
 */
export const ${lower(h)}Endpoints = {
  Call: { request: CallRequest, response: CallResponse },
} as const

/** Upper-case methods are the endpoints (\`${h}.Call\`); lower-case ones stay private. */
export class ${h} implements SchemaHandler<typeof ${lower(h)}Endpoints> {
  async Call(req: z.output<typeof CallRequest>, _ctx: HandlerContext) {
    return { msg: \`Hello \${req.name}\` }
  }
}
`,
    'src/main.ts': serviceMain(
      ctx,
      `service.handle(new ${h}(), { endpoints: ${lower(h)}Endpoints })\n`,
      `import { ${h}, ${lower(h)}Endpoints } from './handler.js'\n`,
    ),
    'test/handler.test.ts': `${testPreamble(ctx, `import { MicroError } from '@micro-ts/core'\nimport { ${h}, ${lower(h)}Endpoints } from '../src/handler.js'\n`, `  service.handle(new ${h}(), { endpoints: ${lower(h)}Endpoints })`)}
test('${h}.Call greets by name', async () => {
  // Typed from the schemas: the compiler checks { name } and knows the answer has msg.
  const client = service.client.service<typeof ${lower(h)}Endpoints>('${ctx.name}', '${h}')
  const { msg } = await client.Call({ name: 'John' })
  assert.equal(msg, 'Hello John')
})

test('a request its schema refuses is a 400 naming the field', async () => {
  await assert.rejects(service.client.call('${ctx.name}', '${h}.Call', { name: 42 }), (e: unknown) => {
    assert.ok(e instanceof MicroError)
    assert.equal(e.code, 400)
    assert.match(e.detail, /name/)
    return true
  })
})
`,
  }
}

function pubsub(ctx: TemplateContext): Files {
  const h = ctx.handler
  const topic = `${ctx.name}.events`
  return {
    ...common(
      ctx,
      ['@micro-ts/core', 'zod'],
      `The ${ctx.name} service: \`${h}.Publish\` publishes an event on \`${topic}\`, its subscriber records it, \`${h}.Received\` lists what arrived.`,
      `micro call ${ctx.name} ${h}.Publish '{"text":"hi"}' && micro call ${ctx.name} ${h}.Received\nmicro broker subscribe ${topic}`,
    ),
    'src/handler.ts': `import type { Client, SchemaHandler } from '@micro-ts/core'
import { z } from 'zod'

export const TOPIC = '${topic}'
export const Event = z.object({ text: z.string().min(1), at: z.number().int().optional() })
export type Event = z.output<typeof Event>

export const ${lower(h)}Endpoints = {
  Publish: { request: Event, response: z.object({ published: z.boolean() }) },
  Received: { request: z.object({}), response: z.object({ events: z.array(Event) }) },
} as const

export class ${h} implements SchemaHandler<typeof ${lower(h)}Endpoints> {
  private readonly events: Event[] = []

  constructor(private readonly client: Client) {}

  async Publish(req: Event) {
    await this.client.publish(TOPIC, { ...req, at: req.at ?? Date.now() })
    return { published: true }
  }

  async Received() {
    return { events: [...this.events] }
  }

  /** The subscriber (lower case: not an endpoint). */
  onEvent(event: Event): void {
    this.events.push(event)
  }
}
`,
    'src/main.ts': serviceMain(
      ctx,
      `const handler = new ${h}(service.client)
service.handle(handler, { endpoints: ${lower(h)}Endpoints })
// A queue group: with several instances each event reaches one of them.
service.subscribe<Event>(TOPIC, (event) => handler.onEvent(event), { queue: '${ctx.name}' })
`,
      `import { type Event, ${h}, ${lower(h)}Endpoints, TOPIC } from './handler.js'\n`,
    ),
    'test/handler.test.ts': `${testPreamble(
      ctx,
      `import { type Event, ${h}, ${lower(h)}Endpoints, TOPIC } from '../src/handler.js'\n`,
      `  const handler = new ${h}(service.client)
  service.handle(handler, { endpoints: ${lower(h)}Endpoints })
  service.subscribe<Event>(TOPIC, (event) => handler.onEvent(event))`,
    )}
test('a published event reaches the subscriber', async () => {
  const client = service.client.service<typeof ${lower(h)}Endpoints>('${ctx.name}', '${h}')
  assert.deepEqual(await client.Publish({ text: 'hello', at: 1 }), { published: true })
  for (let i = 0; i < 100; i++) {
    const { events } = await client.Received({})
    if (events.length) {
      assert.deepEqual(events, [{ text: 'hello', at: 1 }])
      return
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  assert.fail('the event never arrived')
})
`,
  }
}

function crud(ctx: TemplateContext): Files {
  const h = ctx.handler
  return {
    ...common(
      ctx,
      ['@micro-ts/core', 'zod'],
      `The ${ctx.name} service: records kept in the store, with \`${h}.Create\`, \`Read\`, \`Update\`, \`Delete\` and \`List\`.`,
      `micro call ${ctx.name} ${h}.Create '{"id":"1","title":"first"}'\nmicro call ${ctx.name} ${h}.List`,
    ),
    'src/handler.ts': `import { errors, type SchemaHandler, type Store } from '@micro-ts/core'
import { z } from 'zod'

export const Record = z.object({ id: z.string().min(1), title: z.string().min(1), done: z.boolean().default(false) })
export type Record = z.output<typeof Record>
const Id = z.object({ id: z.string().min(1) })
const One = z.object({ record: Record })

export const ${lower(h)}Endpoints = {
  Create: { request: Record, response: One },
  Read: { request: Id, response: One },
  Update: { request: Record, response: One },
  Delete: { request: Id, response: z.object({ deleted: z.boolean() }) },
  List: { request: z.object({ limit: z.number().int().min(1).max(1000).optional() }), response: z.object({ records: z.array(Record) }) },
} as const

const PREFIX = 'records/'

export class ${h} implements SchemaHandler<typeof ${lower(h)}Endpoints> {
  constructor(private readonly store: Store) {}

  async Create(req: Record) {
    if (await this.find(req.id)) throw errors.conflict('${ctx.name}', \`record \${req.id} exists\`)
    return { record: await this.save(req) }
  }

  async Read(req: { id: string }) {
    const record = await this.find(req.id)
    if (!record) throw errors.notFound('${ctx.name}', \`record \${req.id} not found\`)
    return { record }
  }

  async Update(req: Record) {
    if (!(await this.find(req.id))) throw errors.notFound('${ctx.name}', \`record \${req.id} not found\`)
    return { record: await this.save(req) }
  }

  async Delete(req: { id: string }) {
    if (!(await this.find(req.id))) throw errors.notFound('${ctx.name}', \`record \${req.id} not found\`)
    await this.store.delete(PREFIX + req.id)
    return { deleted: true }
  }

  async List(req: { limit?: number }) {
    const found = await this.store.read(PREFIX, { prefix: true, limit: req.limit ?? 100 })
    return { records: found.map((r) => JSON.parse(Buffer.from(r.value).toString('utf8')) as Record) }
  }

  private async find(id: string): Promise<Record | undefined> {
    const [found] = await this.store.read(PREFIX + id).catch(() => [])
    return found ? (JSON.parse(Buffer.from(found.value).toString('utf8')) as Record) : undefined
  }

  private async save(record: Record): Promise<Record> {
    await this.store.write({ key: PREFIX + record.id, value: Buffer.from(JSON.stringify(record)) })
    return record
  }
}
`,
    'src/main.ts': serviceMain(
      ctx,
      `service.handle(new ${h}(service.store), { endpoints: ${lower(h)}Endpoints })\n`,
      `import { ${h}, ${lower(h)}Endpoints } from './handler.js'\n`,
    ),
    'test/handler.test.ts': `${testPreamble(ctx, `import { MicroError } from '@micro-ts/core'\nimport { ${h}, ${lower(h)}Endpoints } from '../src/handler.js'\n`, `  service.handle(new ${h}(service.store), { endpoints: ${lower(h)}Endpoints })`)}
test('create, read, update, list and delete a record', async () => {
  const c = service.client.service<typeof ${lower(h)}Endpoints>('${ctx.name}', '${h}')
  assert.deepEqual(await c.Create({ id: '1', title: 'first' }), { record: { id: '1', title: 'first', done: false } })
  assert.equal((await c.Read({ id: '1' })).record.title, 'first')
  await c.Update({ id: '1', title: 'first', done: true })
  assert.deepEqual((await c.List({})).records, [{ id: '1', title: 'first', done: true }])
  assert.deepEqual(await c.Delete({ id: '1' }), { deleted: true })
  await assert.rejects(c.Read({ id: '1' }), (e: unknown) => e instanceof MicroError && e.code === 404)
})

test('a record without a title is a 400 naming the field', async () => {
  await assert.rejects(service.client.call('${ctx.name}', '${h}.Create', { id: '2' }), (e: unknown) => e instanceof MicroError && e.code === 400 && /title/.test(e.detail))
})
`,
  }
}

function gateway(ctx: TemplateContext): Files {
  const { imports, list, defaults } = pluginImports(ctx)
  const env = defaults
  return {
    ...common(
      ctx,
      ['@micro-ts/core', '@micro-ts/gateway'],
      `The ${ctx.name} API gateway: HTTP+JSON into every service in the registry, on go-micro's routes, plus routes of its own.`,
      `curl -s localhost:8080/health\ncurl -s localhost:8080/api/<service>/<Handler>/<Method> -d '{}'`,
    ),
    'src/handler.ts': `import { createGateway, type Gateway } from '@micro-ts/gateway'
import type { MicroService } from '@micro-ts/core'

/** The gateway in front of the services \`service\`'s registry finds, with a route of its own. */
export function makeGateway(service: MicroService): Gateway {
  const gateway = createGateway({ registry: service.registry, client: service.client, broker: service.broker, store: service.store })
  gateway.route('GET', '/version', () => ({ body: { name: '${ctx.name}', version: '0.1.0' } }), 'This gateway')
  return gateway
}
`,
    'src/main.ts': `/** The ${ctx.name} gateway: \`MICRO_API_ADDRESS\` (default :8080). */
import { createService } from '@micro-ts/core'
${imports}import { makeGateway } from './handler.js'

const service = await createService({ name: '${ctx.name}', env: ${env}${ctx.plugins.length ? `, plugins: [${list}]` : ''} })
const gateway = makeGateway(service)
console.log(\`${ctx.name}: listening on http://\${await gateway.listen(process.env.MICRO_API_ADDRESS ?? ':8080')}\`)

const stop = async () => {
  await gateway.close() // refuses new requests, drains those in flight
  await service.stop()
  process.exit(0)
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
`,
    'test/handler.test.ts': `${testPreamble(
      ctx,
      `import type { Gateway } from '@micro-ts/gateway'\nimport { makeGateway } from '../src/handler.js'\n\nclass Echo {\n  async Say(req: { text: string }) {\n    return { text: req.text }\n  }\n}\nlet gateway: Gateway\nlet url = ''\n`,
      `  service.handle(new Echo())`,
      `  gateway = makeGateway(service)\n  url = \`http://\${await gateway.listen('127.0.0.1:0')}\`\n`,
    )}
test('calls a service through the gateway', async () => {
  const res = await fetch(\`\${url}/api/${ctx.name}/Echo/Say\`, { method: 'POST', body: JSON.stringify({ text: 'hi' }) })
  assert.equal(res.status, 200)
  assert.deepEqual(await res.json(), { text: 'hi' })
})

test('its own route, and errors as HTTP statuses', async () => {
  assert.deepEqual(await (await fetch(\`\${url}/version\`)).json(), { name: '${ctx.name}', version: '0.1.0' })
  const missing = await fetch(\`\${url}/api/${ctx.name}/Echo/Nope\`, { method: 'POST', body: '{}' })
  assert.equal(missing.status, 404)
})
`,
  }
}

function lower(s: string): string {
  return s[0].toLowerCase() + s.slice(1)
}

export const RENDER: Record<TemplateName, (ctx: TemplateContext) => Files> = {
  service,
  pubsub,
  crud,
  gateway,
}
