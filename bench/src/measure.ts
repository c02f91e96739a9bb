/**
 * The scenarios: how each contender is measured. Every cell is a warm-up followed by several
 * timed rounds; calls/s is the median round, latency percentiles cover every measured call, and
 * the server's RSS is sampled from /proc throughout the rounds.
 */
import {
  PUBSUB_CONTENDERS,
  type PubSubContender,
  RPC_CONTENDERS,
  type RpcContender,
  type Started,
  startPubSub,
} from './contenders.js'
import type { BenchEnv } from './env.js'
import type { PayloadKind } from './payloads.js'
import { type Child, type Reply, RssSampler } from './proc.js'
import { logRerun, unstalled } from './rounds.js'
import { placeRpc } from './shield.js'
import { median } from './steady.js'

export interface Settings {
  rounds: number
  /** Rounds of the RPC cells at c > 1: their per-round ratios spread most (bench/README.md). */
  busyRounds?: number
  roundMs: number
  warmupMs: number
  concurrency: number[]
  payloads: PayloadKind[]
  soakCalls: number
  /** Pub/sub: most messages published but not yet received. */
  window: number
  /** Callgrind: calls per counted window, and uncounted calls before them. */
  callgrindCalls?: number
  callgrindWarmup?: number
}

export interface RpcRow {
  contender: string
  group: string
  payload: PayloadKind
  concurrency: number
  /** Median of the rounds. */
  callsPerSec: number
  rounds: number[]
  p50: number
  p99: number
  max: number
  errors: number
  firstError?: string
  /** Peak RSS of the server process(es) during the rounds, bytes. */
  serverRss: number
  /** p99 latency of each round, ms (`p50`/`p99` are the medians of the rounds'). */
  p99Rounds?: number[]
  /** Peak server RSS of each round, bytes. */
  rssRounds?: number[]
  /** CPU time of the client process per call, each round, µs (from /proc). */
  clientCpuUs?: number[]
  /** CPU time of the server process(es) per call, each round, µs (from /proc). */
  serverCpuUs?: number[]
  /** Rounds run again because the machine stalled during them (rounds.ts `unstalled`). */
  reruns?: number
  /** Client and server pinned to a CPU each (shield.ts, `machine.shield.cpus`); false: where the scheduler put them. */
  pinned?: boolean
}

export interface Unavailable {
  scenario: string
  contender: string
  status: 'todo' | 'skipped' | 'failed'
  reason: string
}

export interface PubSubRow {
  contender: string
  group: string
  payload: PayloadKind
  /** Median of the rounds: messages received per second, first publish to last receive. */
  msgsPerSec: number
  rounds: number[]
  published: number
  lost: number
  /** Peak RSS of the subscriber process, bytes. */
  subscriberRss: number
  /** CPU time of publisher + subscriber per message received, each round, µs (from /proc). */
  cpuUs?: number[]
  /** Rounds run again because the machine stalled during them. */
  reruns?: number
}

export interface SelectorRow {
  mode: 'selector' | 'address'
  concurrency: number
  callsPerSec: number
  rounds: number[]
  p50: number
  p99: number
}

export interface SoakRow {
  contender: string
  concurrency: number
  /** Calls made after the warm-up, cumulative, at each checkpoint. */
  calls: number[]
  /** Server RSS at each checkpoint (before GC), bytes. */
  rss: number[]
  /** Server heap used after a full GC at each checkpoint, bytes. */
  heapAfterGc: number[]
  peakRss: number
  errors: number
}

export { median }

const num = (r: Reply, k: string) => Number(r[k] ?? 0)

export type Progress = (line: string) => void

async function stopAll(children: Child[]): Promise<void> {
  await Promise.all(children.map((c) => c.stop()))
}

/** A contender of an interleaved cell, running: its processes, and whether it is still usable. */
interface Running {
  contender: RpcContender
  started: Started
  /** Client and server pinned to a CPU each (see shield.ts). */
  pinned: boolean
  failed?: string
}

