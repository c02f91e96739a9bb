/**
 * etcd-specific behaviour against the shared etcd: go-micro's key layout and record JSON,
 * leases and keep-alive, skipped re-registrations, TTL removal, watch events, re-registration
 * after a revoked lease, bad input; and what an unreachable etcd gives.
 */
import { deadAddress, eventually, expectMicroError } from '@micro-ts/conformance/testing'
import { silentLogger, type WatchEvent } from '@micro-ts/core'
import { Etcd3 } from 'etcd3'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createEtcdRegistry, type EtcdRegistry, nodeKey, PREFIX } from '../src/index.js'
import { collect, pause, refresher, SHARED_ADDRESS, service, serviceName, sharedEtcd } from './helpers.js'

const sharedUp = await sharedEtcd()

describe('an etcd that is not there', () => {
  it('refused connections are a 503 MicroError naming the endpoint, for every operation', async () => {
    const address = await deadAddress()
    const r = createEtcdRegistry({ addresses: [address], connectTimeout: 1000, requestTimeout: 1000 })
    const err = await expectMicroError(r.getService('x'), 503)
    expect(err.id).toBe('go.micro.registry')
    expect(err.detail).toContain(address)
    expect(err.detail).toMatch(/unreachable/)
    const reg = await expectMicroError(r.register(service(serviceName('bad')), { ttl: 5000 }))
    expect([503, 408]).toContain(reg.code)
    expect((await expectMicroError(r.listServices())).code).toBeGreaterThanOrEqual(408)
    await r.close()
  })

  it('a name that does not resolve is a 503 or 408, not a hang', async () => {
    const r = createEtcdRegistry({
      addresses: ['etcd.invalid:2379'],
      connectTimeout: 2000,
      requestTimeout: 2000,
    })
    const err = await expectMicroError(r.listServices())
    expect([503, 408]).toContain(err.code)
    expect(err.detail).toContain('etcd.invalid')
    await r.close()
  })
})

