/**
 * Registry lookups at scale: `getService` of one service with 10 to 10,000 nodes in etcd, our
 * registry against the etcd3 client reading the same prefix by hand, each contender in its own
 * process. The cost per node should stay flat as the node count grows (a merge that is quadratic
 * in the nodes took 7 s for 10,000).
 */
import { canConnect } from '@micro-ts/conformance/testing'
import { type BenchEnv, nodeChild, nodeFlags } from './env.js'
import { median, type Settings } from './measure.js'
import type { Target } from './report.js'

/** What a registry driver is started with. */
export interface RegistryConfig {
  /** etcd endpoint, `host:port`. */
  etcd: string
  /** The service whose records the driver writes and looks up (unique to the run and contender). */
  service: string
}

export interface RegistryContender {
  name: string
  group: 'ours' | 'raw'
  what: string
  /** The registry-driver kind. */
  kind: string
}

export const REGISTRY_CONTENDERS: RegistryContender[] = [
  {
    name: 'ours-etcd',
    group: 'ours',
    kind: 'ours',
    what: '@micro-ts/registry-etcd getService: the prefix read in pages, records decoded and merged into one Service',
  },
  {
    name: 'raw-etcd3',
    group: 'raw',
    kind: 'raw-etcd3',
    what: 'the etcd3 client: one range over the prefix, JSON.parse of each record, no merge (the floor)',
  },
]

/** Node counts per lookup. */
export const REGISTRY_NODES = [10, 100, 1000, 10_000] as const

export interface RegistryRow {
  contender: string
  group: string
  nodes: number
  /** Median of the rounds. */
  lookupsPerSec: number
  rounds: number[]
  /** Median time of one lookup, ms. */
  msPerLookup: number
  /** msPerLookup per node, µs: flat when the cost is linear. */
  usPerNode: number
  /** Longest the driver's event loop was blocked during the rounds, ms. */
  maxDelayMs: number
}

/** `BENCH_ETCD_ADDRESS`, default 127.0.0.1:2379 (where scripts/backends.sh starts etcd). */
export function etcdAddress(): string {
  return process.env.BENCH_ETCD_ADDRESS ?? '127.0.0.1:2379'
}

/** Why etcd cannot be used, or undefined when it answers on loopback. */
export async function etcdMissing(): Promise<string | undefined> {
  const address = etcdAddress()
  const i = address.lastIndexOf(':')
  const host = address.slice(0, i)
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host))
    return `BENCH_ETCD_ADDRESS must be on loopback, got ${address}`
  return (await canConnect(host.replace(/^\[|\]$/g, ''), Number(address.slice(i + 1))))
    ? undefined
    : `no etcd answers at ${address} (bash scripts/backends.sh etcd)`
}

/** One contender: seed each node count, warm up, then `rounds` timed rounds of back-to-back lookups. */
export async function runRegistry(
  env: BenchEnv,
  contender: RegistryContender,
  s: Settings,
  progress: (line: string) => void,
): Promise<RegistryRow[]> {
  const config: RegistryConfig = { etcd: etcdAddress(), service: `bench.${env.runId}.${contender.name}` }
  const driver = nodeChild(
    `${contender.name} driver`,
    'registry-driver.js',
    [contender.kind, JSON.stringify(config)],
    nodeFlags(env, `${contender.name}-registry`, contender.group === 'ours'),
  )
  const rows: RegistryRow[] = []
  try {
    await driver.ready()
    for (const nodes of REGISTRY_NODES) {
      await driver.request('seed', { nodes }, 300_000)
      await driver.request('run', { durationMs: s.warmupMs }, 300_000)
      const rates: number[] = []
      const times: number[] = []
      let maxDelayMs = 0
      for (let r = 0; r < s.rounds; r++) {
        const res = await driver.request('run', { durationMs: s.roundMs }, 300_000)
        const lookups = Number(res.lookups)
        const elapsedMs = Number(res.elapsedMs)
        rates.push((lookups / elapsedMs) * 1000)
        times.push(elapsedMs / lookups)
        maxDelayMs = Math.max(maxDelayMs, Number(res.maxDelayMs))
      }
      const msPerLookup = median(times)
      const row: RegistryRow = {
        contender: contender.name,
        group: contender.group,
        nodes,
        lookupsPerSec: median(rates),
        rounds: rates,
        msPerLookup,
        usPerNode: (msPerLookup * 1000) / nodes,
        maxDelayMs,
      }
      rows.push(row)
      progress(
        `registry ${contender.name} ${nodes} nodes: ${msPerLookup.toFixed(2)} ms per lookup, ${row.usPerNode.toFixed(2)} µs per node, event loop blocked ≤ ${maxDelayMs.toFixed(0)} ms`,
      )
    }
  } finally {
    await driver.stop()
  }
  return rows
}

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2))

/** The table of the report: one row per contender and node count, with ours ÷ raw per cell. */
export function registryTable(rows: RegistryRow[]): { title: string; head: string[]; rows: string[][] } {
  return {
    title: 'Registry lookups (etcd, one service)',
    head: [
      'contender',
      'nodes',
      'lookups/s',
      'ms per lookup',
      'µs per node',
      'ours ÷ raw-etcd3, time',
      'max event-loop delay ms',
    ],
    rows: rows.map((q) => {
      const raw = rows.find((z) => z.contender === 'raw-etcd3' && z.nodes === q.nodes)
      const vsRaw = q.group === 'ours' && raw ? `${(q.msPerLookup / raw.msPerLookup).toFixed(2)}×` : ''
      return [
        q.contender,
        q.nodes.toLocaleString('en-US'),
        fmt(q.lookupsPerSec),
        fmt(q.msPerLookup),
        fmt(q.usPerNode),
        vsRaw,
        fmt(q.maxDelayMs),
      ]
    }),
  }
}

/**
 * The target: our cost per node stays flat up to 10,000 nodes. Read at the large end, where the
 * lookup's fixed cost (a round trip) no longer dominates: µs per node at 10,000 ≤ 1.5× at 1,000
 * (a quadratic merge would be about 10×).
 */
export function registryTargets(rows: RegistryRow[]): Target[] {
  const at = (n: number) => rows.find((q) => q.contender === 'ours-etcd' && q.nodes === n)
  const big = at(10_000)
  const mid = at(1000)
  const ratio = big && mid ? big.usPerNode / mid.usPerNode : undefined
  return [
    {
      target:
        'registry-etcd getService: cost per node flat up to 10,000 nodes (µs per node at 10,000 ≤ 1.5× at 1,000)',
      measured:
        ratio === undefined || !big || !mid
          ? 'not measured'
          : `${fmt(mid.usPerNode)} → ${fmt(big.usPerNode)} µs per node: ${ratio.toFixed(2)}×`,
      met: ratio === undefined ? undefined : ratio <= 1.5,
    },
  ]
}