/** What one measured round of one contender gave. */
interface RoundResult {
  rate: number
  calls: number
  errors: number
  firstError?: string
  p50: number
  p99: number
  max: number
  clientCpuUs: number
  serverCpuUs: number
  serverRss: number
}

/** Sum of the CPU ms of children that can be read (undefined if none can). */
function cpuOf(children: Child[]): number {
  let total = 0
  for (const c of children) total += c.cpuMs() ?? 0
  return total
}

/**
 * One round of one contender: a short unmeasured run (connections closed while the other
 * contenders ran are opened again, the JIT is warm again), then the measured run, with the CPU
 * time of its driver and its server(s) read from /proc before and after and the servers' RSS
 * sampled throughout.
 */
async function rpcRound(
  r: Running,
  payload: PayloadKind,
  concurrency: number,
  s: Settings,
): Promise<RoundResult> {
  const { driver, servers } = r.started
  await driver.request('run', { payload, concurrency, durationMs: rewarmMs(s) })
  await driver.request('reset')
  const sampler = new RssSampler(servers)
  const client0 = driver.cpuMs() ?? 0
  const server0 = cpuOf(servers)
  const res = await driver.request('run', { payload, concurrency, durationMs: s.roundMs })
  const client1 = driver.cpuMs() ?? 0
  const server1 = cpuOf(servers)
  const serverRss = sampler.stop()
  const stats = await driver.request('stats')
  const calls = num(res, 'calls')
  const perCall = (ms: number) => (calls > 0 ? (ms * 1000) / calls : Number.NaN)
  return {
    rate: (calls / num(res, 'elapsedMs')) * 1000,
    calls,
    errors: num(res, 'errors'),
    firstError: res.firstError as string | undefined,
    p50: num(stats, 'p50'),
    p99: num(stats, 'p99'),
    max: num(stats, 'max'),
    clientCpuUs: perCall(client1 - client0),
    serverCpuUs: perCall(server1 - server0),
    serverRss,
  }
}

/** The unmeasured run before each measured round. */
export const rewarmMs = (s: Settings) => Math.min(300, s.warmupMs)

/**
 * Every selected RPC contender at once, interleaved: all are started, then for each
 * (payload, concurrency) cell each one warms up, and the rounds go A B C A B C ... so every ratio
 * can be taken round by round (see steady.ts). A contender that fails to start or dies is
 * reported through `onFailed` and left out of the cells after that.
 */
