/**
 * Private etcd servers (free loopback ports, own data directories, killed and restarted by PID):
 * restarts with and without their data, outages longer than a TTL, credentials, TLS, and a
 * record too large for the client to read.
 */
import { readFileSync } from 'node:fs'
import { eventually, expectMicroError, recordingLogger, requireThat } from '@micro-ts/conformance/testing'
import { EtcdServer } from '@micro-ts/conformance/testing/etcd'
import { createPlugin } from '@micro-ts/core/plugin'
import { Etcd3 } from 'etcd3'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import plugin, { createEtcdRegistry, type EtcdRegistry, nodeKey } from '../src/index.js'
import { collect, refresher, service, serviceName, tlsFile } from './helpers.js'

const binary = requireThat(
  EtcdServer.available(),
  'the etcd binary is not installed (scripts/backends.sh etcd)',
)

describe.runIf(binary)('a private etcd: restarts, data loss, outages, credentials', () => {
  let server: EtcdServer
  let registry: EtcdRegistry | undefined

  beforeAll(async () => {
    server = await EtcdServer.start()
  })
  afterAll(async () => {
    await server?.stop()
  })
  afterEach(async () => {
    await registry?.close()
    registry = undefined
  })

  it('survives an etcd restart: the node stays registered and watches resume', async () => {
    registry = createEtcdRegistry({ addresses: [server.address], requestTimeout: 2000 })
    const name = serviceName('restart')
    await registry.register(service(name, 'n'), { ttl: 3000 })
    const refresh = refresher(registry, service(name, 'n'), 3000, 1000)
    const events = collect(registry.watch({ service: name }))
    await new Promise((res) => setTimeout(res, 300))
    await server.restart(1000)
    // Calls during recovery may fail; the registry must come back by itself.
    const [svc] = await eventually(() => registry!.getService(name), 15_000)
    expect(svc.nodes.map((n) => n.id)).toEqual(['n'])
    // Well past the TTL: the node is still there, kept alive (or re-registered) after the restart.
    await new Promise((res) => setTimeout(res, 4000))
    expect((await registry.getService(name))[0].nodes.map((n) => n.id)).toEqual(['n'])
    await registry.register(service(name, 'm'), { ttl: 3000 })
    await eventually(
      () => expect(events.some((e) => e.action === 'create' && e.service.nodes[0].id === 'm')).toBe(true),
      15_000,
    )
    refresh.stop()
  })

  it('re-registers by itself when etcd comes back empty (data lost)', async () => {
    registry = createEtcdRegistry({ addresses: [server.address], requestTimeout: 2000 })
    const name = serviceName('wipe')
    await registry.register(service(name, 'n'), { ttl: 2000 })
    const refresh = refresher(registry, service(name, 'n'), 2000, 700)
    await server.wipe(500)
    const [svc] = await eventually(() => registry!.getService(name), 20_000)
    expect(svc.nodes.map((n) => n.id)).toEqual(['n'])
    // And the new record has a live lease: it is still there after a few TTLs.
    await new Promise((res) => setTimeout(res, 5000))
    expect((await registry.getService(name))[0].nodes.map((n) => n.id)).toEqual(['n'])
    refresh.stop()
  })

  it('re-registers after etcd was down for longer than the TTL', async () => {
    registry = createEtcdRegistry({ addresses: [server.address], requestTimeout: 1000 })
    const name = serviceName('outage')
    await registry.register(service(name, 'n'), { ttl: 2000 })
    const refresh = refresher(registry, service(name, 'n'), 2000, 700)
    await server.kill()
    // Long enough for etcd3 to declare the lease lost (2×TTL without a keep-alive).
    await new Promise((res) => setTimeout(res, 6000))
    await server.start()
    const [svc] = await eventually(() => registry!.getService(name), 20_000)
    expect(svc.nodes.map((n) => n.id)).toEqual(['n'])
    await new Promise((res) => setTimeout(res, 5000))
    expect((await registry.getService(name))[0].nodes.map((n) => n.id)).toEqual(['n'])
    refresh.stop()
  })

  it('uses credentials from the address URL or ETCD_USERNAME/ETCD_PASSWORD (through the loader); wrong ones are a 401', async () => {
    const admin = new Etcd3({ hosts: server.address })
    await admin.role('root').create()
    await (await admin.user('root').create('rootpw')).addRole('root')
    await admin.auth.authEnable()
    admin.close()
    try {
      const name = serviceName('auth')
      registry = createEtcdRegistry({ addresses: [`http://root:rootpw@${server.address}`] })
      await registry.register(service(name, 'n'), { ttl: 5000 })
      expect((await registry.getService(name))[0].nodes[0].id).toBe('n')
      await registry.close()

      registry = (await createPlugin(plugin, {
        addresses: [server.address],
        env: { ETCD_USERNAME: 'root', ETCD_PASSWORD: 'rootpw' },
      })) as EtcdRegistry
      expect((await registry.getService(name))[0].nodes[0].id).toBe('n')
      await registry.close()

      registry = createEtcdRegistry({
        addresses: [`http://root:wrong@${server.address}`],
        requestTimeout: 2000,
      })
      const err = await expectMicroError(registry.getService(name))
      expect(err.code).toBe(401)

      registry = createEtcdRegistry({ addresses: [server.address], requestTimeout: 2000 })
      const anon = await expectMicroError(registry.getService(name))
      expect(anon.code).toBe(401)
      expect(anon.detail).toMatch(/requires credentials/)
    } finally {
      const root = new Etcd3({ hosts: server.address, auth: { username: 'root', password: 'rootpw' } })
      await root.auth.authDisable()
      root.close()
    }
  })
})

