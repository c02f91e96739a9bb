/**
 * Consul-specific behaviour on private agents (so killing, restarting and ACLs touch no one
 * else): go-micro's layout as the agent stores it, agent restarts under a steady call loop, ACL
 * agents, dead and hanging addresses, several agents, a blocking query whose connection drops,
 * and 1,000 nodes of one service.
 */
import { spawn } from 'node:child_process'
import net from 'node:net'
import {
  canConnect,
  deadAddress,
  eventually,
  expectMicroError,
  hasCommand,
  recordingLogger,
  requireThat,
  silentServer,
  type TestCertificates,
  testCertificates,
  uniqueName,
} from '@micro-ts/conformance/testing'
import { createService, type Service, silentLogger, type WatchEvent } from '@micro-ts/core'
import { createPlugin } from '@micro-ts/core/plugin'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import plugin, { type ConsulRegistry, createConsulRegistry, encodeTags } from '../src/index.js'
import { ConsulAgent, consulBinary } from './consul-server.js'
import { tcpProxy } from './proxy.js'

const bin = consulBinary()
const runs = requireThat(
  bin !== undefined,
  'no Consul agent binary (build it with `bash scripts/servers/consul.sh build`, or set MICRO_CONSUL_BIN)',
)

/** Registries made by a test, closed after it. */
const open: ConsulRegistry[] = []
function registry(
  addresses: string[],
  extra: Parameters<typeof createConsulRegistry>[0] = {},
): ConsulRegistry {
  const r = createConsulRegistry({ addresses, logger: silentLogger, ...extra })
  open.push(r)
  return r
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()))
})