export async function runRpcInterleaved(
  env: BenchEnv,
  contenders: RpcContender[],
  s: Settings,
  progress: Progress,
  onFailed: (contender: RpcContender, reason: string) => void,
): Promise<RpcRow[]> {
  const running: Running[] = []
  const fail = async (r: Running, e: unknown) => {
    r.failed = (e as Error).message.split('\n')[0].slice(0, 400)
    progress(`rpc ${r.contender.name}: FAILED: ${r.failed}`)
    onFailed(r.contender, r.failed)
    await stopAll([r.started.driver, ...r.started.servers])
  }
  const rows: RpcRow[] = []
  try {
    for (const contender of contenders) {
      try {
        const started = await contender.start(env)
        try {
          running.push({ contender, started, pinned: placeRpc(started.driver, started.servers) })
        } catch (e) {
          await stopAll([started.driver, ...started.servers])
          throw e
        }
      } catch (e) {
        const reason = (e as Error).message.split('\n')[0].slice(0, 400)
        progress(`rpc ${contender.name}: FAILED to start: ${reason}`)
        onFailed(contender, reason)
      }
    }
    for (const payload of s.payloads) {
      for (const concurrency of s.concurrency) {
        const live = () => running.filter((r) => !r.failed)
        for (const r of live()) {
          try {
            await r.started.driver.request('run', { payload, concurrency, durationMs: s.warmupMs })
          } catch (e) {
            await fail(r, e)
          }
        }
        const results = new Map<Running, RoundResult[]>()
        const reruns = new Map<Running, number>()
        const rounds = concurrency > 1 ? (s.busyRounds ?? s.rounds) : s.rounds
        for (let round = 0; round < rounds; round++) {
          for (const r of live()) {
            try {
              const res = await unstalled(
                () => rpcRound(r, payload, concurrency, s),
                (ms) => {
                  reruns.set(r, (reruns.get(r) ?? 0) + 1)
                  logRerun(progress, `rpc ${payload} c=${concurrency}`)(r.contender, round, ms)
                },
              )
              results.set(r, [...(results.get(r) ?? []), res])
            } catch (e) {
              await fail(r, e)
            }
          }
        }
        for (const r of live()) {
          const rs = results.get(r) ?? []
          if (rs.length === 0) continue
          const errors = rs.reduce((n, x) => n + x.errors, 0)
          const row: RpcRow = {
            contender: r.contender.name,
            group: r.contender.group,
            payload,
            concurrency,
            callsPerSec: median(rs.map((x) => x.rate)),
            rounds: rs.map((x) => x.rate),
            p50: median(rs.map((x) => x.p50)),
            p99: median(rs.map((x) => x.p99)),
            p99Rounds: rs.map((x) => x.p99),
            max: Math.max(...rs.map((x) => x.max)),
            errors,
            firstError: rs.find((x) => x.firstError)?.firstError,
            serverRss: Math.max(...rs.map((x) => x.serverRss)),
            rssRounds: rs.map((x) => x.serverRss),
            clientCpuUs: rs.map((x) => x.clientCpuUs),
            serverCpuUs: rs.map((x) => x.serverCpuUs),
            reruns: reruns.get(r) ?? 0,
            pinned: r.pinned,
          }
          rows.push(row)
          const cpu = median(rs.map((x) => x.clientCpuUs + x.serverCpuUs))
          progress(
            `rpc ${row.contender} ${payload} c=${concurrency}: ${Math.round(row.callsPerSec)} calls/s (rounds ${row.rounds.map((v) => Math.round(v)).join(' ')}), p99 ${row.p99.toFixed(2)} ms, ${cpu.toFixed(0)} µs CPU per call, server ${(row.serverRss / 2 ** 20).toFixed(0)} MiB${row.reruns ? `, ${row.reruns} rounds re-run` : ''}${errors ? `, ${errors} errors (${row.firstError})` : ''}`,
          )
        }
      }
    }
  } finally {
    await stopAll(running.filter((r) => !r.failed).flatMap((r) => [r.started.driver, ...r.started.servers]))
  }
  return rows
}

/**
 * Selector cost: the same warm client calls the same server with and without `address`,
 * alternating round by round so drift on the machine hits both modes alike.
 */
export async function runSelector(env: BenchEnv, s: Settings, progress: Progress): Promise<SelectorRow[]> {
  const contender = RPC_CONTENDERS.find((c) => c.name === 'ours-http')!
  const { servers, driver } = await contender.start(env)
  const rows: SelectorRow[] = []
  try {
    for (const concurrency of s.concurrency) {
      const acc = {
        selector: { rates: [] as number[], p50: [] as number[], p99: [] as number[] },
        address: { rates: [] as number[], p50: [] as number[], p99: [] as number[] },
      }
      for (const mode of ['selector', 'address'] as const) {
        await driver.request('run', {
          payload: 'greeter',
          concurrency,
          durationMs: s.warmupMs,
          viaAddress: mode === 'address',
        })
      }
      for (let r = 0; r < s.rounds; r++) {
        for (const mode of r % 2 ? (['address', 'selector'] as const) : (['selector', 'address'] as const)) {
          await driver.request('reset')
          const res = await driver.request('run', {
            payload: 'greeter',
            concurrency,
            durationMs: s.roundMs,
            viaAddress: mode === 'address',
          })
          if (num(res, 'errors') > 0) throw new Error(`selector ${mode}: ${res.firstError}`)
          const stats = await driver.request('stats')
          acc[mode].rates.push((num(res, 'calls') / num(res, 'elapsedMs')) * 1000)
          acc[mode].p50.push(num(stats, 'p50'))
          acc[mode].p99.push(num(stats, 'p99'))
        }
      }
      for (const mode of ['selector', 'address'] as const) {
        const row: SelectorRow = {
          mode,
          concurrency,
          callsPerSec: median(acc[mode].rates),
          rounds: acc[mode].rates,
          p50: median(acc[mode].p50),
          p99: median(acc[mode].p99),
        }
        rows.push(row)
        progress(`selector ${mode} c=${concurrency}: ${Math.round(row.callsPerSec)} calls/s`)
      }
    }
  } finally {
    await stopAll([driver, ...servers])
  }
  return rows
}

