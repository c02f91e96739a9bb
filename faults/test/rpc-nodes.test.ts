/**
 * Three node processes of one service on each transport, found through a private etcd, under 16
 * closed-loop callers (half of them idempotent): one node is SIGKILLed, or SIGTERMed with a 2 s
 * call in flight. The client is the default one (random selector, outlier ejection, retry budget).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { requireThat } from '@micro-ts/conformance/testing'
import { EtcdServer } from '@micro-ts/conformance/testing/etcd'
import type { MicroService } from '@micro-ts/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { clientService, type NodeProcess, startNodes, TRANSPORTS, waitForNodes } from '../src/cluster.js'
import { fmt, recordFigure } from '../src/figures.js'
import { attemptsTo, Recorder, rate } from '../src/load.js'

const CALLERS = 16
const HANDLER_MS = 10

const ok = requireThat(
  EtcdServer.available(),
  'the fault suite needs etcd (Debian etcd-server: scripts/backends.sh etcd)',
)

describe.runIf(ok)('RPC nodes under load', () => {
  let etcd: EtcdServer
  const running: NodeProcess[] = []
  const clients: MicroService[] = []

  beforeAll(async () => {
    etcd = await EtcdServer.start()
  })
  afterAll(async () => {
    await Promise.all(running.map((n) => n.stop()))
    for (const c of clients) await c.stop()
    await etcd?.stop()
  })

  /** The callers every scenario here runs: 16 closed loops, half idempotent, 10 s deadlines. */
  function steadyLoad(rec: Recorder, client: MicroService, service: string, signal: AbortSignal) {
    return rec.loop(client.client, service, {
      callers: CALLERS,
      ms: HANDLER_MS,
      signal,
      mixed: true,
      call: { timeout: 10_000 },
    })
  }

  async function cluster(transport: (typeof TRANSPORTS)[number], service: string) {
    const nodes = await startNodes(3, { service, transport, etcd: etcd.url })
    running.push(...nodes)
    const rec = new Recorder()
    const client = await clientService({ transport, etcd: etcd.url, wrappers: [rec.wrapper] })
    clients.push(client)
    await waitForNodes(client, service, 3)
    return { nodes, rec, client }
  }

  it.each(TRANSPORTS)('SIGKILL of one of three nodes on %s', async (transport) => {
    const service = `faults-kill-${transport}`
    const { nodes, rec, client } = await cluster(transport, service)
    const stop = new AbortController()
    const load = steadyLoad(rec, client, service, stop.signal)
    await sleep(1500)
    const victim = nodes[0]
    const killTick = rec.tick()
    victim.signal('SIGKILL')
    await victim.exited
    await sleep(1500)
    stop.abort()
    await load
    await Promise.all(nodes.map((n) => n.stop()))

    const calls = rec.all
    const toVictim = attemptsTo(calls, victim.address)
    // The client saw the close when the first attempt on the dead node failed.
    const failedThere = toVictim.filter(({ attempt }) => attempt.error && (attempt.end ?? 0) > killTick)
    const closeTick = Math.min(...failedThere.map(({ attempt }) => attempt.end ?? Number.POSITIVE_INFINITY))
    const inFlight = toVictim.filter(
      ({ attempt }) => attempt.start < closeTick && (attempt.end ?? Number.POSITIVE_INFINITY) >= closeTick,
    ).length
    const plain = calls.filter((c) => !c.idempotent)
    const idempotent = calls.filter((c) => c.idempotent)
    const failed = plain.filter((c) => !c.ok)
    const idempotentFailed = idempotent.filter((c) => !c.ok)
    // A failed call's last attempt went to the dead node, started before the close was seen.
    const lastAttempt = (c: (typeof calls)[number]) => c.attempts[c.attempts.length - 1]
    const sentAfterClose = failed.filter((c) => {
      const a = lastAttempt(c)
      return !a || a.node !== victim.address || a.start > closeTick
    })
    const retried = calls.filter((c) => c.attempts.length > 1).length
    const afterKill = calls.filter((c) => (c.attempts[0]?.start ?? 0) > killTick)

    const holds = failed.length <= inFlight && sentAfterClose.length === 0 && idempotentFailed.length === 0
    recordFigure({
      scenario: 'SIGKILL 1 of 3 nodes under load',
      subject: transport,
      measured:
        `${fmt(calls.length)} calls (${fmt(rate(calls))}/s, ${CALLERS} callers, half idempotent); ` +
        `${inFlight} in flight on the node when the client saw the close; ${failed.length} failed, ` +
        `${sentAfterClose.length} of them sent after the close; idempotent: ${idempotentFailed.length} failed; ` +
        `${retried} retried; ${fmt(afterKill.length)} calls after the kill`,
      bound: 'failed ≤ in flight; none sent after the close; idempotent: 0 failed',
      holds,
      values: {
        calls: calls.length,
        inFlight,
        failed: failed.length,
        sentAfterClose: sentAfterClose.length,
        idempotentFailed: idempotentFailed.length,
        retried,
      },
    })
    expect(failedThere.length).toBeGreaterThan(0) // the kill did cut calls short
    for (const c of failed) {
      // Clear errors: the transport's, saying the request may have run.
      expect(c.error?.code, c.error?.detail).toBeGreaterThanOrEqual(500)
    }
    expect(sentAfterClose.map((c) => c.error?.detail)).toEqual([])
    expect(failed.length).toBeLessThanOrEqual(inFlight)
    expect(idempotentFailed.map((c) => c.error?.detail)).toEqual([])
    // Calls went on after the kill, on the two nodes left.
    expect(afterKill.length).toBeGreaterThan(CALLERS)
  })

  it.each(TRANSPORTS)('SIGTERM of one of three nodes on %s, with a 2 s call in flight', async (transport) => {
    const service = `faults-term-${transport}`
    const { nodes, rec, client } = await cluster(transport, service)
    const victim = nodes[0]
    // Watch the registry for the node leaving.
    let deregisteredAt: number | undefined
    const watcher = client.registry.watch({ service })
    const watching = (async () => {
      for await (const ev of watcher) {
        if (ev.action === 'delete' && ev.service.nodes.some((n) => n.address === victim.address)) {
          deregisteredAt = performance.now()
          return
        }
      }
    })()
    const stop = new AbortController()
    const load = steadyLoad(rec, client, service, stop.signal)
    await sleep(1000)
    const long = rec.call(
      client.client,
      service,
      'Work.Do',
      { ms: 2000 },
      { address: victim.address, timeout: 10_000 },
    )
    await sleep(300)
    const termAt = performance.now()
    victim.signal('SIGTERM')
    const exit = await victim.exited
    const longCall = await long
    await sleep(1000)
    stop.abort()
    await load
    await Promise.race([watching, sleep(2000)])
    watcher.stop()
    await Promise.all(nodes.map((n) => n.stop()))

    const calls = rec.all
    const failed = calls.filter((c) => !c.ok)
    const deregisterMs = deregisteredAt === undefined ? Number.NaN : deregisteredAt - termAt
    const exitMs = (victim.exitedAt ?? termAt) - termAt
    const holds = failed.length === 0 && longCall.ok && deregisterMs <= 1000 && exit.code === 0
    recordFigure({
      scenario: 'SIGTERM 1 of 3 nodes under load',
      subject: transport,
      measured:
        `${fmt(calls.length)} calls (${fmt(rate(calls))}/s, ${CALLERS} callers); the 2 s call in flight ` +
        `${longCall.ok ? 'completed' : `failed (${longCall.error?.detail})`}; deregistered ${fmt(deregisterMs)} ms ` +
        `after SIGTERM, exit ${exit.code ?? exit.signal} after ${fmt(exitMs)} ms; ${failed.length} failed`,
      bound: 'in-flight calls finish; deregistered within 1 s; 0 failed',
      holds,
      values: { calls: calls.length, failed: failed.length, deregisterMs, exitMs, longCallOk: longCall.ok },
    })
    expect(longCall.error?.detail).toBeUndefined()
    expect(exit.code).toBe(0)
    expect(deregisterMs).toBeLessThanOrEqual(1000)
    expect(failed.map((c) => c.error?.detail)).toEqual([])
  })
})