async function agentGet<T>(agent: { address: string }, path: string, token?: string): Promise<T> {
  const res = await fetch(`http://${agent.address}${path}`, {
    headers: token ? { 'X-Consul-Token': token } : {},
  })
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`)
  return (await res.json()) as T
}

function service(name: string, id: string, port = 9000, metadata: Record<string, string> = {}): Service {
  return { name, version: '1.0.0', nodes: [{ id, address: `127.0.0.1:${port}`, metadata }] }
}

describe.runIf(runs)('consul registry on a private agent', () => {
  let agent: ConsulAgent
  beforeAll(async () => {
    agent = await ConsulAgent.start(bin!)
  }, 60_000)
  afterAll(async () => {
    await agent?.stop()
  })

  it("sends and stores go-micro's layout: id, name, address, port, tags, Meta and the TTL check", async () => {
    const p = await tcpProxy(agent.address)
    const r = registry([p.address])
    const name = uniqueName('layout')
    const s: Service = {
      name,
      version: 'v1.2.3',
      endpoints: [{ name: 'Greeter.Hello', metadata: { stream: 'false' } }],
      nodes: [
        { id: `${name}-1`, address: '127.0.0.1:4567', metadata: { protocol: 'mucp', 'bad key!': 'x' } },
      ],
    }
    await r.register(s, { ttl: 30_000 })
    const stored = await agentGet<Record<string, unknown>>(
      agent,
      `/v1/agent/service/${encodeURIComponent(`${name}-1`)}`,
    )
    expect(stored).toMatchObject({
      ID: `${name}-1`,
      Service: name,
      Address: '127.0.0.1',
      Port: 4567,
      // Consul refuses Meta keys outside [A-Za-z0-9_-]: those travel in the tags only.
      Meta: { protocol: 'mucp' },
    })
    expect([...(stored.Tags as string[])].sort()).toEqual(
      encodeTags(s.version, s.endpoints, s.nodes[0].metadata).sort(),
    )
    const checks = await agentGet<Record<string, Record<string, unknown>>>(agent, '/v1/agent/checks')
    const check = checks[`service:${name}-1`]
    expect(check).toMatchObject({ ServiceID: `${name}-1`, Status: 'passing', Type: 'ttl' })
    // The agent does not show a TTL check's definition: check what was sent.
    const sent = p.requests().find((q) => q.method === 'PUT' && q.path === '/v1/agent/service/register')
    expect(JSON.parse(sent!.body)).toMatchObject({
      ID: `${name}-1`,
      Name: name,
      Address: '127.0.0.1',
      Port: 4567,
      // go-micro's rule: max(TTL, 1m) + 5s, written as Go durations.
      Check: { TTL: '30s', DeregisterCriticalServiceAfter: '1m5s', Status: 'passing' },
    })
    // Registered again unchanged: only the TTL check is passed (go-micro's Register).
    await r.register(s, { ttl: 30_000 })
    expect(p.requests().at(-1)).toMatchObject({
      method: 'PUT',
      path: `/v1/agent/check/pass/service:${name}-1`,
    })
    await r.deregister(s)
    expect(p.requests().at(-1)).toMatchObject({
      method: 'PUT',
      path: `/v1/agent/service/deregister/${name}-1`,
    })
    await expectMicroError(r.getService(name), 404)
    await p.close()
  })

  it('a node registered without a TTL has no check and is put back when it vanished from its agent', async () => {
    const r = registry([agent.address])
    const name = uniqueName('no-ttl')
    const s = service(name, `${name}-1`)
    await r.register(s)
    const checks = await agentGet<Record<string, unknown>>(agent, '/v1/agent/checks')
    expect(Object.keys(checks).filter((k) => k.includes(name))).toEqual([])
    // Someone (an operator, a reset) removes it behind our back: the next refresh registers it again.
    await fetch(`http://${agent.address}/v1/agent/service/deregister/${encodeURIComponent(`${name}-1`)}`, {
      method: 'PUT',
    })
    await expectMicroError(r.getService(name), 404)
    await r.register(s)
    expect((await r.getService(name))[0].nodes.map((n) => n.id)).toEqual([`${name}-1`])
    await r.deregister(s)
  })

  it('a TTL check that went critical passes again when the node is registered again', async () => {
    const r = registry([agent.address])
    const name = uniqueName('revive')
    const s = service(name, `${name}-1`)
    await r.register(s, { ttl: 1_000 })
    await eventually(() => expectMicroError(r.getService(name), 404), 5_000)
    await r.register(s, { ttl: 1_000 })
    expect((await r.getService(name))[0].nodes.map((n) => n.id)).toEqual([`${name}-1`])
    await r.deregister(s)
  })

  it('getService drops a node whose check is critical but keeps one in warning (go-micro)', async () => {
    const r = registry([agent.address])
    const name = uniqueName('states')
    await r.register(service(name, `${name}-warn`, 9001), { ttl: 60_000 })
    await r.register(service(name, `${name}-crit`, 9002), { ttl: 60_000 })
    const put = (path: string) => fetch(`http://${agent.address}${path}`, { method: 'PUT' })
    await put(`/v1/agent/check/warn/service:${encodeURIComponent(`${name}-warn`)}`)
    await put(`/v1/agent/check/fail/service:${encodeURIComponent(`${name}-crit`)}`)
    await eventually(async () => {
      expect((await r.getService(name))[0].nodes.map((n) => n.id)).toEqual([`${name}-warn`])
    }, 5_000)
    await r.deregister(service(name, `${name}-warn`))
    await r.deregister(service(name, `${name}-crit`))
  })

  it('listServices carries every version found in the tags', async () => {
    const r = registry([agent.address])
    const name = uniqueName('list')
    await r.register(service(name, `${name}-1`))
    await r.register({ ...service(name, `${name}-2`), version: '2.0.0' })
    const listed = (await r.listServices()).filter((s) => s.name === name).map((s) => s.version)
    expect(listed).toEqual(['1.0.0', '2.0.0'])
    await r.deregister(service(name, `${name}-1`))
    await r.deregister(service(name, `${name}-2`))
  })

  it('bad input is a 400 and reaches no agent', async () => {
    const r = registry([agent.address])
    await expectMicroError(r.register({ name: 'x', version: '1', nodes: [] }), 400)
    await expectMicroError(r.register(service('x', 'x-1'), { ttl: -1 }), 400)
    await expectMicroError(r.register({ name: 'x', version: '1', nodes: [{ id: '', address: 'a:1' }] }), 400)
    expect(() => r.watch({ service: '' })).toThrow(/non-empty/)
    await expectMicroError(r.getService(''), 404)
  })

  it('a 1,000-node service registers, reads back whole and is watched', async () => {
    const r = registry([agent.address], { timeout: 20_000 })
    const name = uniqueName('thousand')
    const events: WatchEvent[] = []
    const watcher = r.watch({ service: name })
    void (async () => {
      for await (const e of watcher) events.push(e)
    })()
    const nodes = Array.from({ length: 1000 }, (_, i) => ({
      id: `${name}-${String(i).padStart(4, '0')}`,
      address: `127.0.0.1:${20_000 + i}`,
      metadata: { i: String(i) },
    }))
    for (let i = 0; i < nodes.length; i += 50) {
      await r.register({ name, version: '1.0.0', nodes: nodes.slice(i, i + 50) }, { ttl: 120_000 })
    }
    const [svc] = await r.getService(name)
    expect(svc.nodes.map((n) => n.id).sort()).toEqual(nodes.map((n) => n.id))
    expect(svc.nodes.find((n) => n.id === nodes[999].id)).toEqual(nodes[999])
    const seen = () => {
      const ids = new Set<string>()
      for (const e of events) for (const n of e.service.nodes) if (e.action !== 'delete') ids.add(n.id)
      return ids.size
    }
    await eventually(() => expect(seen()).toBe(1000), 20_000)
    for (let i = 0; i < nodes.length; i += 50) {
      await r.deregister({ name, version: '1.0.0', nodes: nodes.slice(i, i + 50) })
    }
    await eventually(() => expectMicroError(r.getService(name), 404), 10_000)
    watcher.stop()
  }, 300_000)
})

