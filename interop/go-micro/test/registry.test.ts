/**
 * The registry record each side writes is read by the other — name, version, node id, address
 * and metadata, endpoints with their request/response types — through mDNS and through etcd;
 * and each side's watcher sees the other's nodes come and go.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type EnvKind, lacks, prepareEnv } from './envs.js'
import { type Proc, run, runTag, type Side, start } from './harness.js'

const kinds: EnvKind[] = ['mdns', 'etcd']
const missing = Object.fromEntries(await Promise.all(kinds.map(async (k) => [k, await lacks(k)] as const)))
const directions: [writer: Side, reader: Side][] = [
  ['go', 'ts'],
  ['ts', 'go'],
]

interface Value {
  name: string
  type: string
  values?: Value[] | null
}
interface Endpoint {
  name: string
  request?: Value | null
  response?: Value | null
  metadata?: Record<string, string> | null
}
interface Service {
  name: string
  version: string
  metadata?: Record<string, string> | null
  endpoints?: Endpoint[] | null
  nodes: { id: string; address: string; metadata?: Record<string, string> | null }[] | null
}

/** Go writes `values: null` for leaves where we may omit the field: compare the trees without it. */
function shape(v: Value | null | undefined): unknown {
  if (!v) return undefined
  return { name: v.name, type: v.type, ...(v.values?.length ? { values: v.values.map(shape) } : {}) }
}

const helloRequest = {
  name: 'HelloRequest',
  type: 'HelloRequest',
  values: [{ name: 'name', type: 'string' }],
}
const helloResponse = {
  name: 'HelloResponse',
  type: 'HelloResponse',
  values: [{ name: 'greeting', type: 'string' }],
}

for (const kind of kinds) {
  describe(`registry ${kind}`, () => {
    const env = prepareEnv(kind, missing[kind])
    if (!env) return

    for (const [writer, reader] of directions) {
      describe(`${writer} registers, ${reader} reads`, () => {
        const name = `greeter-${writer}-${runTag()}`
        let greeter: Proc
        let ready: { id: string; address: string; version: string }
        let watcher: Proc
        beforeAll(async () => {
          // Watch first, so the watcher sees the node arrive.
          watcher = start(reader, 'registry-dump', ['--watch', name], env.place, env.vars)
          await watcher.waitFor((l) => l.ready === true)
          // Neither go-micro's Watch nor ours says when the watch is in place (an etcd watch
          // request, joining the mDNS group): give it a moment before the node appears.
          await new Promise((r) => setTimeout(r, 1_000))
          greeter = start(writer, 'greeter', ['--name', name, '--version', '1.0.0'], env.place, env.vars)
          ready = await greeter.waitFor<typeof ready & { ready?: boolean }>((l) => l.ready === true)
        }, 30_000)
        afterAll(async () => {
          await greeter?.stop()
          await watcher?.stop()
        })

        it('getService returns the record with name, version, node id, address and metadata', async () => {
          const r = await run(reader, 'registry-dump', ['--wait', '10s', name], env.place, env.vars)
          expect(r.code, r.stderr).toBe(0)
          const services = r.lines[0] as Service[]
          expect(services).toHaveLength(1)
          const [svc] = services
          expect(svc.name).toBe(name)
          expect(svc.version).toBe('1.0.0')
          expect(svc.nodes).toHaveLength(1)
          const node = svc.nodes![0]
          expect(node.id).toBe(ready.id)
          expect(node.address).toBe(ready.address)
          // go-micro keeps server metadata on the node (the only metadata mDNS carries).
          expect(node.metadata).toMatchObject({ lang: writer, protocol: 'mucp', transport: 'http' })
        })

        it('endpoints keep their request and response types', async () => {
          const r = await run(reader, 'registry-dump', ['--wait', '10s', name], env.place, env.vars)
          const [svc] = r.lines[0] as Service[]
          const byName = new Map((svc.endpoints ?? []).map((e) => [e.name, e]))
          expect([...byName.keys()]).toEqual(
            expect.arrayContaining(['Greeter.Hello', 'Greeter.Fail', 'Greeter.Slow', 'Greeter.Stream']),
          )
          const hello = byName.get('Greeter.Hello')!
          expect(shape(hello.request ?? undefined)).toEqual(helloRequest)
          expect(shape(hello.response ?? undefined)).toEqual(helloResponse)
          expect(byName.get('Greeter.Stream')!.metadata).toMatchObject({ stream: 'true' })
        })

        it('listServices includes it', async () => {
          const r = await run(reader, 'registry-dump', ['--list'], env.place, env.vars)
          expect(r.code, r.stderr).toBe(0)
          expect((r.lines[0] as Service[]).map((s) => s.name)).toContain(name)
        })

        it('a watcher sees the node created, then deleted when the service stops', async () => {
          const isNode = (l: Record<string, unknown>, action: string) => {
            const svc = l.service as Service | undefined
            return (
              l.action === action && svc?.name === name && (svc.nodes ?? []).some((n) => n.id === ready.id)
            )
          }
          await watcher.waitFor((l) => isNode(l, 'create'))
          await greeter.stop()
          await watcher.waitFor((l) => isNode(l, 'delete'))
          const gone = await run(reader, 'registry-dump', [name], env.place, env.vars)
          expect(gone.code).toBe(1)
        })
      })
    }
  })
}
