/** What every template shares: package.json, tsconfig, Dockerfile, README, the plugin table. */

export type TemplateName = 'service' | 'pubsub' | 'crud' | 'gateway'
export const TEMPLATES: readonly TemplateName[] = ['service', 'pubsub', 'crud', 'gateway']

export interface PluginChoice {
  kind: 'registry' | 'broker' | 'store' | 'transport'
  name: string
  pkg: string
  /** The import name in the generated code. */
  ident: string
  /** Where it listens on a developer machine (the variable the README and Dockerfile set). */
  address: string
}

/** `--plugins etcd,nats,postgres`: each short name and the package that provides it. */
export const PLUGINS: Record<string, Omit<PluginChoice, 'name'>> = {
  etcd: {
    kind: 'registry',
    pkg: '@micro-ts/registry-etcd',
    ident: 'etcdRegistry',
    address: '127.0.0.1:2379',
  },
  consul: {
    kind: 'registry',
    pkg: '@micro-ts/registry-consul',
    ident: 'consulRegistry',
    address: '127.0.0.1:8500',
  },
  kubernetes: {
    kind: 'registry',
    pkg: '@micro-ts/registry-kubernetes',
    ident: 'kubernetesRegistry',
    address: '',
  },
  nats: { kind: 'broker', pkg: '@micro-ts/broker-nats', ident: 'natsBroker', address: '127.0.0.1:4222' },
  rabbitmq: {
    kind: 'broker',
    pkg: '@micro-ts/broker-rabbitmq',
    ident: 'rabbitmqBroker',
    address: 'amqp://guest:guest@127.0.0.1:5672',
  },
  postgres: {
    kind: 'store',
    pkg: '@micro-ts/store-postgres',
    ident: 'postgresStore',
    address: 'postgresql://postgres@127.0.0.1:5432/postgres',
  },
  mysql: {
    kind: 'store',
    pkg: '@micro-ts/store-mysql',
    ident: 'mysqlStore',
    address: 'mysql://root@127.0.0.1:3306/micro',
  },
  redis: {
    kind: 'store',
    pkg: '@micro-ts/store-redis',
    ident: 'redisStore',
    address: 'redis://127.0.0.1:6379',
  },
  grpc: { kind: 'transport', pkg: '@micro-ts/transport-grpc', ident: 'grpcTransport', address: '' },
}

export interface TemplateContext {
  /** The service name (`hello`, `orders.api`). */
  name: string
  /** The handler class (`Hello`), from the name's last part. */
  handler: string
  plugins: PluginChoice[]
  /** Exact versions of every dependency the package gets. */
  versions: Record<string, string>
}

export type Files = Record<string, string>

const ENV_OF = {
  registry: 'MICRO_REGISTRY',
  broker: 'MICRO_BROKER',
  store: 'MICRO_STORE',
  transport: 'MICRO_TRANSPORT',
} as const

/** `MICRO_REGISTRY=etcd` and its address for each chosen plugin: what the service defaults to. */
export function pluginEnv(plugins: readonly PluginChoice[]): [string, string][] {
  const out: [string, string][] = []
  for (const p of plugins) {
    out.push([ENV_OF[p.kind], p.name])
    if (p.address) out.push([`${ENV_OF[p.kind]}_ADDRESS`, p.address])
  }
  return out
}

export function packageJson(ctx: TemplateContext, deps: readonly string[], description: string): string {
  const v = (n: string) => ctx.versions[n]
  const dependencies: Record<string, string> = {}
  for (const d of [...deps, ...ctx.plugins.map((p) => p.pkg)].sort()) dependencies[d] = v(d)
  return `${JSON.stringify(
    {
      name: ctx.name,
      version: '0.1.0',
      private: true,
      description,
      type: 'module',
      engines: { node: '>=20.19.0' },
      scripts: {
        build: 'tsc -p tsconfig.json',
        start: 'node dist/main.js',
        dev: 'micro run .',
        test: 'node --import tsx --test test/handler.test.ts',
      },
      micro: { entry: 'src/main.ts' },
      dependencies,
      devDependencies: {
        '@micro-ts/cli': v('@micro-ts/cli'),
        '@types/node': v('@types/node'),
        tsx: v('tsx'),
        typescript: v('typescript'),
      },
    },
    null,
    2,
  )}\n`
}

export const TSCONFIG = `${JSON.stringify(
  {
    compilerOptions: {
      target: 'ES2023',
      lib: ['ES2023'],
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      skipLibCheck: true,
      outDir: 'dist',
      rootDir: 'src',
      sourceMap: true,
      types: ['node'],
    },
    include: ['src'],
  },
  null,
  2,
)}\n`