describe.runIf(runs)('agent restarts under a steady call loop', () => {
  for (const persistent of [false, true]) {
    const what = persistent ? 'with its state kept' : 'empty (-dev)'
    it(`no call fails and the node is back within the register interval when the agent restarts ${what}`, async () => {
      const agent = await ConsulAgent.start(bin!, { persistent, startTimeout: 60_000 })
      const name = uniqueName('restart')
      const registerInterval = 3_000
      const server = await createService({
        name,
        address: '127.0.0.1:0',
        registry: createConsulRegistry({ addresses: [agent.address], logger: silentLogger }),
        registerTtl: 10_000,
        registerInterval,
        env: {},
        logger: silentLogger,
      })
      server.handle(
        { Hello: async (req: { name: string }) => ({ greeting: `Hello ${req.name}` }) },
        { name: 'Greeter' },
      )
      const client = await createService({
        registry: createConsulRegistry({ addresses: [agent.address], logger: silentLogger }),
        env: {},
        logger: silentLogger,
      })
      const probe = registry([agent.address])
      try {
        await server.start()
        await eventually(async () => expect((await probe.getService(name))[0].nodes).toHaveLength(1), 10_000)
        let calls = 0
        const failures: unknown[] = []
        let running = true
        const loop = (async () => {
          while (running) {
            try {
              const rsp = await client.client.call<{ greeting: string }>(name, 'Greeter.Hello', {
                name: 'loop',
              })
              if (rsp.greeting !== 'Hello loop') failures.push(new Error(`answer ${JSON.stringify(rsp)}`))
            } catch (err) {
              failures.push(err)
            }
            calls++
            await new Promise((r) => setTimeout(r, 20))
          }
        })()
        await new Promise((r) => setTimeout(r, 1_000))
        await agent.restart(1_000)
        const back = Date.now()
        // The server's next refresh finds the TTL check gone (or passes it) and registers again.
        await eventually(
          async () => expect((await probe.getService(name))[0].nodes).toHaveLength(1),
          registerInterval + 2_000,
        )
        const within = Date.now() - back
        await new Promise((r) => setTimeout(r, 1_500))
        running = false
        await loop
        expect(failures.map(String)).toEqual([])
        expect(calls).toBeGreaterThan(50)
        expect(within).toBeLessThanOrEqual(registerInterval + 2_000)
      } finally {
        await server.stop().catch(() => {})
        await client.stop().catch(() => {})
        await agent.stop()
      }
    }, 120_000)
  }
})

