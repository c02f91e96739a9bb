/**
 * Stores against their raw drivers: each store plugin and the driver it is built on, on the same
 * server, 1 KiB values, read / write / list with a prefix (100 of 1,000 keys) at c = 1 and 16,
 * interleaved round by round. Ours must stay within 0.9× of the raw driver.
 */
import { canConnect } from '@micro-ts/conformance/testing'
import { type BenchEnv, nodeChild, nodeFlags } from './env.js'
import type { Progress, Settings } from './measure.js'
import { startOwnStore } from './own-stores.js'
import type { Child } from './proc.js'
import type { Target } from './report.js'
import { firstLine, interleave, logRerun } from './rounds.js'
import { placeStore, shield } from './shield.js'
import {
  bothVerdict,
  formatRatio,
  formatSpread,
  median,
  type PrintedRatio,
  pairedRatio,
  type Spread,
  verdictOf,
} from './steady.js'
import type { StoreConfig, StoreKind } from './store-driver.js'

export type Backend = 'postgres' | 'mysql' | 'redis'

export interface StoreContender {
  name: string
  group: 'ours' | 'raw'
  kind: StoreKind
  backend: Backend
  what: string
}

export const STORE_CONTENDERS: StoreContender[] = [
  {
    name: 'ours-postgres',
    group: 'ours',
    kind: 'ours-postgres',
    backend: 'postgres',
    what: '@micro-ts/store-postgres (pg Pool of 10): read / write / list({prefix})',
  },
  {
    name: 'raw-pg',
    group: 'raw',
    kind: 'raw-pg',
    backend: 'postgres',
    what: 'pg Pool of 10 by hand on a table of the same layout: SELECT value / INSERT … ON CONFLICT / SELECT key … LIKE',
  },
  {
    name: 'ours-mysql',
    group: 'ours',
    kind: 'ours-mysql',
    backend: 'mysql',
    what: '@micro-ts/store-mysql (mysql2 pool of 10, prepared statements)',
  },
  {
    name: 'raw-mysql2',
    group: 'raw',
    kind: 'raw-mysql2',
    backend: 'mysql',
    what: 'mysql2 pool of 10 by hand (execute) on a table of the same layout',
  },
  {
    name: 'ours-redis',
    group: 'ours',
    kind: 'ours-redis',
    backend: 'redis',
    what: '@micro-ts/store-redis (ioredis, one connection)',
  },
  {
    name: 'raw-ioredis',
    group: 'raw',
    kind: 'raw-ioredis',
    backend: 'redis',
    what: 'ioredis by hand: GET / SET / SCAN MATCH (COUNT 1000), sorted',
  },
]

export const STORE_OPS = ['read', 'write', 'list'] as const
export type StoreOp = (typeof STORE_OPS)[number]
export const STORE_CONCURRENCY = [1, 16] as const
const POOL = 10

/** The server of each backend: BENCH_<NAME>_URL, else the test suites' MICRO_TEST_* address, else the machine's. */
export function storeAddress(b: Backend): string {
  const e = process.env
  if (b === 'postgres')
    return (
      e.BENCH_POSTGRES_URL ?? e.MICRO_TEST_POSTGRES_ADDRESS ?? 'postgresql://postgres@127.0.0.1:5432/test'
    )
  if (b === 'mysql')
    return e.BENCH_MYSQL_URL ?? e.MICRO_TEST_MYSQL_ADDRESS ?? 'mysql://root@127.0.0.1:3306/test'
  return e.BENCH_REDIS_URL ?? e.MICRO_TEST_REDIS_ADDRESS ?? 'redis://127.0.0.1:6379'
}

/** BENCH_<NAME>_URL names the server to use: then the run starts none of its own for that backend. */
export function storeNamed(b: Backend): boolean {
  return Boolean(process.env[`BENCH_${b.toUpperCase()}_URL`])
}

