/**
 * Start-up time of a service to its first served call: a warm client process calls as fast as it
 * can while the service's process is spawned; the time is from the spawn to the first answer.
 * Ours registers in etcd and is found through the client's selector; Moleculer announces itself
 * over NATS; the raw floor is a plain node:http server on a port known in advance (Node's own
 * start-up and a listen). Rounds alternate between contenders; each round is a fresh process.
 */

import { freePort } from '@micro-ts/conformance/testing'
import type { MoleculerSettings } from './clients/types.js'
import { type BenchEnv, nodeChild, nodeFlags } from './env.js'
import type { Progress, Settings } from './measure.js'
import type { Child } from './proc.js'
import { etcdAddress, etcdMissing } from './registry.js'
import { firstLine, interleave, logRerun } from './rounds.js'
import type { ServerConfig } from './servers/types.js'
import type { StartupConfig } from './startup-driver.js'
import { formatRatio, formatSpread, median, type PrintedRatio, pairedRatio, spreadOf } from './steady.js'

export interface StartupContender {
  name: string
  group: 'ours' | 'peer' | 'raw'
  what: string
}

export const STARTUP_CONTENDERS: StartupContender[] = [
  {
    name: 'ours-http',
    group: 'ours',
    what: 'createService + handle + start (HTTP transport, etcd registry); the client finds it through its selector',
  },
  {
    name: 'moleculer-nats',
    group: 'peer',
    what: 'Moleculer ServiceBroker with the greeter service over NATS; the client calls broker.call until it answers',
  },
  {
    name: 'raw-http',
    group: 'raw',
    what: 'node:http server on a known port; the client retries until it answers',
  },
]

export interface StartupRow {
  contender: string
  group: string
  /** Spawn to first answered call, ms, per round. */
  rounds: number[]
  /** Spawn to the process's ready line (its own start-up done), ms, per round. */
  readyRounds: number[]
  attempts: number[]
}

/** Why a contender cannot run here, or undefined. */
async function startupMissing(env: BenchEnv, c: StartupContender): Promise<string | undefined> {
  if (c.name === 'ours-http') return etcdMissing()
  if (c.name === 'moleculer-nats') return env.natsMissing
  return undefined
}

export async function runStartup(
  env: BenchEnv,
  contenders: StartupContender[],
  s: Settings,
  progress: Progress,
  onFailed: (c: StartupContender, reason: string) => void,
): Promise<StartupRow[]> {
  const moleculer: MoleculerSettings = {
    kind: 'nats',
    namespace: `bench-${env.runId}-startup`,
    nats: env.natsUrl,
  }
  const drivers = new Map<StartupContender, Child>()
  const rows: StartupRow[] = []
  try {
    for (const c of contenders) {
      const missing = await startupMissing(env, c)
      if (missing) {
        onFailed(c, missing)
        continue
      }
      const kind = c.name === 'ours-http' ? 'ours' : c.name === 'moleculer-nats' ? 'moleculer' : 'raw'
      const config: StartupConfig = { etcd: etcdAddress(), moleculer }
      const d = nodeChild(`${c.name} start-up client`, 'startup-driver.js', [kind, JSON.stringify(config)])
      try {
        await d.ready()
        drivers.set(c, d)
      } catch (e) {
        await d.stop()
        onFailed(c, firstLine(e))
      }
    }
    let round = 0
    const results = await interleave({
      onRerun: logRerun(progress, 'startup'),
      contenders: contenders.filter((c) => drivers.has(c)),
      // One more than measured: the first spawn of each pays for cold file caches.
      rounds: s.rounds + 1,
      round: async (c) => {
        const d = drivers.get(c)!
        const name = `bench-startup-${env.runId}-${round++}`
        let kind: string
        let config: ServerConfig
        const probe: Record<string, unknown> = { timeoutMs: 60_000 }
        if (c.name === 'ours-http') {
          kind = 'ours'
          config = { transport: 'http', etcd: etcdAddress(), name }
          probe.service = name
        } else if (c.name === 'moleculer-nats') {
          kind = 'moleculer'
          config = { moleculer }
        } else {
          kind = 'raw-http'
          const port = await freePort()
          config = { port }
          probe.address = `127.0.0.1:${port}`
        }
        const answered = d.request('probe', probe, 90_000)
        // The client is calling (and failing) before the service's process exists.
        await new Promise((r) => setTimeout(r, 100))
        const spawnAt = Date.now()
        const server = nodeChild(
          `${c.name} start-up server`,
          'server.js',
          [kind, JSON.stringify(config)],
          nodeFlags(env, `${c.name}-startup`, c.group === 'ours'),
        )
        try {
          await server.ready(60_000)
          const readyAt = Date.now()
          const res = await answered
          return { ms: Number(res.at) - spawnAt, readyMs: readyAt - spawnAt, attempts: Number(res.attempts) }
        } finally {
          await server.stop()
          await answered.catch(() => {})
        }
      },
      onFailed: (c, reason) => onFailed(c, reason),
    })
    for (const [c, rs] of results) {
      const measured = rs.slice(1)
      const row: StartupRow = {
        contender: c.name,
        group: c.group,
        rounds: measured.map((r) => r.ms),
        readyRounds: measured.map((r) => r.readyMs),
        attempts: measured.map((r) => r.attempts),
      }
      rows.push(row)
      progress(
        `startup ${c.name}: ${median(row.rounds).toFixed(0)} ms to the first answered call (rounds ${row.rounds.map((v) => v.toFixed(0)).join(' ')}), ready line at ${median(row.readyRounds).toFixed(0)} ms`,
      )
    }
  } finally {
    await Promise.all([...drivers.values()].map((d) => d.stop()))
  }
  return rows
}

/** Every ratio the start-up table prints (ours ÷ each reference, time), for compare.ts. */
export function startupRatios(rows: StartupRow[]): PrintedRatio[] {
  const out: PrintedRatio[] = []
  for (const q of rows.filter((z) => z.group === 'ours'))
    for (const ref of ['moleculer-nats', 'raw-http']) {
      const r = rows.find((z) => z.contender === ref)
      const spread = r ? pairedRatio(q.rounds, r.rounds) : undefined
      if (spread)
        out.push({ label: `start-up ${q.contender} ÷ ${ref}, time`, cell: 'first answered call', spread })
    }
  return out
}

export function startupTable(rows: StartupRow[]): { title: string; head: string[]; rows: string[][] } {
  const ms = (v: number) => v.toFixed(0)
  const of = (name: string) => rows.find((q) => q.contender === name)
  const vs = (q: StartupRow, ref: string) => {
    const r = of(ref)
    return q.contender !== ref && r ? formatRatio(pairedRatio(q.rounds, r.rounds)) : ''
  }
  return {
    title:
      'Start-up: process spawned to its first answered call (ms; median of fresh processes, range in brackets)',
    head: [
      'contender',
      'first answered call ms',
      'process ready ms',
      'ours ÷ moleculer-nats, time',
      'ours ÷ raw-http, time',
    ],
    rows: rows.map((q) => [
      q.contender,
      formatSpread(spreadOf(q.rounds), ms),
      formatSpread(spreadOf(q.readyRounds), ms),
      q.group === 'ours' ? vs(q, 'moleculer-nats') : '',
      q.group === 'ours' ? vs(q, 'raw-http') : '',
    ]),
  }
}