describe.runIf(binary)('TLS (private etcd with the fixture certificates)', () => {
  const servers: EtcdServer[] = []
  const registries: EtcdRegistry[] = []
  afterAll(async () => {
    for (const r of registries) await r.close()
    for (const s of servers) await s.stop()
  })
  async function start(options: { clientCertAuth?: boolean } = {}): Promise<EtcdServer> {
    const s = await EtcdServer.start({
      tls: {
        cert: tlsFile('server.pem'),
        key: tlsFile('server-key.pem'),
        ca: tlsFile('ca.pem'),
        ...(options.clientCertAuth
          ? {
              verifyCa: tlsFile('ca.pem'),
              clientCert: tlsFile('client.pem'),
              clientKey: tlsFile('client-key.pem'),
            }
          : {}),
      },
    })
    servers.push(s)
    return s
  }
  function open(options: Parameters<typeof createEtcdRegistry>[0]): EtcdRegistry {
    const r = createEtcdRegistry({ connectTimeout: 2000, requestTimeout: 2000, ...options })
    registries.push(r)
    return r
  }

  it('talks to an https:// endpoint with the CA given as a file or as PEM', async () => {
    const s = await start()
    const name = serviceName('tls')
    const byFile = open({ addresses: [s.url], tls: { caFile: tlsFile('ca.pem') } })
    await byFile.register(service(name, 'n'), { ttl: 5000 })
    const byPem = open({ addresses: [s.address], tls: { ca: readFileSync(tlsFile('ca.pem'), 'utf8') } })
    expect((await byPem.getService(name))[0].nodes[0].id).toBe('n')
  })

  it('a server certificate it cannot verify is an error, not a hang', async () => {
    const s = await start()
    const err = await expectMicroError(open({ addresses: [s.url] }).getService('x'))
    expect([503, 408]).toContain(err.code)
    const plain = await expectMicroError(open({ addresses: [`http://${s.address}`] }).getService('x'))
    expect([503, 408, 500]).toContain(plain.code)
  })

  it('presents a client certificate when etcd requires one', async () => {
    const s = await start({ clientCertAuth: true })
    const name = serviceName('mtls')
    const withCert = open({
      addresses: [s.url],
      tls: { caFile: tlsFile('ca.pem'), certFile: tlsFile('client.pem'), keyFile: tlsFile('client-key.pem') },
    })
    await withCert.register(service(name, 'n'), { ttl: 5000 })
    expect((await withCert.getService(name))[0].nodes[0].id).toBe('n')
    const without = open({ addresses: [s.url], tls: { caFile: tlsFile('ca.pem') } })
    expect([503, 408, 401]).toContain((await expectMicroError(without.getService(name))).code)
  })

  it('TLS material from MICRO_REGISTRY_ETCD_TLS_* through the plugin loader', async () => {
    const s = await start({ clientCertAuth: true })
    const name = serviceName('tls-env')
    const r = (await createPlugin(plugin, {
      addresses: [s.address],
      env: {
        MICRO_REGISTRY_ETCD_TLS_CA_FILE: tlsFile('ca.pem'),
        MICRO_REGISTRY_ETCD_TLS_CERT_FILE: tlsFile('client.pem'),
        MICRO_REGISTRY_ETCD_TLS_KEY: readFileSync(tlsFile('client-key.pem'), 'utf8'),
      },
    })) as EtcdRegistry
    registries.push(r)
    await r.register(service(name, 'n'), { ttl: 5000 })
    expect((await r.getService(name))[0].nodes[0].id).toBe('n')
  })
})