describe.runIf(sharedUp)('etcd registry (shared etcd)', () => {
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
    const name = serviceName('layout')
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
    const name = serviceName('go')
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
    const name = serviceName('merge')
    await r.register(service(name, 'a'), { ttl: 10_000 })
    await r.register(service(name, 'b'), { ttl: 10_000 })
    await r.register(service(name, 'c', { version: '2.0.0' }), { ttl: 10_000 })
    const services = await r.getService(name)
    const byVersion = Object.fromEntries(services.map((s) => [s.version, s.nodes.map((n) => n.id).sort()]))
    expect(byVersion).toEqual({ '1.0.0': ['a', 'b'], '2.0.0': ['c'] })
    const err = await expectMicroError(r.getService(serviceName('missing')))
    expect(err.code).toBe(404)
    expect(err.detail).toBe('service not found')
    const listed = (await r.listServices()).filter((s) => s.name === name)
    expect(listed.map((s) => s.version).sort()).toEqual(['1.0.0', '2.0.0'])
  })

  it('keeps "a/b" and "a-b" apart although they share a key prefix', async () => {
    const r = open()
    const base = serviceName('slash')
    await r.register(service(`${base}/x`, 'n1'), { ttl: 10_000 })
    await r.register(service(`${base}-x`, 'n2'), { ttl: 10_000 })
    expect((await r.getService(`${base}/x`))[0].nodes.map((n) => n.id)).toEqual(['n1'])
    expect((await r.getService(`${base}-x`))[0].nodes.map((n) => n.id)).toEqual(['n2'])
  })

  it('handles names with quotes, %, _, unicode and SQL fragments', async () => {
    const r = open()
    const name = `${serviceName('odd')}.'"%_ü🙂; DROP TABLE x;--`
    await r.register(service(name, "n'1%"), { ttl: 10_000 })
    expect((await r.getService(name))[0].nodes[0].id).toBe("n'1%")
    await r.deregister(service(name, "n'1%"))
    expect((await expectMicroError(r.getService(name))).code).toBe(404)
  })

  it('skips unchanged re-registrations and writes changed ones', async () => {
    const r = open()
    const name = serviceName('skip')
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
    const name = serviceName('vanish')
    await r.register(service(name, 'n'), { ttl: 10_000 })
    await raw.delete().key(nodeKey(name, 'n')).exec()
    await r.register(service(name, 'n'), { ttl: 10_000 })
    expect(await raw.get(nodeKey(name, 'n')).exists()).toBe(true)
  })

  it('keeps the lease alive between unchanged refreshes (which write nothing)', async () => {
    const r = open()
    const name = serviceName('keepalive')
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
    const name = serviceName('ttl')
    const key = nodeKey(name, 'n')
    const started = Date.now()
    await r.register(service(name, 'n'), { ttl: 1500 })
    await r.register(service(name, 'forever'))
    await eventually(async () => expect(await raw.get(key).exists()).toBe(false), 5000)
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400)
    expect((await r.getService(name))[0].nodes.map((n) => n.id)).toEqual(['forever'])
    // It is forgotten: nothing re-registers it later.
    await pause(1500)
    expect(await raw.get(key).exists()).toBe(false)
    await r.deregister(service(name, 'forever'))
  })

  it('a node whose process is gone expires with its lease (close() releases, does not revoke)', async () => {
    const r = open()
    const name = serviceName('released')
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
    const name = serviceName('watch')
    const other = serviceName('other')
    const watcher = r.watch({ service: name })
    const all = r.watch()
    const events = collect(watcher)
    const allEvents = collect(all)
    await new Promise((res) => setTimeout(res, 300)) // let the watch streams attach
    await r.register(service(name, 'n'), { ttl: 10_000 })
    await r.register(service(other, 'o'), { ttl: 10_000 })
    await r.register(service(name, 'n', { metadata: { team: 'z' } }), { ttl: 10_000 })
    await r.deregister(service(name, 'n'))
    await eventually(() => expect(events.length).toBeGreaterThanOrEqual(3), 10_000)
    expect(events.map((e) => e.action)).toEqual(['create', 'update', 'delete'])
    expect(events[2].service.nodes.map((n) => n.id)).toEqual(['n'])
    expect(events[1].service.metadata).toEqual({ team: 'z' })
    expect(events.every((e) => e.service.name === name)).toBe(true)
    await eventually(() => expect(allEvents.some((e) => e.service.name === other)).toBe(true), 10_000)
    watcher.stop()
    all.stop()
    await r.register(service(name, 'late'), { ttl: 10_000 })
    await new Promise((res) => setTimeout(res, 300))
    expect(events).toHaveLength(3)
  })

  it('a lease that expires shows up as a delete in watch', async () => {
    const r = open()
    const watcherRegistry = createEtcdRegistry({ addresses: [SHARED_ADDRESS] })
    const name = serviceName('expire')
    const events = collect(watcherRegistry.watch({ service: name }))
    await new Promise((res) => setTimeout(res, 300))
    await r.register(service(name, 'n'), { ttl: 1000 })
    await r.close()
    await eventually(() => expect(events.some((e) => e.action === 'delete')).toBe(true), 8000)
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
    await expectMicroError(() => r.watch(), 503)
    expect((await expectMicroError(r.getService('x'))).code).toBe(503)
  })

  it('re-registers by itself after its lease is revoked', async () => {
    const r = open()
    const name = serviceName('revoke')
    const key = nodeKey(name, 'n')
    // No refresh happens in this test: what comes back is the registry's own doing.
    await r.register(service(name, 'n'), { ttl: 6000 })
    const lease = (await raw.get(key).exec()).kvs[0].lease
    await raw.leaseClient.leaseRevoke({ ID: lease })
    expect(await raw.get(key).exists()).toBe(false)
    // The keep-alive (every TTL/3) learns the lease is gone; a new lease and record follow.
    const back = await eventually(async () => {
      const [kv] = (await raw.get(key).exec()).kvs
      expect(kv).toBeDefined()
      return kv
    }, 4500)
    expect(back.lease).not.toBe(lease)
    expect((await r.getService(name))[0].nodes[0].id).toBe('n')
    await r.deregister(service(name, 'n'))
  })

  it('validates what it is given', async () => {
    const r = open()
    expect((await expectMicroError(r.register({ name: '', version: '', nodes: [] }))).code).toBe(400)
    expect((await expectMicroError(r.register({ name: 'x', version: '', nodes: [] }))).code).toBe(400)
    expect((await expectMicroError(r.register(service('x', '')))).code).toBe(400)
    expect((await expectMicroError(r.register(service(serviceName('v')), { ttl: -5 }))).code).toBe(400)
    expect((await expectMicroError(r.deregister({ name: 'x', version: '', nodes: [] }))).code).toBe(400)
    expect((await expectMicroError(r.getService(''))).code).toBe(404)
  })
})