/** Why the server at `address` cannot be used, or undefined when it answers on loopback. */
export async function storeMissing(b: Backend, address = storeAddress(b)): Promise<string | undefined> {
  const url = new URL(address)
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) return `${b} must be on loopback, got ${address}`
  const port = Number(url.port || { postgres: 5432, mysql: 3306, redis: 6379 }[b])
  return (await canConnect(host, port))
    ? undefined
    : `no ${b} server answers at ${host}:${port} (bash scripts/backends.sh ${b === 'mysql' ? 'mariadb' : b})`
}

/**
 * The server a backend's rows run against: one of the run's own when it is shielded and no
 * BENCH_<NAME>_URL names one (own-stores.ts), else storeAddress's. A server of its own that cannot
 * start is a note in the shield (and a warning), and the machine's is used.
 */
async function serverFor(
  b: Backend,
  progress: Progress,
): Promise<{ address: string; pid?: number; stop(): Promise<void> }> {
  const sh = shield()
  if (!sh.raised || storeNamed(b)) return { address: storeAddress(b), stop: async () => {} }
  const own = await startOwnStore(b)
  if ('missing' in own) {
    sh.notes.push(
      `${b}: the machine's own at ${storeAddress(b)}, as its own server did not start: ${own.missing}`,
    )
    progress(`warning: ${sh.notes.at(-1)}`)
    return { address: storeAddress(b), stop: async () => {} }
  }
  sh.ownStores = [...(sh.ownStores ?? []), own.what]
  progress(`store ${b}: ${own.what} of the run's own at ${own.url}`)
  return { address: own.url, pid: own.pid, stop: own.stop }
}

export interface StoreRow {
  contender: string
  group: string
  backend: Backend
  op: StoreOp
  concurrency: number
  /** Median of the rounds. */
  opsPerSec: number
  rounds: number[]
  p50: number
  p99: number
  /** CPU time of the driver process per operation, each round, µs (the database's own is not counted). */
  clientCpuUs: number[]
  errors: number
  firstError?: string
}

const num = (r: Record<string, unknown>, k: string) => Number(r[k] ?? 0)

