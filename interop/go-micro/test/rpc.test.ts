/**
 * RPC with the JSON codec, TypeScript ↔ go-micro, over go-micro's HTTP transport and over its
 * gRPC transport (`go-micro.dev/v5/transport/grpc`, ours `@micro-ts/transport-grpc`), with
 * discovery through mDNS (in a private network namespace) and through etcd: calls, errors,
 * streams, deadlines.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { type EnvKind, lacks, prepareEnv, type TransportKind } from './envs.js'
import { GrpcCapture, type Proc, run, runTag, type Side, start } from './harness.js'

const kinds: EnvKind[] = ['mdns', 'etcd']
const transports: [TransportKind, string][] = [
  ['http', 'HTTP'],
  ['grpc', 'gRPC'],
]
const missing = Object.fromEntries(await Promise.all(kinds.map(async (k) => [k, await lacks(k)] as const)))
const directions: [client: Side, server: Side][] = [
  ['go', 'ts'],
  ['ts', 'go'],
]

interface ErrorLine {
  id?: string
  code?: number
  detail?: string
  status?: string
}

for (const [transport, transportName] of transports)
  for (const kind of kinds) {
    describe(`RPC over ${transportName}, registry ${kind}`, () => {
      const env = prepareEnv(kind, missing[kind], transport)
      if (!env) return

      for (const [client, server] of directions) {
        describe(`${client} client → ${server} greeter`, () => {
          const name = `greeter-${server}-${runTag()}`
          let greeter: Proc
          beforeAll(async () => {
            greeter = start(server, 'greeter', ['--name', name], env.place, env.vars)
            await greeter.waitFor((l) => l.ready === true)
          }, 30_000)
          afterAll(() => greeter?.stop())

          const call = (args: string[]) => run(client, 'client', args, env.place, env.vars)

          it(`the greeter serves on ${transportName}: its registered node says transport=${transport}`, async () => {
            const r = await run(client, 'registry-dump', ['--wait', '10s', name], env.place, env.vars)
            const [svc] = r.lines[0] as { nodes: { metadata: Record<string, string> }[] }[]
            expect(svc?.nodes?.[0]?.metadata, r.stderr).toMatchObject({ transport })
          })

          it('Greeter.Hello answers Hello John', async () => {
            const r = await call([name, 'Greeter.Hello', '{"name":"John"}'])
            expect(r.lines, r.stderr).toEqual([{ greeting: 'Hello John' }])
            expect(r.code).toBe(0)
          })

          it('reuses its connection for several calls', async () => {
            const r = await call(['--n', '3', name, 'Greeter.Hello', '{"name":"Ann"}'])
            expect(r.lines, r.stderr).toEqual([
              { greeting: 'Hello Ann' },
              { greeting: 'Hello Ann' },
              { greeting: 'Hello Ann' },
            ])
          })

          it("a handler's BadRequest reaches the caller with the same id, code, detail and status", async () => {
            const r = await call([name, 'Greeter.Fail', '{"name":"John"}'])
            expect(r.code, r.stderr).toBe(1)
            expect(r.lines).toEqual([
              { id: 'greeter.fail', code: 400, detail: 'bad name John', status: 'Bad Request' },
            ])
          })

          it('an unknown endpoint is an error naming it, not a hang', async () => {
            const r = await call(['--retries', '0', name, 'Greeter.Nope', '{}'])
            expect(r.code, r.stderr).toBe(1)
            expect((r.lines[0] as ErrorLine).detail).toContain('Nope')
          })

          it('a stream carries messages both ways (one reply per message)', async () => {
            const r = await call([
              '--stream',
              name,
              'Greeter.Stream',
              '[{"name":"a"},{"name":"b"},{"name":"c"}]',
            ])
            expect(r.lines, r.stderr).toEqual([
              { greeting: 'Hello a' },
              { greeting: 'Hello b' },
              { greeting: 'Hello c' },
            ])
            expect(r.code).toBe(0)
          })

          it('a stream handler error ends the stream and reaches the caller', async () => {
            const r = await call(['--stream', name, 'Greeter.Stream', '[{"name":"a"},{"name":"fail"}]'])
            expect(r.lines, r.stderr).toEqual([
              { greeting: 'Hello a' },
              { id: 'greeter.stream', code: 400, detail: 'bad name fail', status: 'Bad Request' },
            ])
            expect(r.code).toBe(1)
          })

          if (server === 'ts') {
            // A Go handler cannot send several messages in a row (go-micro bug, see README); ours can.
            it('a server sends several messages for one request', async () => {
              const r = await call(['--stream', '--recv', '3', name, 'Greeter.Stream', '[{"count":3}]'])
              expect(r.lines, r.stderr).toEqual([
                { greeting: 'Hello 1' },
                { greeting: 'Hello 2' },
                { greeting: 'Hello 3' },
              ])
            })
          }

          if (client === 'ts') {
            it('a 200 ms deadline on a slow handler fails with 408 in about 200 ms', async () => {
              const r = await call([
                '--timeout',
                '200ms',
                '--retries',
                '0',
                '--timing',
                name,
                'Greeter.Slow',
                '{"ms":3000}',
              ])
              expect(r.code, r.stderr).toBe(1)
              const [err, timing] = r.lines as [ErrorLine, { elapsed_ms: number }]
              expect(err.code).toBe(408)
              expect(err.status).toBe('Request Timeout')
              // Functional bound, not a benchmark: the handler sleeps 3 s, the deadline is 200 ms.
              expect(timing.elapsed_ms).toBeGreaterThanOrEqual(190)
              expect(timing.elapsed_ms).toBeLessThan(2_000)
            })

            it('the deadline travels to the server in the Timeout header', async () => {
              const r = await call(['--timeout', '2s', name, 'Greeter.Slow', '{"ms":1}'])
              const rsp = r.lines[0] as { slept_ms: number; deadline_ms: number }
              expect(rsp.slept_ms, r.stderr).toBe(1)
              expect(rsp.deadline_ms).toBeGreaterThan(1_000)
              expect(rsp.deadline_ms).toBeLessThanOrEqual(2_000)
            })
          } else {
            it("a go-micro client's Timeout header (its 5 s connection timeout, in ns) becomes our handler's deadline", async () => {
              const r = await call([name, 'Greeter.Slow', '{"ms":1}'])
              const rsp = r.lines[0] as { slept_ms: number; deadline_ms: number }
              expect(rsp.slept_ms, r.stderr).toBe(1)
              expect(rsp.deadline_ms).toBeGreaterThan(4_000)
              expect(rsp.deadline_ms).toBeLessThanOrEqual(5_000)
            })

            it('a go-micro client with a 200 ms timeout gets its 408 from our slow handler', async () => {
              const r = await call([
                '--timeout',
                '200ms',
                '--retries',
                '0',
                name,
                'Greeter.Slow',
                '{"ms":3000}',
              ])
              expect(r.code, r.stderr).toBe(1)
              expect(r.lines).toEqual([
                {
                  id: 'go.micro.client',
                  code: 408,
                  detail: 'call timeout: context deadline exceeded',
                  status: 'Request Timeout',
                },
              ])
            })
          }
        })
      }
    })
  }

/**
 * What each client puts on go-micro's gRPC transport, seen by a capture server of the test's own
 * (raw grpc-js, no code of ours on the receiving end): the two must send the same messages.
 * On the host with etcd for the programs' own start-up (the calls go to `--address`).
 */
