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
  startPubSub,
} from './contenders.js'
import type { BenchEnv } from './env.js'
import type { PayloadKind } from './payloads.js'
import { type Child, type Reply, RssSampler } from './proc.js'

export interface Settings {
  rounds: number
  roundMs: number
  warmupMs: number
  concurrency: number[]
  payloads: PayloadKind[]
  soakCalls: number
  /** Pub/sub: most messages published but not yet received. */
  window: number
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

/** The middle value (the mean of the two middle ones for an even count); 0 for none. */
export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0
    ? 0
    : s.length % 2
      ? s[(s.length - 1) / 2]
      : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const num = (r: Reply, k: string) => Number(r[k] ?? 0)

export type Progress = (line: string) => void

async function stopAll(children: Child[]): Promise<void> {
  await Promise.all(children.map((c) => c.stop()))
}

/** One contender: start it, measure every (payload, concurrency) cell, stop it. */
export async function runRpc(
  env: BenchEnv,
  contender: RpcContender,
  s: Settings,
  progress: Progress,
): Promise<RpcRow[]> {
  const { servers, driver } = await contender.start(env)
  const rows: RpcRow[] = []
  try {
    for (const payload of s.payloads) {
      for (const concurrency of s.concurrency) {
        await driver.request('run', { payload, concurrency, durationMs: s.warmupMs })
        await driver.request('reset')
        const sampler = new RssSampler(servers)
        const rates: number[] = []
        let errors = 0
        let firstError: string | undefined
        for (let r = 0; r < s.rounds; r++) {
          const res = await driver.request('run', { payload, concurrency, durationMs: s.roundMs })
          rates.push((num(res, 'calls') / num(res, 'elapsedMs')) * 1000)
          errors += num(res, 'errors')
          firstError ??= res.firstError as string | undefined
        }
        const serverRss = sampler.stop()
        const stats = await driver.request('stats')
        await driver.request('reset')
        const row: RpcRow = {
          contender: contender.name,
          group: contender.group,
          payload,
          concurrency,
          callsPerSec: median(rates),
          rounds: rates,
          p50: num(stats, 'p50'),
          p99: num(stats, 'p99'),
          max: num(stats, 'max'),
          errors,
          firstError,
          serverRss,
        }
        rows.push(row)
        progress(
          `rpc ${contender.name} ${payload} c=${concurrency}: ${Math.round(row.callsPerSec)} calls/s, p50 ${row.p50.toFixed(2)} ms, p99 ${row.p99.toFixed(2)} ms, server ${(serverRss / 2 ** 20).toFixed(0)} MiB${errors ? `, ${errors} errors (${firstError})` : ''}`,
        )
      }
    }
  } finally {
    await stopAll([driver, ...servers])
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

/** Publish for a round under the credit window; the subscriber's receive rate is the result. */
export async function runPubSub(
  env: BenchEnv,
  contender: PubSubContender,
  s: Settings,
  progress: Progress,
): Promise<PubSubRow[]> {
  const { publisher, subscriber } = await startPubSub(env, contender)
  subscriber.onEvent((line) => {
    if (line.event === 'progress') publisher.notify('credit', { received: line.received })
  })
  const rows: PubSubRow[] = []
  const round = async (payload: PayloadKind, durationMs: number) => {
    await subscriber.request('reset')
    const pub = await publisher.request('run', { payload, durationMs, window: s.window }, durationMs + 60_000)
    const published = num(pub, 'published')
    const sub = await subscriber.request('wait', { count: published, timeoutMs: 10_000 }, 30_000)
    const received = num(sub, 'received')
    if (num(sub, 'bad') > 0) throw new Error(`${contender.name}: ${sub.bad} messages arrived altered`)
    return {
      published,
      received,
      rate: received > 0 ? (received / (num(sub, 'lastAt') - num(pub, 'startAt'))) * 1000 : 0,
    }
  }
  try {
    for (const payload of s.payloads) {
      await round(payload, s.warmupMs)
      const sampler = new RssSampler([subscriber])
      const rates: number[] = []
      let published = 0
      let lost = 0
      for (let r = 0; r < s.rounds; r++) {
        const res = await round(payload, s.roundMs)
        rates.push(res.rate)
        published += res.published
        lost += res.published - res.received
      }
      const row: PubSubRow = {
        contender: contender.name,
        group: contender.group,
        payload,
        msgsPerSec: median(rates),
        rounds: rates,
        published,
        lost,
        subscriberRss: sampler.stop(),
      }
      rows.push(row)
      progress(
        `pubsub ${contender.name} ${payload}: ${Math.round(row.msgsPerSec)} msgs/s${lost ? `, ${lost} lost` : ''}`,
      )
    }
  } finally {
    await stopAll([publisher, subscriber])
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