/** Every selected store contender, per backend: both drivers started and seeded, then each cell interleaved. */
export async function runStores(
  env: BenchEnv,
  contenders: StoreContender[],
  s: Settings,
  progress: Progress,
  onFailed: (c: StoreContender, reason: string) => void,
): Promise<StoreRow[]> {
  const rows: StoreRow[] = []
  const roundMs = Math.max(200, Math.round(s.roundMs / 2))
  for (const backend of ['postgres', 'mysql', 'redis'] as const) {
    const group = contenders.filter((c) => c.backend === backend)
    if (group.length === 0) continue
    const server = await serverFor(backend, progress)
    const missing = await storeMissing(backend, server.address)
    if (missing) {
      for (const c of group) onFailed(c, missing)
      await server.stop()
      continue
    }
    const drivers = new Map<StoreContender, Child>()
    try {
      for (const c of group) {
        const config: StoreConfig = {
          address: server.address,
          database: backend === 'mysql' ? new URL(server.address).pathname.slice(1) || 'test' : 'bench',
          table: `bench_${env.runId}_${c.kind.replace(/-/g, '_')}`,
          connections: POOL,
        }
        const child = nodeChild(
          `${c.name} store driver`,
          'store-driver.js',
          [c.kind, JSON.stringify(config)],
          nodeFlags(env, `${c.name}-store`, c.group === 'ours'),
        )
        try {
          await child.ready()
          await child.request('seed', {}, 300_000)
          drivers.set(c, child)
        } catch (e) {
          await child.stop()
          onFailed(c, firstLine(e))
        }
      }
      try {
        if (placeStore([...drivers.values()], server.pid))
          progress(
            `store ${backend}: drivers on CPU ${shield().cpus?.[0]}, the server on CPU ${shield().cpus?.[1]}`,
          )
      } catch (e) {
        shield().notes.push(`${backend} store rows not pinned: ${firstLine(e)}`)
        progress(`warning: ${shield().notes.at(-1)}`)
      }
      for (const op of STORE_OPS) {
        for (const concurrency of STORE_CONCURRENCY) {
          const live = group.filter((c) => drivers.has(c))
          const results = await interleave({
            onRerun: logRerun(progress, 'store'),
            contenders: live,
            rounds: s.rounds,
            warm: async (c) => {
              await drivers.get(c)!.request('run', { op, concurrency, durationMs: s.warmupMs })
            },
            round: async (c) => {
              const d = drivers.get(c)!
              await d.request('run', { op, concurrency, durationMs: Math.min(300, s.warmupMs) })
              await d.request('reset')
              const cpu0 = d.cpuMs() ?? 0
              const res = await d.request('run', { op, concurrency, durationMs: roundMs })
              const cpu1 = d.cpuMs() ?? 0
              const stats = await d.request('stats')
              const calls = num(res, 'calls')
              return {
                rate: (calls / num(res, 'elapsedMs')) * 1000,
                cpu: calls > 0 ? ((cpu1 - cpu0) * 1000) / calls : Number.NaN,
                errors: num(res, 'errors'),
                firstError: res.firstError as string | undefined,
                p50: num(stats, 'p50'),
                p99: num(stats, 'p99'),
              }
            },
            onFailed: async (c, reason) => {
              onFailed(c, reason)
              await drivers.get(c)?.stop()
              drivers.delete(c)
            },
          })
          for (const [c, rs] of results) {
            const row: StoreRow = {
              contender: c.name,
              group: c.group,
              backend,
              op,
              concurrency,
              opsPerSec: median(rs.map((x) => x.rate)),
              rounds: rs.map((x) => x.rate),
              p50: median(rs.map((x) => x.p50)),
              p99: median(rs.map((x) => x.p99)),
              clientCpuUs: rs.map((x) => x.cpu),
              errors: rs.reduce((n, x) => n + x.errors, 0),
              firstError: rs.find((x) => x.firstError)?.firstError,
            }
            rows.push(row)
            progress(
              `store ${c.name} ${op} c=${concurrency}: ${Math.round(row.opsPerSec)} ops/s (rounds ${row.rounds.map((v) => Math.round(v)).join(' ')}), p99 ${row.p99.toFixed(2)} ms, ${median(row.clientCpuUs).toFixed(0)} µs client CPU per op${row.errors ? `, ${row.errors} errors (${row.firstError})` : ''}`,
            )
          }
        }
      }
    } finally {
      await Promise.all([...drivers.values()].map((d) => d.stop()))
      await server.stop()
    }
  }
  return rows
}

const RAW_OF: Record<Backend, [string, string]> = {
  postgres: ['ours-postgres', 'raw-pg'],
  mysql: ['ours-mysql', 'raw-mysql2'],
  redis: ['ours-redis', 'raw-ioredis'],
}

/** ours ÷ raw ops/s of one cell, per round. */
function storeRatio(rows: StoreRow[], b: Backend, op: StoreOp, c: number): Spread | undefined {
  const [ours, raw] = RAW_OF[b]
  const a = rows.find((q) => q.contender === ours && q.op === op && q.concurrency === c)
  const r = rows.find((q) => q.contender === raw && q.op === op && q.concurrency === c)
  return a && r ? pairedRatio(a.rounds, r.rounds) : undefined
}

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2))

