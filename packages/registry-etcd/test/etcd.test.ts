/**
 * etcd-specific behaviour against real etcd servers: go-micro's key layout and record JSON,
 * leases and keep-alive, skipped re-registrations, watch events, re-registration after a lost
 * lease, server restarts (with and without their data), credentials and bad addresses.
 */
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isMicroError, MicroError, type Service, silentLogger, type WatchEvent } from '@micro-ts/core'
import { Etcd3 } from 'etcd3'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import plugin, { createEtcdRegistry, type EtcdRegistry, nodeKey, PREFIX } from '../src/index.js'
import { parseAddress, resolveOptions } from '../src/options.js'
import {
  canConnect,
  EtcdServer,
  eventually,
  hasEtcdBinary,
  requireBackend,
  SHARED_ADDRESS,
  tlsFile,
} from './etcd-server.js'

const sharedUp = requireBackend(
  await canConnect(SHARED_ADDRESS),
  `etcd is not reachable at ${SHARED_ADDRESS}`,
)
const binary = requireBackend(
  hasEtcdBinary(),
  'the etcd binary is not installed (apt-get install etcd-server)',
)

/** A name no other run uses, with characters etcd keys and go-micro names allow. */
function uniqueName(tag: string): string {
  return `test.etcd.${tag}.${randomUUID().slice(0, 8)}`
}

function service(name: string, nodeId = `${name}-1`, extra: Partial<Service> = {}): Service {
  return {
    name,
    version: '1.0.0',
    metadata: { team: 'a' },
    endpoints: [{ name: 'Greeter.Hello', request: { name: 'Request', type: 'Request' }, metadata: {} }],
    nodes: [{ id: nodeId, address: '127.0.0.1:9000', metadata: { protocol: 'mucp' } }],
    ...extra,
  }
}

async function rejection(p: Promise<unknown>): Promise<MicroError> {
  try {
    await p
  } catch (err) {
    expect(isMicroError(err), `expected a MicroError, got ${String(err)}`).toBe(true)
    return err as MicroError
  }
  throw new Error('expected a rejection')
}

const pause = (ms: number) => new Promise((res) => setTimeout(res, ms))

/** Register `s` again every `every` ms, as a server's register interval does (failures ignored). */
function refresher(r: EtcdRegistry, s: Service, ttl: number, every: number): { stop(): void } {
  const timer = setInterval(() => r.register(s, { ttl }).catch(() => {}), every)
  refreshers.push(timer)
  return { stop: () => clearInterval(timer) }
}
const refreshers: NodeJS.Timeout[] = []
afterEach(() => {
  for (const t of refreshers.splice(0)) clearInterval(t)
})

/** Collect watch events in the background. */
function collect(watcher: AsyncIterable<WatchEvent>): WatchEvent[] {
  const events: WatchEvent[] = []
  ;(async () => {
    for await (const e of watcher) events.push(e)
  })()
  return events
}