describe.runIf(binary)(
  "a record over the client's 4 MiB message limit (a private etcd that accepts such writes)",
  () => {
    let server: EtcdServer
    beforeAll(async () => {
      server = await EtcdServer.start({ args: ['--max-request-bytes', String(12 * 1024 * 1024)] })
    })
    afterAll(async () => {
      await server?.stop()
    })

    it('is skipped with a warning; the service is found with its other nodes, and later calls work', async () => {
      const log = recordingLogger()
      const r = createEtcdRegistry({ addresses: [server.address], logger: log, requestTimeout: 10_000 })
      try {
        const name = serviceName('huge')
        await r.register(service(name, 'small-1'))
        await r.register(service(name, 'small-2'))
        const raw = new Etcd3({ hosts: server.address })
        const huge = service(name, 'huge', { metadata: { blob: 'x'.repeat(5 * 1024 * 1024) } })
        await raw.put(nodeKey(name, 'huge')).value(JSON.stringify(huge)).exec()
        raw.close()
        const [svc] = await r.getService(name)
        expect(svc.nodes.map((n) => n.id).sort()).toEqual(['small-1', 'small-2'])
        expect(log.at('warn').map((w) => w.fields)).toContainEqual(
          expect.objectContaining({ key: nodeKey(name, 'huge') }),
        )
        expect((await r.listServices()).find((s) => s.name === name)?.nodes).toHaveLength(2)
        const other = serviceName('after-huge')
        await r.register(service(other, 'o'))
        expect((await r.getService(other))[0].nodes[0].id).toBe('o')
        await r.deregister(service(other, 'o'))
      } finally {
        await r.close()
      }
    })
  },
)

describe.runIf(binary)('ping (what /health/ready asks)', () => {
  let server: EtcdServer
  beforeAll(async () => {
    server = await EtcdServer.start()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('answers while etcd answers; a stopped or killed etcd and a closed registry are a 503', async () => {
    const r = createEtcdRegistry({ addresses: [server.address], requestTimeout: 500 })
    try {
      await r.ping()
      try {
        // SIGSTOP by PID, waiting until every thread has stopped: etcd keeps its connections and answers nothing.
        await server.suspend()
        const silent = await expectMicroError(r.ping(), 503)
        expect(silent.id).toBe('go.micro.registry')
        expect(silent.detail).toMatch(
          /^etcd registry: ping: etcd at .* did not answer: no answer within 500ms/,
        )
      } finally {
        server.resume()
      }
      await eventually(() => r.ping(), 10_000)
      await server.kill()
      await expectMicroError(r.ping(), 503)
      await server.start()
      await eventually(() => r.ping(), 10_000)
    } finally {
      await r.close()
    }
    await expectMicroError(r.ping(), 503)
  })

  it('gives up when its signal fires: 499 for a cancellation, 408 for a deadline', async () => {
    const r = createEtcdRegistry({ addresses: [server.address], requestTimeout: 10_000 })
    try {
      const aborted = new AbortController()
      aborted.abort()
      expect((await expectMicroError(r.ping(aborted.signal), 499)).id).toBe('go.micro.registry')
      try {
        // SIGSTOP by PID, waiting until every thread has stopped: etcd keeps its connections and answers nothing.
        await server.suspend()
        const cancel = new AbortController()
        const pending = r.ping(cancel.signal)
        cancel.abort()
        await expectMicroError(pending, 499)
        await expectMicroError(r.ping(AbortSignal.timeout(200)), 408)
      } finally {
        server.resume()
      }
    } finally {
      await r.close()
    }
  })
})