/** One table: a row per contender, op and concurrency, with ours ÷ raw per round. */
export function storeTable(rows: StoreRow[]): { title: string; head: string[]; rows: string[][] } {
  return {
    title: 'Stores against their raw drivers (1 KiB values; list: 100 of 1,000 keys by prefix)',
    head: [
      'contender',
      'op',
      'c',
      'ops/s',
      'p50 ms',
      'p99 ms',
      'client CPU µs/op',
      'ours ÷ raw, ops/s',
      'ours ÷ raw, client CPU',
    ],
    rows: rows.map((q) => {
      const [ours, raw] = RAW_OF[q.backend]
      const mine = q.contender === ours
      const r = rows.find((z) => z.contender === raw && z.op === q.op && z.concurrency === q.concurrency)
      return [
        q.errors ? `${q.contender} ⚠${q.errors} errors` : q.contender,
        q.op,
        String(q.concurrency),
        Math.round(q.opsPerSec).toLocaleString('en-US'),
        fmt(q.p50),
        fmt(q.p99),
        formatSpread(
          {
            median: median(q.clientCpuUs),
            min: Math.min(...q.clientCpuUs),
            max: Math.max(...q.clientCpuUs),
            n: q.clientCpuUs.length,
          },
          (v) => v.toFixed(0),
        ),
        mine ? formatRatio(storeRatio(rows, q.backend, q.op, q.concurrency)) : '',
        mine && r ? formatRatio(pairedRatio(q.clientCpuUs, r.clientCpuUs)) : '',
      ]
    }),
  }
}

/** Every ours ÷ raw ratio the store table prints (ops/s and client CPU), for compare.ts. */
export function storeRatios(rows: StoreRow[]): PrintedRatio[] {
  const out: PrintedRatio[] = []
  for (const q of rows) {
    const [ours, raw] = RAW_OF[q.backend]
    if (q.contender !== ours) continue
    const r = rows.find((z) => z.contender === raw && z.op === q.op && z.concurrency === q.concurrency)
    if (!r) continue
    const cell = `${q.op} c=${q.concurrency}`
    const ops = storeRatio(rows, q.backend, q.op, q.concurrency)
    const cpu = pairedRatio(q.clientCpuUs, r.clientCpuUs)
    if (ops) out.push({ label: `store ${ours} ÷ ${raw}, ops/s`, cell, spread: ops })
    if (cpu) out.push({ label: `store ${ours} ÷ ${raw}, client CPU`, cell, spread: cpu })
  }
  return out
}

/** Every store ≥ 0.9× its raw driver: each cell's spread decides; the store's verdict is all of them. */
export function storeTargets(rows: StoreRow[]): Target[] {
  const targets: Target[] = []
  for (const b of ['postgres', 'mysql', 'redis'] as const) {
    const [ours, raw] = RAW_OF[b]
    if (!rows.some((q) => q.contender === ours) || !rows.some((q) => q.contender === raw)) continue
    const cells: { label: string; s: Spread }[] = []
    for (const op of STORE_OPS)
      for (const c of STORE_CONCURRENCY) {
        const s = storeRatio(rows, b, op, c)
        if (s) cells.push({ label: `${op} c=${c}`, s })
      }
    const verdicts = cells.map((x) => verdictOf(x.s, (v) => v >= 0.9))
    const verdict = bothVerdict(verdicts)
    const worst = [...cells].sort((x, y) => x.s.median - y.s.median)[0]
    // The cells whose whole range is below the target: the ones that decide a "missed".
    const below = cells.filter((_, i) => verdicts[i] === 'missed')
    const errors = rows.filter((q) => q.contender === ours).reduce((n, q) => n + q.errors, 0)
    targets.push({
      target: `store-${b} ≥ 0.9× ${raw}, ops/s (read, write, list; c=1 and 16)`,
      measured: worst
        ? `lowest ${worst.label} ${formatRatio(worst.s)}; ${cells.map((x) => `${x.label} ${x.s.median.toFixed(2)}×`).join(', ')}${below.length ? `; wholly below 0.9×: ${below.map((x) => `${x.label} ${formatRatio(x.s)}`).join(', ')}` : ''}`
        : 'not measured',
      met: errors > 0 ? false : verdict === 'met' ? true : verdict === 'missed' ? false : undefined,
      verdict: errors > 0 ? 'missed' : verdict,
    })
  }
  return targets
}