/** One pub/sub contender, running. */
interface RunningPubSub {
  contender: PubSubContender
  publisher: Child
  subscriber: Child
  failed?: string
}

/**
 * Publish for one round under the credit window; the subscriber's receive rate is the result,
 * with the CPU time of both processes per message received.
 */
async function pubsubRound(r: RunningPubSub, payload: PayloadKind, durationMs: number, s: Settings) {
  const { publisher, subscriber } = r
  await subscriber.request('reset')
  const cpu0 = cpuOf([publisher, subscriber])
  const pub = await publisher.request('run', { payload, durationMs, window: s.window }, durationMs + 60_000)
  const published = num(pub, 'published')
  const sub = await subscriber.request('wait', { count: published, timeoutMs: 10_000 }, 30_000)
  const cpu1 = cpuOf([publisher, subscriber])
  const received = num(sub, 'received')
  if (num(sub, 'bad') > 0) throw new Error(`${r.contender.name}: ${sub.bad} messages arrived altered`)
  return {
    published,
    received,
    rate: received > 0 ? (received / (num(sub, 'lastAt') - num(pub, 'startAt'))) * 1000 : 0,
    cpuUs: received > 0 ? ((cpu1 - cpu0) * 1000) / received : Number.NaN,
  }
}

/**
 * Every selected pub/sub contender at once, interleaved as the RPC cells are: all started, then
 * per payload a warm-up each and rounds A B C A B C ...
 */