describe('options', () => {
  it('parses go-micro style and URL addresses', () => {
    expect(parseAddress('127.0.0.1').host).toBe('http://127.0.0.1:2379')
    expect(parseAddress('etcd.internal:2380').host).toBe('http://etcd.internal:2380')
    expect(parseAddress('[::1]:2379').host).toBe('http://[::1]:2379')
    expect(parseAddress('https://etcd:443').host).toBe('https://etcd:443')
    expect(parseAddress('http://etcd:80').host).toBe('http://etcd:80')
    const withAuth = parseAddress('http://bob:p%40ss@etcd:2379')
    expect(withAuth).toEqual({ host: 'http://etcd:2379', secure: false, username: 'bob', password: 'p@ss' })
    expect(parseAddress('etcd:2379', true).host).toBe('https://etcd:2379')
  })

  it('rejects malformed addresses with a 400', () => {
    for (const bad of ['http://', 'ftp://etcd:21', 'http://etcd:2379/path', 'etcd:notaport']) {
      let err: unknown
      try {
        parseAddress(bad)
      } catch (e) {
        err = e
      }
      expect(err, bad).toBeInstanceOf(MicroError)
      expect((err as MicroError).code, bad).toBe(400)
    }
  })

  it('takes addresses from MICRO_REGISTRY_ADDRESS and credentials from the URL or ETCD_USERNAME/PASSWORD', () => {
    expect(resolveOptions({}, {}).hosts).toEqual(['http://127.0.0.1:2379'])
    expect(resolveOptions({}, { MICRO_REGISTRY_ADDRESS: 'a:1, b' }).hosts).toEqual([
      'http://a:1',
      'http://b:2379',
    ])
    expect(resolveOptions({ addresses: ['c:3'] }, { MICRO_REGISTRY_ADDRESS: 'a:1' }).hosts).toEqual([
      'http://c:3',
    ])
    expect(resolveOptions({}, { ETCD_USERNAME: 'u', ETCD_PASSWORD: 'p' }).auth).toEqual({
      username: 'u',
      password: 'p',
    })
    expect(
      resolveOptions({ addresses: ['http://x:y@h:1'] }, { ETCD_USERNAME: 'u', ETCD_PASSWORD: 'p' }).auth,
    ).toEqual({
      username: 'x',
      password: 'y',
    })
    expect(resolveOptions({ username: 'o', password: 'q', addresses: ['http://x:y@h:1'] }, {}).auth).toEqual({
      username: 'o',
      password: 'q',
    })
    expect(resolveOptions({ addresses: ['https://h:1'] }, {}).tls).toEqual({})
    expect(() => resolveOptions({ addresses: ['https://h:1', 'http://g:1'] }, {})).toThrow(/mix/)
    expect(() => resolveOptions({ timeout: -1 }, {})).toThrow(MicroError)
  })

  it('maps names to go-micro keys, replacing "/" with "-"', () => {
    expect(nodeKey('greeter', 'greeter-1')).toBe('/micro/registry/greeter/greeter-1')
    expect(nodeKey('go.micro/srv', 'a/b')).toBe('/micro/registry/go.micro-srv/a-b')
  })

  it('the plugin rejects unknown options and builds a registry from the loader context', async () => {
    expect(plugin.kind).toBe('registry')
    expect(plugin.name).toBe('etcd')
    expect(() => plugin.create({ addresses: [], options: { nope: 1 }, logger: silentLogger })).toThrow(
      /unknown option/,
    )
    const r = (await plugin.create({
      addresses: ['127.0.0.1:1'],
      options: { timeout: 500 },
      logger: silentLogger,
    })) as EtcdRegistry
    expect(r.name).toBe('etcd')
    expect(r.addresses).toEqual(['http://127.0.0.1:1'])
    await r.close()
  })
})

describe('bad addresses', () => {
  it('an unreachable etcd gives a 503 MicroError within the timeout, and nothing hangs', async () => {
    const r = createEtcdRegistry({ addresses: ['127.0.0.1:1'], timeout: 1000 })
    const started = Date.now()
    const err = await rejection(r.getService('x'))
    expect(err.code).toBe(503)
    expect(err.id).toBe('go.micro.registry')
    expect(err.detail).toMatch(/127\.0\.0\.1:1.*unreachable/)
    const reg = await rejection(r.register(service(uniqueName('bad')), { ttl: 5000 }))
    expect([503, 408]).toContain(reg.code)
    expect((await rejection(r.listServices())).code).toBeGreaterThanOrEqual(408)
    expect(Date.now() - started).toBeLessThan(3 * 1000 + 2000)
    await r.close()
  })

  it('a name that does not resolve gives a 503', async () => {
    const r = createEtcdRegistry({ addresses: ['etcd.invalid:2379'], timeout: 2000 })
    const err = await rejection(r.listServices())
    expect([503, 408]).toContain(err.code)
    expect(err.detail).toContain('etcd.invalid')
    await r.close()
  })

  it('a malformed address is a 400 at construction', () => {
    expect(() => createEtcdRegistry({ addresses: ['http://etcd:2379/some/path'] })).toThrow(MicroError)
  })
})

