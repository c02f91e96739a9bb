/**
 * Lookups at scale and with records too large for one answer (against the shared etcd): a merge
 * linear in the number of nodes, prefixes read in pages, a record larger than the client's
 * message limit skipped with a warning, and no oversized answer ever failing unrelated calls.
 */

import { recordingLogger } from '@micro-ts/conformance/testing'
import type { Service } from '@micro-ts/core'
import { mergeServices } from '@micro-ts/core/plugin'
import { Etcd3 } from 'etcd3'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createEtcdRegistry, type EtcdRegistry, nodeKey, servicePrefix } from '../src/index.js'
import { SHARED_ADDRESS, service, serviceName, sharedEtcd } from './helpers.js'

const sharedUp = await sharedEtcd()

/** One-node records of service `name`. */
function records(name: string, count: number): Service[] {
  return Array.from({ length: count }, (_, i) => ({
    name,
    version: '1.0.0',
    nodes: [{ id: `n${i}`, address: `10.0.${i >> 8}.${i & 255}:8080`, metadata: { zone: 'a' } }],
  }))
}

/**
 * How many Map insertions `fn` makes: a deterministic measure of a merge's work (the merges
 * here key nodes by id in Maps; one that re-copies the nodes merged so far at every record
 * inserts node i again for every later record).
 */
function mapInsertions(fn: () => void): number {
  const set = Map.prototype.set
  let count = 0
  Map.prototype.set = function (this: Map<unknown, unknown>, key: unknown, value: unknown) {
    count++
    return set.call(this, key, value)
  }
  try {
    fn()
  } finally {
    Map.prototype.set = set
  }
  return count
}

describe('merging one-node records', () => {
  it('does work linear in the number of nodes, not quadratic', () => {
    for (const count of [10, 1000, 4000]) {
      const input = records('svc', count)
      let merged: Service[] = []
      const work = mapInsertions(() => {
        merged = mergeServices(input)
      })
      expect(merged).toHaveLength(1)
      expect(merged[0].nodes).toHaveLength(count)
      expect(work / count, `Map insertions per node with ${count} nodes`).toBeLessThanOrEqual(3)
    }
  })

  it("keeps mergeServices' rules: later node with the same id wins in place, later endpoints and metadata win", () => {
    const a: Service = { name: 's', version: '1', metadata: { v: 'a' }, nodes: [{ id: 'x', address: 'a:1' }] }
    const b: Service = {
      name: 's',
      version: '1',
      endpoints: [{ name: 'E' }],
      nodes: [{ id: 'y', address: 'b:1' }],
    }
    const c: Service = { name: 's', version: '1', metadata: { v: 'c' }, nodes: [{ id: 'x', address: 'c:1' }] }
    const d: Service = { name: 's', version: '2', nodes: [{ id: 'z', address: 'd:1' }] }
    expect(mergeServices([a, b, c, d])).toStrictEqual([
      {
        name: 's',
        version: '1',
        metadata: { v: 'c' },
        endpoints: [{ name: 'E' }],
        nodes: [
          { id: 'x', address: 'c:1' },
          { id: 'y', address: 'b:1' },
        ],
      },
      { name: 's', version: '2', nodes: [{ id: 'z', address: 'd:1' }] },
    ])
  })
})