export async function runPubSubInterleaved(
  env: BenchEnv,
  contenders: PubSubContender[],
  s: Settings,
  progress: Progress,
  onFailed: (contender: PubSubContender, reason: string) => void,
): Promise<PubSubRow[]> {
  const running: RunningPubSub[] = []
  const fail = async (r: RunningPubSub, e: unknown) => {
    r.failed = (e as Error).message.split('\n')[0].slice(0, 400)
    progress(`pubsub ${r.contender.name}: FAILED: ${r.failed}`)
    onFailed(r.contender, r.failed)
    await stopAll([r.publisher, r.subscriber])
  }
  const rows: PubSubRow[] = []
  const live = () => running.filter((r) => !r.failed)
  try {
    for (const contender of contenders) {
      try {
        const { publisher, subscriber } = await startPubSub(env, contender)
        subscriber.onEvent((line) => {
          if (line.event === 'progress') publisher.notify('credit', { received: line.received })
        })
        running.push({ contender, publisher, subscriber })
      } catch (e) {
        const reason = (e as Error).message.split('\n')[0].slice(0, 400)
        progress(`pubsub ${contender.name}: FAILED to start: ${reason}`)
        onFailed(contender, reason)
      }
    }
    for (const payload of s.payloads) {
      for (const r of live()) {
        try {
          await pubsubRound(r, payload, s.warmupMs, s)
        } catch (e) {
          await fail(r, e)
        }
      }
      const acc = new Map<
        RunningPubSub,
        { rates: number[]; cpu: number[]; rss: number[]; published: number; lost: number }
      >()
      const reruns = new Map<RunningPubSub, number>()
      for (let round = 0; round < s.rounds; round++) {
        for (const r of live()) {
          try {
            await pubsubRound(r, payload, rewarmMs(s), s)
            const sampler = new RssSampler([r.subscriber])
            const res = await unstalled(
              () => pubsubRound(r, payload, s.roundMs, s),
              (ms) => {
                reruns.set(r, (reruns.get(r) ?? 0) + 1)
                logRerun(progress, `pubsub ${payload}`)(r.contender, round, ms)
              },
            )
            const a = acc.get(r) ?? { rates: [], cpu: [], rss: [], published: 0, lost: 0 }
            a.rates.push(res.rate)
            a.cpu.push(res.cpuUs)
            a.rss.push(sampler.stop())
            a.published += res.published
            a.lost += res.published - res.received
            acc.set(r, a)
          } catch (e) {
            await fail(r, e)
          }
        }
      }
      for (const r of live()) {
        const a = acc.get(r)
        if (!a) continue
        const row: PubSubRow = {
          contender: r.contender.name,
          group: r.contender.group,
          payload,
          msgsPerSec: median(a.rates),
          rounds: a.rates,
          published: a.published,
          lost: a.lost,
          subscriberRss: Math.max(...a.rss),
          cpuUs: a.cpu,
          reruns: reruns.get(r) ?? 0,
        }
        rows.push(row)
        progress(
          `pubsub ${row.contender} ${payload}: ${Math.round(row.msgsPerSec)} msgs/s (rounds ${a.rates.map((v) => Math.round(v)).join(' ')}), ${median(a.cpu).toFixed(1)} µs CPU per message${a.lost ? `, ${a.lost} lost` : ''}`,
        )
      }
    }
  } finally {
    await stopAll(live().flatMap((r) => [r.publisher, r.subscriber]))
  }
  return rows
}

/**
 * Memory under sustained load: `soakCalls` calls at c=64 in four steps after a warm-up; after
 * each step the server's RSS, then its heap after a full GC (the server runs with --expose-gc).
 */
export async function runSoak(
  env: BenchEnv,
  contender: RpcContender,
  s: Settings,
  progress: Progress,
): Promise<SoakRow> {
  const soakEnv: BenchEnv = { ...env, ourNodeFlags: [...env.ourNodeFlags, '--expose-gc'] }
  const { servers, driver } = await contender.start(soakEnv)
  const [server] = servers
  const concurrency = Math.max(...s.concurrency)
  const row: SoakRow = {
    contender: contender.name,
    concurrency,
    calls: [],
    rss: [],
    heapAfterGc: [],
    peakRss: 0,
    errors: 0,
  }
  try {
    await driver.request('run', { payload: 'greeter', concurrency, calls: Math.ceil(s.soakCalls / 10) })
    const sampler = new RssSampler([server])
    const step = Math.ceil(s.soakCalls / 4)
    let total = 0
    for (let i = 0; i < 4; i++) {
      const res = await driver.request('run', { payload: 'greeter', concurrency, calls: step }, 600_000)
      await driver.request('reset')
      total += num(res, 'calls')
      row.errors += num(res, 'errors')
      row.calls.push(total)
      row.rss.push(server.rss() ?? 0)
      const mem = await server.request('mem', { gc: true })
      row.heapAfterGc.push(num(mem, 'heapUsed'))
    }
    row.peakRss = sampler.stop()
    progress(
      `soak ${contender.name}: ${total} calls, RSS ${row.rss.map((b) => (b / 2 ** 20).toFixed(1)).join(' → ')} MiB, heap after GC ${row.heapAfterGc.map((b) => (b / 2 ** 20).toFixed(2)).join(' → ')} MiB`,
    )
  } finally {
    await stopAll([driver, ...servers])
  }
  return row
}

export { PUBSUB_CONTENDERS, RPC_CONTENDERS }