describe.skipIf(!sharedUp)('etcd registry (shared etcd)', () => {
  let registry: EtcdRegistry
  let raw: Etcd3

  beforeAll(() => {
    raw = new Etcd3({ hosts: SHARED_ADDRESS })
  })
  afterAll(() => raw.close())
  afterEach(async () => {
    await registry?.close()
  })

  function open(): EtcdRegistry {
    registry = createEtcdRegistry({ addresses: [SHARED_ADDRESS], logger: silentLogger })
    return registry
  }

  it('writes one-node go-micro records under /micro/registry/<service>/<node> with a lease', async () => {
    const r = open()
    const name = uniqueName('layout')
    const s = service(name, 'node/1')
    s.nodes.push({ id: 'node-2', address: '127.0.0.1:9001', metadata: {} })
    await r.register(s, { ttl: 4500 })
    const kvs = await raw.getAll().prefix(`${PREFIX}${name}/`).strings()
    expect(Object.keys(kvs).sort()).toEqual([`${PREFIX}${name}/node-1`, `${PREFIX}${name}/node-2`])
    const record = JSON.parse(kvs[`${PREFIX}${name}/node-1`])
    expect(Object.keys(record)).toEqual(['name', 'version', 'metadata', 'endpoints', 'nodes'])
    expect(record.nodes).toEqual([
      { id: 'node/1', address: '127.0.0.1:9000', metadata: { protocol: 'mucp' } },
    ])
    expect(record.endpoints[0].name).toBe('Greeter.Hello')
    // The lease TTL is the register TTL in whole seconds, rounded up.
    const res = await raw.get(`${PREFIX}${name}/node-1`).exec()
    const lease = res.kvs[0].lease
    expect(lease).not.toBe('0')
    const info = await raw.leaseClient.leaseTimeToLive({ ID: lease })
    expect(Number(info.grantedTTL)).toBe(5)
    await r.deregister(s)
    expect(await raw.getAll().prefix(`${PREFIX}${name}/`).keys()).toEqual([])
  })

  it('reads records written by go-micro (null maps and lists) and ignores garbage', async () => {
    const r = open()
    const name = uniqueName('go')
    await raw
      .put(`${PREFIX}${name}/go-1`)
      .value(
        JSON.stringify({
          name,
          version: 'latest',
          metadata: null,
          endpoints: null,
          nodes: [{ id: 'go-1', address: '10.0.0.1:8080', metadata: null }],
        }),
      )
      .exec()
    await raw.put(`${PREFIX}${name}/junk`).value('not json').exec()
    const [svc] = await r.getService(name)
    expect(svc).toStrictEqual({ name, version: 'latest', nodes: [{ id: 'go-1', address: '10.0.0.1:8080' }] })
    await raw.delete().prefix(`${PREFIX}${name}/`).exec()
  })

  it('getService merges nodes per version; unknown names are a 404 "service not found"', async () => {
    const r = open()
    const name = uniqueName('merge')
    await r.register(service(name, 'a'), { ttl: 10_000 })
    await r.register(service(name, 'b'), { ttl: 10_000 })
    await r.register(service(name, 'c', { version: '2.0.0' }), { ttl: 10_000 })
    const services = await r.getService(name)
    const byVersion = Object.fromEntries(services.map((s) => [s.version, s.nodes.map((n) => n.id).sort()]))
    expect(byVersion).toEqual({ '1.0.0': ['a', 'b'], '2.0.0': ['c'] })
    const err = await rejection(r.getService(uniqueName('missing')))
    expect(err.code).toBe(404)
    expect(err.detail).toBe('service not found')
    const listed = (await r.listServices()).filter((s) => s.name === name)
    expect(listed.map((s) => s.version).sort()).toEqual(['1.0.0', '2.0.0'])
  })

  it('keeps "a/b" and "a-b" apart although they share a key prefix', async () => {
    const r = open()
    const base = uniqueName('slash')
    await r.register(service(`${base}/x`, 'n1'), { ttl: 10_000 })
    await r.register(service(`${base}-x`, 'n2'), { ttl: 10_000 })
    expect((await r.getService(`${base}/x`))[0].nodes.map((n) => n.id)).toEqual(['n1'])
    expect((await r.getService(`${base}-x`))[0].nodes.map((n) => n.id)).toEqual(['n2'])
  })

  it('handles names with quotes, %, _, unicode and SQL fragments', async () => {
    const r = open()
    const name = `${uniqueName('odd')}.'"%_ü🙂; DROP TABLE x;--`
    await r.register(service(name, "n'1%"), { ttl: 10_000 })
    expect((await r.getService(name))[0].nodes[0].id).toBe("n'1%")
    await r.deregister(service(name, "n'1%"))
    expect((await rejection(r.getService(name))).code).toBe(404)
  })

  it('skips unchanged re-registrations and writes changed ones', async () => {
    const r = open()
    const name = uniqueName('skip')
    const key = nodeKey(name, 'n')
    await r.register(service(name, 'n'), { ttl: 10_000 })
    const first = (await raw.get(key).exec()).kvs[0]
    await r.register(service(name, 'n'), { ttl: 10_000 })
    await r.register(service(name, 'n'), { ttl: 10_000 })
    const again = (await raw.get(key).exec()).kvs[0]
    expect(again.mod_revision).toBe(first.mod_revision)
    await r.register(service(name, 'n', { metadata: { team: 'b' } }), { ttl: 10_000 })
    const changed = (await raw.get(key).exec()).kvs[0]
    expect(BigInt(changed.mod_revision)).toBeGreaterThan(BigInt(first.mod_revision))
    expect(changed.lease).toBe(first.lease) // same TTL: the lease is reused
    expect((await r.getService(name))[0].metadata).toEqual({ team: 'b' })
  })

  it('writes the record again when someone deleted the key behind its back', async () => {
    const r = open()
    const name = uniqueName('vanish')
    await r.register(service(name, 'n'), { ttl: 10_000 })
    await raw.delete().key(nodeKey(name, 'n')).exec()
    await r.register(service(name, 'n'), { ttl: 10_000 })
    expect(await raw.get(nodeKey(name, 'n')).exists()).toBe(true)
  })

  it('keeps the lease alive between unchanged refreshes (which write nothing)', async () => {
    const r = open()
    const name = uniqueName('keepalive')
    const key = nodeKey(name, 'n')
    await r.register(service(name, 'n'), { ttl: 2000 })
    const first = (await raw.get(key).exec()).kvs[0]
    // Refresh like a server does; each refresh is skipped, so only the keep-alive holds the lease.
    const refresh = refresher(r, service(name, 'n'), 2000, 600)
    await pause(5000) // 2.5 TTLs
    refresh.stop()
    const now = (await raw.get(key).exec()).kvs[0]
    expect(now.mod_revision).toBe(first.mod_revision)
    expect(now.lease).toBe(first.lease)
  })

  it('removes a node its owner stopped registering again within the TTL (RegisterOptions.ttl)', async () => {
    const r = open()
    const name = uniqueName('ttl')
    const key = nodeKey(name, 'n')
    const started = Date.now()
    await r.register(service(name, 'n'), { ttl: 1500 })
    await r.register(service(name, 'forever'))
    await eventually(async () => !(await raw.get(key).exists()), 5000)
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400)
    expect((await r.getService(name))[0].nodes.map((n) => n.id)).toEqual(['forever'])
    // It is forgotten: nothing re-registers it later.
    await pause(1500)
    expect(await raw.get(key).exists()).toBe(false)
    await r.deregister(service(name, 'forever'))
  })

  it('a node whose process is gone expires with its lease (close() releases, does not revoke)', async () => {
    const r = open()
    const name = uniqueName('released')
    await r.register(service(name, 'n'), { ttl: 60_000 })
    const lease = (await raw.get(nodeKey(name, 'n')).exec()).kvs[0].lease
    await r.close()
    expect(await raw.get(nodeKey(name, 'n')).exists()).toBe(true)
    const info = await raw.leaseClient.leaseTimeToLive({ ID: lease })
    expect(Number(info.TTL)).toBeGreaterThan(0) // still leased; etcd drops it when the TTL runs out
    await raw.leaseClient.leaseRevoke({ ID: lease }) // tidy up instead of waiting a minute
  })

  it('watch reports create, update and delete (with the node that went away), filtered by service', async () => {
    const r = open()
    const name = uniqueName('watch')
    const other = uniqueName('other')
    const watcher = r.watch({ service: name })
    const all = r.watch()
    const events = collect(watcher)
    const allEvents = collect(all)
    await new Promise((res) => setTimeout(res, 300)) // let the watch streams attach
    await r.register(service(name, 'n'), { ttl: 10_000 })
    await r.register(service(other, 'o'), { ttl: 10_000 })
    await r.register(service(name, 'n', { metadata: { team: 'z' } }), { ttl: 10_000 })
    await r.deregister(service(name, 'n'))
    await eventually(async () => events.length >= 3)
    expect(events.map((e) => e.action)).toEqual(['create', 'update', 'delete'])
    expect(events[2].service.nodes.map((n) => n.id)).toEqual(['n'])
    expect(events[1].service.metadata).toEqual({ team: 'z' })
    expect(events.every((e) => e.service.name === name)).toBe(true)
    await eventually(async () => allEvents.some((e) => e.service.name === other))
    watcher.stop()
    all.stop()
    await r.register(service(name, 'late'), { ttl: 10_000 })
    await new Promise((res) => setTimeout(res, 300))
    expect(events).toHaveLength(3)
  })

  it('a lease that expires shows up as a delete in watch', async () => {
    const r = open()
    const watcherRegistry = createEtcdRegistry({ addresses: [SHARED_ADDRESS] })
    const name = uniqueName('expire')
    const events = collect(watcherRegistry.watch({ service: name }))
    await new Promise((res) => setTimeout(res, 300))
    await r.register(service(name, 'n'), { ttl: 1000 })
    await r.close()
    await eventually(async () => events.some((e) => e.action === 'delete'), 8000)
    expect(events.find((e) => e.action === 'delete')?.service.nodes[0].id).toBe('n')
    await watcherRegistry.close()
  })

  it('ends watch iteration on stop(), on an aborted signal and on close()', async () => {
    const r = open()
    const ac = new AbortController()
    const a = r.watch({ signal: ac.signal })
    const b = r.watch()
    const ended = (w: AsyncIterable<WatchEvent>) =>
      (async () => {
        for await (const _ of w) {
          // drain
        }
        return true
      })()
    const endA = ended(a)
    const endB = ended(b)
    ac.abort()
    expect(await endA).toBe(true)
    await r.close()
    expect(await endB).toBe(true)
    expect(() => r.watch()).toThrow(MicroError)
    expect((await rejection(r.getService('x'))).code).toBe(503)
  })

  it('re-registers by itself after its lease is revoked', async () => {
    const r = open()
    const name = uniqueName('revoke')
    const key = nodeKey(name, 'n')
    // No refresh happens in this test: what comes back is the registry's own doing.
    await r.register(service(name, 'n'), { ttl: 6000 })
    const lease = (await raw.get(key).exec()).kvs[0].lease
    await raw.leaseClient.leaseRevoke({ ID: lease })
    expect(await raw.get(key).exists()).toBe(false)
    // The keep-alive (every TTL/3) learns the lease is gone; a new lease and record follow.
    const back = await eventually(async () => (await raw.get(key).exec()).kvs[0], 4500)
    expect(back.lease).not.toBe(lease)
    expect((await r.getService(name))[0].nodes[0].id).toBe('n')
    await r.deregister(service(name, 'n'))
  })

  it('validates what it is given', async () => {
    const r = open()
    expect((await rejection(r.register({ name: '', version: '', nodes: [] }))).code).toBe(400)
    expect((await rejection(r.register({ name: 'x', version: '', nodes: [] }))).code).toBe(400)
    expect((await rejection(r.register(service('x', '')))).code).toBe(400)
    expect((await rejection(r.register(service(uniqueName('v')), { ttl: -5 }))).code).toBe(400)
    expect((await rejection(r.deregister({ name: 'x', version: '', nodes: [] }))).code).toBe(400)
    expect((await rejection(r.getService(''))).code).toBe(404)
  })
})