export function dockerfile(ctx: TemplateContext, port = 8080): string {
  const env = [
    ['NODE_ENV', 'production'],
    ['MICRO_SERVER_ADDRESS', `0.0.0.0:${port}`],
    ...pluginEnv(ctx.plugins),
  ]
  return `# ${ctx.name}: build stage compiles the TypeScript, run stage holds dist/ and the production dependencies.
#   docker build -t ${ctx.name}:0.1.0 .
FROM node:20-slim AS build
WORKDIR /app
COPY package*.json ./
RUN npm install
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-slim
${env.map(([k, val]) => `ENV ${k}=${val}`).join('\n')}
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE ${port}
# SIGTERM reaches node directly: the service deregisters and drains its calls before it exits.
CMD ["node", "--enable-source-maps", "dist/main.js"]
`
}

export const DOCKERIGNORE = 'node_modules\ndist\n'
export const GITIGNORE = 'node_modules\ndist\n'

/** `import etcdRegistry from '@micro-ts/registry-etcd'` lines and the `plugins: [...]` list. */
export function pluginImports(ctx: TemplateContext): { imports: string; list: string; defaults: string } {
  const imports = ctx.plugins.map((p) => `import ${p.ident} from '${p.pkg}'\n`).join('')
  const list = ctx.plugins.map((p) => p.ident).join(', ')
  const env = pluginEnv(ctx.plugins)
  const pairs = env.map(([k, v]) => `${k}: '${v}'`).join(', ')
  const defaults = env.length ? `{ ${pairs}, ...process.env }` : 'process.env'
  return { imports, list, defaults }
}

/** The start of every main.ts: the plugins handed over, and the environment they default to. */
export function serviceMain(ctx: TemplateContext, body: string, extraImports = ''): string {
  const { imports, list, defaults } = pluginImports(ctx)
  const env = ctx.plugins.length
    ? `\n// The plugins chosen with \`micro new --plugins\` are the defaults; MICRO_* variables (or micro's
// flags) still choose others. Handing them over in code lets a bundle (esbuild) find them.
const env = ${defaults}\n`
    : ''
  const options = ctx.plugins.length ? `, env, plugins: [${list}]` : ''
  return `/** The ${ctx.name} service: \`micro run .\` in development, \`npm run build && npm start\` in production. */
import { createService } from '@micro-ts/core'
${imports}${extraImports}${env}
const service = await createService({ name: '${ctx.name}', version: '0.1.0'${options} })
${body}
// Registers, serves, and on SIGTERM/SIGINT deregisters and drains the calls in flight.
await service.run()
`
}

/** The part of every test that starts the service in-process on the embedded memory components. */
export function testPreamble(ctx: TemplateContext, imports: string, setup: string, afterStart = ''): string {
  return `import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createService, type MicroService } from '@micro-ts/core'
${imports}
// In-process on core's memory registry, broker and store and a loopback port: no backend needed,
// whatever the service runs on in production.
const env = {
  MICRO_REGISTRY: 'memory',
  MICRO_BROKER: 'memory',
  MICRO_STORE: 'memory',
  MICRO_SERVER_ADDRESS: '127.0.0.1:0',
  MICRO_LOG_LEVEL: 'error',
}
let service: MicroService

before(async () => {
  service = await createService({ name: '${ctx.name}', env })
${setup}
  await service.start()
${afterStart}})

after(async () => {
${afterStart ? '  await gateway.close()\n' : ''}  await service.stop()
})
`
}

export function readme(ctx: TemplateContext, what: string, call: string): string {
  const env = pluginEnv(ctx.plugins)
  const flags = ctx.plugins.map((p) => `--${p.kind} ${p.name}`).join(' ')
  return `# ${ctx.name}

${what}

Made with \`micro new\` (Micro for TypeScript).

\`\`\`sh
npm install
npm test                 # in-process, on the embedded memory components
micro run .${flags ? ` ${flags}` : ''}             # runs src/main.ts as is, restarts on change, gateway on :8080
${call}
npm run build && npm start
\`\`\`

${env.length ? `It defaults to ${env.map(([k, v]) => `\`${k}=${v}\``).join(', ')}; any MICRO_* variable overrides it.` : 'It runs on the embedded defaults (mDNS registry, HTTP broker and transport, memory store); MICRO_* variables choose others.'}
The request and response schemas in \`src/handler.ts\` are checked before the handler runs (a 400
naming the field), published in the registry (\`micro describe ${ctx.name}\`), and typed clients are
made from them (\`client.service<typeof ...Endpoints>('${ctx.name}', '${ctx.handler}')\`).

\`docker build -t ${ctx.name} .\` builds an image that runs \`dist/main.js\` as the unprivileged \`node\` user.
`
}