describe('gRPC transport wire: what a go-micro client and ours send', () => {
  const env = prepareEnv('etcd', missing.etcd, 'grpc')
  if (!env) return
  const capture = async () => {
    const cap = await GrpcCapture.start()
    onTestFinished(() => cap.stop())
    return cap
  }
  const request = {
    'Content-Type': 'application/json',
    Accept: 'application/json',
    'Micro-Service': 'capsvc',
    'Micro-Endpoint': 'Greeter.Hello',
    'Micro-Method': 'Greeter.Hello',
  }

  it('a unary call is one Message with the same header keys, exact case', async () => {
    const cap = await capture()
    for (const side of ['go', 'ts'] as Side[]) {
      const r = await run(
        side,
        'client',
        ['--address', cap.address, '--retries', '0', 'capsvc', 'Greeter.Hello', '{"name":"John"}'],
        env.place,
        env.vars,
      )
      expect(r.lines, r.stderr).toEqual([{ greeting: 'Hello cap' }])
    }
    expect(cap.calls).toHaveLength(2)
    const [go, ts] = cap.calls
    // No gRPC deadline: the deadline is the Timeout header, in ns (go-micro: its 5 s connection timeout).
    expect(go.metadata['user-agent']).toMatch(/^grpc-go\//)
    for (const c of cap.calls) expect(c.metadata['grpc-timeout']).toBeUndefined()
    expect(go.messages).toEqual([
      {
        header: { ...request, 'Micro-ID': '0', Timeout: '5000000000' },
        body: '{"name":"John"}\n',
      },
    ])
    expect(ts.messages).toHaveLength(1)
    const [m] = ts.messages
    expect(m.header).toEqual({
      ...request,
      'Micro-ID': expect.stringMatching(/^[0-9a-f-]{36}$/),
      Timeout: expect.stringMatching(/^\d+$/),
    })
    // Ours sends what is left of its deadline (30 s by default).
    expect(Number(m.header.Timeout)).toBeGreaterThan(1e9)
    expect(Number(m.header.Timeout)).toBeLessThanOrEqual(30e9)
    expect(JSON.parse(m.body)).toEqual({ name: 'John' })
  })

  it('a stream is a call of its own: an opening message, then one per send, all with Micro-Stream', async () => {
    const cap = await capture()
    for (const side of ['go', 'ts'] as Side[]) {
      const r = await run(
        side,
        'client',
        ['--stream', '--address', cap.address, 'capsvc', 'Greeter.Stream', '[{"name":"a"}]'],
        env.place,
        env.vars,
      )
      // The capture server answers the opening message too; the client reads one reply.
      expect(r.lines, r.stderr).toEqual([{ greeting: 'Hello cap' }])
    }
    await expect.poll(() => cap.calls.every((c) => c.ended !== undefined)).toBe(true)
    const [go, ts] = cap.calls
    const stream = { ...request, 'Micro-Endpoint': 'Greeter.Stream', 'Micro-Method': 'Greeter.Stream' }
    // go-micro: the opening message (body `{}`, discarded by the server), the message, then EOS
    // on Close(), which then drops the connection.
    expect(go.messages).toEqual([
      { header: { ...stream, 'Micro-ID': '0', 'Micro-Stream': '0' }, body: '{}\n' },
      { header: { ...stream, 'Micro-ID': '0', 'Micro-Stream': '0' }, body: '{"name":"a"}\n' },
      {
        header: { ...stream, 'Micro-ID': '0', 'Micro-Stream': '0', 'Micro-Error': 'EOS' },
        body: '',
      },
    ])
    // Ours: the same opening (empty body) and message; the EOS of close() may be cut off by the
    // cancel that follows it (README, gRPC wire notes), so it is not asserted.
    const id = ts.messages[0]?.header['Micro-Stream']
    expect(id).toMatch(/^[0-9a-f-]{36}$/)
    expect(ts.messages.slice(0, 2)).toEqual([
      { header: { ...stream, 'Micro-ID': expect.any(String), 'Micro-Stream': id }, body: '' },
      { header: { ...stream, 'Micro-ID': expect.any(String), 'Micro-Stream': id }, body: '{"name":"a"}' },
    ])
  })
})