describe.skipIf(!binary)('etcd registry (private etcd: restarts, auth)', () => {
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
    registry = createEtcdRegistry({ addresses: [server.address], timeout: 2000 })
    const name = uniqueName('restart')
    await registry.register(service(name, 'n'), { ttl: 3000 })
    const refresh = refresher(registry, service(name, 'n'), 3000, 1000)
    const events = collect(registry.watch({ service: name }))
    await new Promise((res) => setTimeout(res, 300))
    await server.restart({ downMs: 1000 })
    // Calls during recovery may fail; the registry must come back by itself.
    const [svc] = await eventually(() => registry!.getService(name), 15_000)
    expect(svc.nodes.map((n) => n.id)).toEqual(['n'])
    // Well past the TTL: the node is still there, kept alive (or re-registered) after the restart.
    await new Promise((res) => setTimeout(res, 4000))
    expect((await registry.getService(name))[0].nodes.map((n) => n.id)).toEqual(['n'])
    await registry.register(service(name, 'm'), { ttl: 3000 })
    await eventually(
      async () => events.some((e) => e.action === 'create' && e.service.nodes[0].id === 'm'),
      15_000,
    )
    refresh.stop()
  })

  it('re-registers by itself when etcd comes back empty (data lost)', async () => {
    registry = createEtcdRegistry({ addresses: [server.address], timeout: 2000 })
    const name = uniqueName('wipe')
    await registry.register(service(name, 'n'), { ttl: 2000 })
    const refresh = refresher(registry, service(name, 'n'), 2000, 700)
    await server.restart({ wipe: true, downMs: 500 })
    const [svc] = await eventually(() => registry!.getService(name), 20_000)
    expect(svc.nodes.map((n) => n.id)).toEqual(['n'])
    // And the new record has a live lease: it is still there after a few TTLs.
    await new Promise((res) => setTimeout(res, 5000))
    expect((await registry.getService(name))[0].nodes.map((n) => n.id)).toEqual(['n'])
    refresh.stop()
  })

  it('re-registers after etcd was down for longer than the TTL', async () => {
    registry = createEtcdRegistry({ addresses: [server.address], timeout: 1000 })
    const name = uniqueName('outage')
    await registry.register(service(name, 'n'), { ttl: 2000 })
    const refresh = refresher(registry, service(name, 'n'), 2000, 700)
    await server.kill()
    // Long enough for etcd3 to declare the lease lost (2×TTL without a keep-alive).
    await new Promise((res) => setTimeout(res, 6000))
    await server.spawn()
    const [svc] = await eventually(() => registry!.getService(name), 20_000)
    expect(svc.nodes.map((n) => n.id)).toEqual(['n'])
    await new Promise((res) => setTimeout(res, 5000))
    expect((await registry.getService(name))[0].nodes.map((n) => n.id)).toEqual(['n'])
    refresh.stop()
  })

  it('uses credentials from the address URL or ETCD_USERNAME/ETCD_PASSWORD; wrong ones are a 401', async () => {
    const admin = new Etcd3({ hosts: server.address })
    await admin.role('root').create()
    await (await admin.user('root').create('rootpw')).addRole('root')
    await admin.auth.authEnable()
    admin.close()
    try {
      const name = uniqueName('auth')
      registry = createEtcdRegistry({ addresses: [`http://root:rootpw@${server.address}`] })
      await registry.register(service(name, 'n'), { ttl: 5000 })
      expect((await registry.getService(name))[0].nodes[0].id).toBe('n')
      await registry.close()

      const saved = { u: process.env.ETCD_USERNAME, p: process.env.ETCD_PASSWORD }
      process.env.ETCD_USERNAME = 'root'
      process.env.ETCD_PASSWORD = 'rootpw'
      try {
        registry = createEtcdRegistry({ addresses: [server.address] })
      } finally {
        restoreEnv('ETCD_USERNAME', saved.u)
        restoreEnv('ETCD_PASSWORD', saved.p)
      }
      expect((await registry.getService(name))[0].nodes[0].id).toBe('n')
      await registry.close()

      registry = createEtcdRegistry({ addresses: [`http://root:wrong@${server.address}`], timeout: 2000 })
      const err = await rejection(registry.getService(name))
      expect(err.code).toBe(401)

      registry = createEtcdRegistry({ addresses: [server.address], timeout: 2000 })
      const anon = await rejection(registry.getService(name))
      expect(anon.code).toBe(401)
      expect(anon.detail).toMatch(/requires credentials/)
    } finally {
      const root = new Etcd3({ hosts: server.address, auth: { username: 'root', password: 'rootpw' } })
      await root.auth.authDisable()
      root.close()
    }
  })
})