describe.runIf(sharedUp)('lookups at scale (shared etcd)', () => {
  let raw: Etcd3
  const written: string[] = []
  beforeAll(() => {
    raw = new Etcd3({ hosts: SHARED_ADDRESS })
  })
  // Each test's records go when it ends: the next one's listServices reads the whole prefix.
  afterEach(async () => {
    for (const name of written.splice(0)) await raw.delete().prefix(servicePrefix(name)).exec()
  })
  afterAll(() => raw.close())

  /**
   * Write `count` one-node records of `name` straight to etcd (as many processes would), in
   * transactions of up to 100 puts or 1 MB (etcd takes at most 128 operations and 1.5 MiB in one).
   */
  async function seed(
    name: string,
    count: number,
    record: (i: number) => Service = (i) => service(name, `n${i}`),
  ) {
    written.push(name)
    let batch: { request_put: { key: Buffer; value: Buffer } }[] = []
    let bytes = 0
    const flush = async () => {
      if (batch.length > 0) await raw.kv.txn({ success: batch })
      batch = []
      bytes = 0
    }
    for (let i = 0; i < count; i++) {
      const s = record(i)
      const value = Buffer.from(JSON.stringify(s))
      if (batch.length === 100 || (batch.length > 0 && bytes + value.length > 1_000_000)) await flush()
      batch.push({ request_put: { key: Buffer.from(nodeKey(name, s.nodes[0].id)), value } })
      bytes += value.length
    }
    await flush()
  }

  function open(options: Parameters<typeof createEtcdRegistry>[0] = {}): EtcdRegistry {
    return createEtcdRegistry({ addresses: [SHARED_ADDRESS], requestTimeout: 20_000, ...options })
  }

  it('getService of 10,000 nodes returns every node once, read in pages', async () => {
    const name = serviceName('scale')
    await seed(name, 10_000)
    const r = open()
    try {
      const [svc, ...rest] = await r.getService(name)
      expect(rest).toEqual([])
      expect(svc.nodes).toHaveLength(10_000)
      expect(new Set(svc.nodes.map((n) => n.id)).size).toBe(10_000)
      const listed = (await r.listServices()).find((s) => s.name === name)
      expect(listed?.nodes).toHaveLength(10_000)
    } finally {
      await r.close()
    }
  })

  it('pages follow one another by key: small pages give every record exactly once, of the exact name only', async () => {
    const name = serviceName('pages')
    await seed(name, 23)
    // '/' folds onto the same prefix: a record of another name under it is not this service's.
    await seed(`${name}/x`, 1)
    await raw
      .put(`${servicePrefix(name)}garbage`)
      .value('not json')
      .exec()
    const r = open({ pageSize: 4 })
    try {
      const [svc] = await r.getService(name)
      expect(svc.nodes.map((n) => n.id).sort()).toEqual(Array.from({ length: 23 }, (_, i) => `n${i}`).sort())
    } finally {
      await r.close()
    }
  })

  it('records over 4 MiB in all (three of 1.4 MB) are found, and unrelated calls keep working right after', async () => {
    const name = serviceName('large')
    const blob = 'x'.repeat(1_400_000)
    await seed(name, 3, (i) => service(name, `big${i}`, { metadata: { blob } }))
    const r = open()
    try {
      const [svc] = await r.getService(name)
      expect(svc.nodes.map((n) => n.id).sort()).toEqual(['big0', 'big1', 'big2'])
      expect(svc.metadata?.blob).toHaveLength(1_400_000)
      expect((await r.listServices()).find((s) => s.name === name)?.nodes).toHaveLength(3)
      // Before: the oversized answer was retried and counted as a host failure, which opened
      // etcd3's circuit breaker: these failed for 5 s with "etcd is unreachable".
      const other = serviceName('unrelated')
      written.push(other)
      await r.register(service(other, 'o'), { ttl: 10_000 })
      expect((await r.getService(other))[0].nodes.map((n) => n.id)).toEqual(['o'])
      await r.deregister(service(other, 'o'))
    } finally {
      await r.close()
    }
  })

  it('a record larger than maxMessageSize on its own is skipped with a warning; the rest is found', async () => {
    const name = serviceName('oversized')
    await seed(name, 5)
    await seed(name, 1, () => service(name, 'huge', { metadata: { blob: 'y'.repeat(300_000) } }))
    const log = recordingLogger()
    const r = open({ maxMessageSize: 256 * 1024, logger: log })
    try {
      const [svc] = await r.getService(name)
      expect(svc.nodes.map((n) => n.id).sort()).toEqual(['n0', 'n1', 'n2', 'n3', 'n4'])
      expect(log.at('warn')).toContainEqual({
        level: 'warn',
        msg: 'etcd registry: getService: record skipped: larger than maxMessageSize alone',
        fields: { registry: 'etcd', key: nodeKey(name, 'huge'), maxMessageSize: 256 * 1024 },
      })
      expect((await r.listServices()).find((s) => s.name === name)?.nodes).toHaveLength(5)
      // And unrelated calls work at once.
      const other = serviceName('after-oversized')
      written.push(other)
      await r.register(service(other, 'o'))
      expect((await r.getService(other))[0].nodes[0].id).toBe('o')
    } finally {
      await r.close()
    }
  })
})