describe.runIf(runs)('an ACL agent (default policy deny)', () => {
  const token = '5f3a0b1e-2c4d-4e6f-8a9b-0c1d2e3f4a5b'
  let agent: ConsulAgent
  beforeAll(async () => {
    agent = await ConsulAgent.start(bin!, { managementToken: token })
  }, 60_000)
  afterAll(async () => {
    await agent?.stop()
  })

  it('with the token, from the option or from CONSUL_HTTP_TOKEN through the loader, everything works', async () => {
    const name = uniqueName('acl')
    const viaOption = registry([agent.address], { token })
    await viaOption.register(service(name, `${name}-1`), { ttl: 30_000 })
    const viaEnv = (await createPlugin(plugin, {
      addresses: [agent.address],
      env: { CONSUL_HTTP_TOKEN: token },
    })) as ConsulRegistry
    open.push(viaEnv)
    expect((await viaEnv.getService(name))[0].nodes.map((n) => n.id)).toEqual([`${name}-1`])
    await viaEnv.deregister(service(name, `${name}-1`))
  })

  it('without a token: a write is a clear 403 naming the missing token, a read says the ACLs hid it', async () => {
    const name = uniqueName('acl-none')
    await registry([agent.address], { token }).register(service(name, `${name}-1`))
    const anonymous = registry([agent.address])
    const write = await expectMicroError(anonymous.register(service(name, `${name}-2`)), 403)
    expect(write.detail).toMatch(/Permission denied/i)
    expect(write.detail).toMatch(/no token given/)
    const read = await expectMicroError(anonymous.getService(name), 403)
    expect(read.detail).toMatch(
      /hides .* from anonymous reads \(ACL default policy deny\) and no token was given/,
    )
  })

  it('a wrong token is a 401 on writes and reads, not a hang', async () => {
    const wrong = registry([agent.address], { token: '00000000-1111-2222-3333-444444444444' })
    const name = uniqueName('acl-wrong')
    const write = await expectMicroError(wrong.register(service(name, `${name}-1`)), 401)
    expect(write.detail).toMatch(/does not know the token/)
    await expectMicroError(wrong.getService(name), 401)
  })
})

const openssl = requireThat(
  hasCommand('openssl', ['version']),
  'openssl (test certificates) is not installed',
)
describe.runIf(runs && openssl)('a TLS agent that verifies client certificates', () => {
  let agent: ConsulAgent
  let certs: TestCertificates
  beforeAll(async () => {
    certs = testCertificates()
    const f = certs.files
    agent = await ConsulAgent.start(bin!, {
      tls: { ca: f.ca, cert: f.cert, key: f.key, clientCert: f.clientCert, clientKey: f.clientKey },
    })
  }, 60_000)
  afterAll(async () => {
    await agent?.stop()
  })

  it('works with the CA, client certificate and key, from files or as PEM text', async () => {
    const name = uniqueName('tls')
    const f = certs.files
    const files = registry([`https://${agent.address}`], {
      tls: { caFile: f.ca, certFile: f.clientCert, keyFile: f.clientKey },
    })
    await files.register(service(name, `${name}-1`), { ttl: 30_000 })
    // A bare address with TLS material is https too.
    const pem = registry([agent.address], {
      tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
    })
    expect((await pem.getService(name))[0].nodes.map((n) => n.id)).toEqual([`${name}-1`])
    await pem.deregister(service(name, `${name}-1`))
  })

  it('without the CA, or without a client certificate, fails with a clear error', async () => {
    const noCa = registry([`https://${agent.address}`], {
      tls: { cert: certs.clientCert, key: certs.clientKey },
    })
    const untrusted = await expectMicroError(noCa.getService('x'), 503)
    expect(untrusted.detail).toMatch(/TLS with the Consul agent at .* failed/)
    const noCert = registry([`https://${agent.address}`], { tls: { ca: certs.ca } })
    const refused = await expectMicroError(noCert.getService('x'), 503)
    expect(refused.detail).toMatch(/the Consul agent at/)
    const plain = registry([`http://${agent.address}`])
    await expectMicroError(plain.getService('x'))
  })
})