function restoreEnv(key: string, value: string | undefined): void {
  if (value === undefined) delete process.env[key]
  else process.env[key] = value
}

describe.skipIf(!binary)('TLS (private etcd with the fixture certificates)', () => {
  const servers: EtcdServer[] = []
  const registries: EtcdRegistry[] = []
  afterAll(async () => {
    for (const r of registries) await r.close()
    for (const s of servers) await s.stop()
  })
  async function start(options: { clientCertAuth?: boolean } = {}): Promise<EtcdServer> {
    const s = await EtcdServer.start({ tls: true, ...options })
    servers.push(s)
    return s
  }
  function open(options: Parameters<typeof createEtcdRegistry>[0]): EtcdRegistry {
    const r = createEtcdRegistry({ timeout: 2000, ...options })
    registries.push(r)
    return r
  }

  it('talks to an https:// endpoint with the CA given as a file or as PEM', async () => {
    const s = await start()
    const name = uniqueName('tls')
    const byFile = open({ addresses: [s.url], tls: { caFile: tlsFile('ca.pem') } })
    await byFile.register(service(name, 'n'), { ttl: 5000 })
    const byPem = open({ addresses: [s.address], tls: { ca: readFileSync(tlsFile('ca.pem'), 'utf8') } })
    expect((await byPem.getService(name))[0].nodes[0].id).toBe('n')
  })

  it('a server certificate it cannot verify is an error, not a hang', async () => {
    const s = await start()
    const err = await rejection(open({ addresses: [s.url] }).getService('x'))
    expect([503, 408]).toContain(err.code)
    const plain = await rejection(open({ addresses: [`http://${s.address}`] }).getService('x'))
    expect([503, 408, 500]).toContain(plain.code)
  })

  it('presents a client certificate when etcd requires one', async () => {
    const s = await start({ clientCertAuth: true })
    const name = uniqueName('mtls')
    const withCert = open({
      addresses: [s.url],
      tls: { caFile: tlsFile('ca.pem'), certFile: tlsFile('client.pem'), keyFile: tlsFile('client-key.pem') },
    })
    await withCert.register(service(name, 'n'), { ttl: 5000 })
    expect((await withCert.getService(name))[0].nodes[0].id).toBe('n')
    const without = open({ addresses: [s.url], tls: { caFile: tlsFile('ca.pem') } })
    expect([503, 408, 401]).toContain((await rejection(without.getService(name))).code)
  })

  it('a TLS file that cannot be read is a 400 at construction', () => {
    expect(() => createEtcdRegistry({ tls: { caFile: '/nonexistent/ca.pem' } })).toThrow(
      /cannot read TLS CA file/,
    )
  })
})
