/**
 * The registry goes away under load: a private etcd is SIGKILLed for 60 s while three nodes per
 * transport keep serving callers who found them before, then started again with its data; then
 * it is replaced by an empty etcd on the same port, and the nodes must register again by
 * themselves.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { requireThat } from '@micro-ts/conformance/testing'
import { EtcdServer } from '@micro-ts/conformance/testing/etcd'
import type { MicroService } from '@micro-ts/core'
import { afterAll, describe, expect, it } from 'vitest'
import {
  clientService,
  type NodeProcess,
  startNodes,
  TRANSPORTS,
  type TransportName,
} from '../src/cluster.js'
import { fmt, recordFigure } from '../src/figures.js'
import { type CallRecord, quantile, Recorder } from '../src/load.js'

const OUTAGE_MS = 60_000
const TTL_MS = 10_000
const INTERVAL_MS = 3_000

const ok = requireThat(
  EtcdServer.available(),
  'the fault suite needs etcd (Debian etcd-server: scripts/backends.sh etcd)',
)

interface Group {
  transport: TransportName
  service: string
  nodes: NodeProcess[]
  client: MicroService
  rec: Recorder
}

/** How many nodes of `service` etcd lists right now (straight from etcd, no cache). */
async function listed(client: MicroService, service: string): Promise<number> {
  return client.registry
    .getService(service)
    .then((ss) => ss.reduce((n, s) => n + s.nodes.length, 0))
    .catch(() => 0)
}

/** Wait until every group's three nodes are listed; ms it took per group (NaN: not within `limitMs`). */
async function relisted(
  groups: readonly Group[],
  since: number,
  limitMs: number,
): Promise<Map<string, number>> {
  const took = new Map<string, number>()
  const deadline = performance.now() + limitMs
  while (took.size < groups.length && performance.now() < deadline) {
    for (const g of groups) {
      if (!took.has(g.transport) && (await listed(g.client, g.service)) === 3)
        took.set(g.transport, performance.now() - since)
    }
    await sleep(50)
  }
  for (const g of groups) if (!took.has(g.transport)) took.set(g.transport, Number.NaN)
  return took
}

const between = (calls: readonly CallRecord[], t0: number, t1: number) =>
  calls.filter((c) => c.t0 >= t0 && c.t0 < t1)

describe.runIf(ok)('registry outage under load', () => {
  let etcd: EtcdServer
  const groups: Group[] = []

  afterAll(async () => {
    await Promise.all(groups.flatMap((g) => g.nodes.map((n) => n.stop())))
    for (const g of groups) await g.client.stop()
    await etcd?.stop()
  })

  it('60 s without etcd, then an empty etcd: no call fails and the nodes register again', async () => {
    etcd = await EtcdServer.start()
    for (const transport of TRANSPORTS) {
      const service = `faults-outage-${transport}`
      const nodes = await startNodes(3, {
        service,
        transport,
        etcd: etcd.url,
        ttlMs: TTL_MS,
        intervalMs: INTERVAL_MS,
      })
      const rec = new Recorder()
      const client = await clientService({ transport, etcd: etcd.url, wrappers: [rec.wrapper] })
      groups.push({ transport, service, nodes, client, rec })
    }
    expect([...(await relisted(groups, performance.now(), 30_000)).values()].every(Number.isFinite)).toBe(
      true,
    )

    const stop = new AbortController()
    const loads = groups.map((g) =>
      g.rec.loop(g.client.client, g.service, {
        callers: 4,
        ms: 5,
        signal: stop.signal,
        call: { timeout: 10_000 },
      }),
    )
    await sleep(2000)
    const downAt = performance.now()
    await etcd.kill()
    await sleep(OUTAGE_MS)
    const backAt = performance.now()
    await etcd.start()
    const withData = await relisted(groups, backAt, 60_000)
    await sleep(2000)

    // The same port, no data: every lease and record is gone.
    const wipedAt = performance.now()
    await etcd.wipe()
    const reregistered = await relisted(groups, wipedAt, 60_000)
    await sleep(3000)
    const endAt = performance.now()
    stop.abort()
    await Promise.all(loads)

    for (const g of groups) {
      const calls = g.rec.all
      const outage = between(calls, downAt, backAt)
      const phaseA = between(calls, downAt, wipedAt)
      const phaseB = between(calls, wipedAt, endAt)
      const failedA = phaseA.filter((c) => !c.ok)
      const failedB = phaseB.filter((c) => !c.ok)
      const p99 = quantile(
        outage.map((c) => (c.t1 ?? c.t0) - c.t0),
        0.99,
      )
      const backMs = withData.get(g.transport) ?? Number.NaN
      const reMs = reregistered.get(g.transport) ?? Number.NaN
      recordFigure({
        scenario: 'registry outage of 60 s',
        subject: g.transport,
        measured:
          `${fmt(outage.length)} calls while etcd was down (p99 ${fmt(p99, 1)} ms), ${failedA.length} failed; ` +
          `all 3 nodes listed ${fmt(backMs)} ms after etcd came back with its data`,
        bound: '0 failed; nodes listed again when it returns',
        holds: failedA.length === 0 && Number.isFinite(backMs),
        values: { calls: outage.length, failed: failedA.length, p99Ms: p99, backMs },
      })
      recordFigure({
        scenario: 'registry returns empty',
        subject: g.transport,
        measured:
          `all 3 nodes registered again ${fmt(reMs)} ms after an empty etcd started ` +
          `(TTL ${TTL_MS / 1000} s, refresh every ${INTERVAL_MS / 1000} s); ${fmt(phaseB.length)} calls, ${failedB.length} failed`,
        bound: 'nodes re-register by themselves; 0 failed',
        holds: failedB.length === 0 && Number.isFinite(reMs),
        values: { calls: phaseB.length, failed: failedB.length, reregisterMs: reMs },
      })
    }

    for (const g of groups) {
      const calls = g.rec.all
      expect(between(calls, downAt, backAt).length, g.transport).toBeGreaterThan(0)
      expect(
        calls.filter((c) => !c.ok).map((c) => `${g.transport}: ${c.error?.detail}`),
        'no call fails while the registry is away',
      ).toEqual([])
    }
    for (const ms of [...withData.values(), ...reregistered.values()]) expect(Number.isFinite(ms)).toBe(true)
  })
})