describe.runIf(runs)('ping (what /health/ready asks)', () => {
  it('answers while an agent with a leader answers; a dead agent or a closed registry is a 503', async () => {
    const agent = await ConsulAgent.start(bin!)
    try {
      const r = registry([agent.address])
      await r.ping()
      await agent.kill()
      await expectMicroError(r.ping(), 503)
      await r.close()
      await expectMicroError(r.ping(), 503)
    } finally {
      await agent.stop()
    }
  })
})

describe.runIf(runs)('unreachable agents', () => {
  it('a dead address fails at once with a 503', async () => {
    const r = registry([await deadAddress()], { connectTimeout: 1_000 })
    const started = Date.now()
    const err = await expectMicroError(r.getService('anything'), 503)
    expect(err.detail).toMatch(/unreachable \(ECONNREFUSED\)/)
    expect(Date.now() - started).toBeLessThan(1_000)
  })

  it('an agent that accepts and never answers fails at the request deadline with a 408', async () => {
    const silent = await silentServer()
    try {
      const r = registry([silent.address], { timeout: 300 })
      const started = Date.now()
      const err = await expectMicroError(r.register(service('x', 'x-1')), 408)
      expect(err.detail).toMatch(/did not answer within 300 ms/)
      expect(Date.now() - started).toBeLessThan(3_000)
    } finally {
      await silent.close()
    }
  })

  const python = requireThat(
    hasCommand('python3'),
    'python3 (a listener whose backlog is full) is not installed',
  )
  it.runIf(python)('a connect that hangs fails within the dial timeout with a 408', async () => {
    // A listener that never accepts, its backlog full: further connects are never answered.
    const holder = spawn(
      'python3',
      [
        '-c',
        'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(120)',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    try {
      const port = Number(
        await new Promise<string>((resolve) =>
          holder.stdout!.once('data', (b: Buffer) => resolve(b.toString())),
        ),
      )
      const fillers: net.Socket[] = []
      for (let i = 0; i < 4; i++) {
        const s = net.connect(port, '127.0.0.1')
        s.on('error', () => {})
        fillers.push(s)
      }
      await new Promise((r) => setTimeout(r, 200))
      expect(await canConnect('127.0.0.1', port, 300)).toBe(false)
      const r = registry([`127.0.0.1:${port}`], { connectTimeout: 500, timeout: 10_000 })
      const started = Date.now()
      const err = await expectMicroError(r.getService('anything'), 408)
      expect(err.detail).toMatch(/cannot connect .* connect timed out after 500 ms/)
      expect(Date.now() - started).toBeLessThan(5_000)
      for (const s of fillers) s.destroy()
    } finally {
      holder.kill('SIGKILL')
    }
  })

  it('with several agents, the next one takes over when the first is dead', async () => {
    const agent = await ConsulAgent.start(bin!)
    try {
      const r = registry([await deadAddress(), agent.address])
      const name = uniqueName('failover')
      await r.register(service(name, `${name}-1`))
      expect((await r.getService(name))[0].nodes.map((n) => n.id)).toEqual([`${name}-1`])
      await r.deregister(service(name, `${name}-1`))
    } finally {
      await agent.stop()
    }
  }, 60_000)
})

describe.runIf(runs)('blocking queries', () => {
  let agent: ConsulAgent
  beforeAll(async () => {
    agent = await ConsulAgent.start(bin!)
  }, 60_000)
  afterAll(async () => {
    await agent?.stop()
  })

  for (const scope of ['one service', 'every service'] as const) {
    it(`a watch of ${scope} resumes after its connection is cut mid-query`, async () => {
      const p = await tcpProxy(agent.address)
      try {
        const name = uniqueName('resume')
        const direct = registry([agent.address])
        const logger = recordingLogger()
        const watched = registry([p.address], { watchWait: 30_000, resyncGrace: 1_000, logger })
        const events: WatchEvent[] = []
        const watcher = watched.watch(scope === 'one service' ? { service: name } : {})
        void (async () => {
          for await (const e of watcher) events.push(e)
        })()
        const has = (id: string, action?: string) =>
          events.some(
            (e) =>
              (action ? e.action === action : e.action !== 'delete') &&
              e.service.nodes.some((n) => n.id === id),
          )
        await direct.register(service(name, `${name}-1`, 9001))
        await eventually(() => expect(has(`${name}-1`)).toBe(true), 5_000)
        // Past the pause between queries: every watch is inside a blocking query now. Cut them all.
        await new Promise((r) => setTimeout(r, 600))
        const before = p.accepted()
        p.cut()
        await eventually(
          () =>
            expect(
              logger
                .at('warn')
                .map((l) => l.msg)
                .join('\n'),
            ).toMatch(/watch of .* failed; retrying/),
          5_000,
        )
        await direct.register(service(name, `${name}-2`, 9002))
        await eventually(() => expect(has(`${name}-2`)).toBe(true), 10_000)
        expect(p.accepted()).toBeGreaterThan(before)
        // A node that really left is reported once the grace after the failure is over.
        await direct.deregister(service(name, `${name}-1`))
        await eventually(() => expect(has(`${name}-1`, 'delete')).toBe(true), 10_000)
        watcher.stop()
        await direct.deregister(service(name, `${name}-2`))
      } finally {
        await p.close()
      }
    }, 60_000)
  }

  it('after the agent restarts empty, a watch keeps unseen nodes for resyncGrace, then reports them deleted', async () => {
    const own = await ConsulAgent.start(bin!)
    try {
      const name = uniqueName('grace')
      const writer = registry([own.address])
      await writer.register(service(name, `${name}-1`), { ttl: 60_000 })
      const follow = (grace: number) => {
        const events: WatchEvent[] = []
        const w = registry([own.address], { resyncGrace: grace }).watch({ service: name })
        void (async () => {
          for await (const e of w) events.push(e)
        })()
        return events
      }
      const patient = follow(3_000)
      const eager = follow(0)
      for (const events of [patient, eager]) {
        await eventually(() => expect(events.map((e) => e.action)).toEqual(['create']), 5_000)
      }
      await own.restart(500)
      const back = Date.now()
      // Nobody registers the node again: the eager watch reports it gone as soon as it resyncs...
      await eventually(() => expect(eager.map((e) => e.action)).toEqual(['create', 'delete']), 10_000)
      // ...the patient one only once its grace is over.
      expect(patient.map((e) => e.action)).toEqual(['create'])
      await eventually(() => expect(patient.map((e) => e.action)).toEqual(['create', 'delete']), 10_000)
      expect(Date.now() - back).toBeGreaterThanOrEqual(3_000)
    } finally {
      await own.stop()
    }
  }, 60_000)

  it('a watch keeps retrying while the agent is down and carries on when it is back', async () => {
    const own = await ConsulAgent.start(bin!)
    try {
      const name = uniqueName('down')
      const r = registry([own.address], { resyncGrace: 0 })
      const events: WatchEvent[] = []
      const watcher = r.watch({ service: name })
      void (async () => {
        for await (const e of watcher) events.push(e)
      })()
      await own.kill()
      await new Promise((res) => setTimeout(res, 1_500))
      await own.start()
      await r.register(service(name, `${name}-1`))
      await eventually(() => expect(events.map((e) => e.action)).toContain('create'), 10_000)
      watcher.stop()
    } finally {
      await own.stop()
    }
  }, 60_000)
})
