/**
 * Registries warm: a lookup of a service with 10 nodes on a connected client, back to back, and
 * the watch fan-out — one node registered or deregistered, and the time until every one of 1 or
 * 16 watchers has had an event for it — for etcd, Consul and Kubernetes, ours against the client
 * library each plugin is built on, interleaved round by round.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node'
import { canConnect } from '@micro-ts/conformance/testing'
import { type BenchEnv, benchDir, nodeChild, nodeFlags } from './env.js'
import type { Progress, Settings } from './measure.js'
import type { Child } from './proc.js'
import type { RegistriesConfig, RegistriesKind } from './registries-driver.js'
import { etcdAddress } from './registry.js'
import { firstLine, interleave, logRerun } from './rounds.js'
import { formatRatio, formatSpread, median, type PrintedRatio, pairedRatio, spreadOf } from './steady.js'

export type RegistryBackend = 'etcd' | 'consul' | 'kubernetes'

export interface RegistriesContender {
  name: RegistriesKind
  group: 'ours' | 'raw'
  backend: RegistryBackend
  what: string
}

export const REGISTRIES_CONTENDERS: RegistriesContender[] = [
  { name: 'ours-etcd', group: 'ours', backend: 'etcd', what: '@micro-ts/registry-etcd getService / watch' },
  {
    name: 'raw-etcd3',
    group: 'raw',
    backend: 'etcd',
    what: 'etcd3: range over the prefix + JSON.parse / a prefix watch',
  },
  {
    name: 'ours-consul',
    group: 'ours',
    backend: 'consul',
    what: '@micro-ts/registry-consul getService / watch',
  },
  {
    name: 'raw-consul',
    group: 'raw',
    backend: 'consul',
    what: 'consul: GET /v1/health/service/<name>?passing / its blocking-query watch',
  },
  {
    name: 'ours-kubernetes',
    group: 'ours',
    backend: 'kubernetes',
    what: '@micro-ts/registry-kubernetes getService / watch',
  },
  {
    name: 'raw-kubernetes',
    group: 'raw',
    backend: 'kubernetes',
    what: '@kubernetes/client-node: list pods by label + JSON.parse of the annotation / a pod watch',
  },
]

/** Watchers per fan-out cell. */
export const FANOUT_WATCHERS = [1, 16] as const
/** Changes per fan-out round. */
const CHANGES = 8
/** The namespace the Kubernetes rows use (made once; the run's pods are deleted afterwards). */
const K8S_NAMESPACE = 'micro-bench'

export type RegistriesCell = 'lookup' | `fanout ${number}`

export interface RegistriesRow {
  contender: string
  group: string
  backend: RegistryBackend
  cell: RegistriesCell
  /** lookup: lookups/s per round; fanout: median ms per change per round. */
  rounds: number[]
  /** Median of the rounds. */
  value: number
}

interface KubernetesAccess {
  address: string
  tokenFile: string
  caFile: string
}

/** The API server scripts/backends.sh starts: BENCH_KUBERNETES_*, else the test suites' variables, else the script's defaults. */
function kubernetesAccess(): KubernetesAccess {
  const e = process.env
  const fromScript: Record<string, string> = {}
  if (!e.BENCH_KUBERNETES_ADDRESS && !e.MICRO_TEST_KUBERNETES_ADDRESS) {
    // `kubernetes.sh env` prints where its API server, token and CA are.
    const script = join(benchDir, '..', 'scripts', 'servers', 'kubernetes.sh')
    if (existsSync(script)) {
      const r = spawnSync('bash', [script, 'env'], { encoding: 'utf8', timeout: 30_000 })
      for (const m of (r.stdout ?? '').matchAll(/export (\w+)=(\S+)/g)) fromScript[m[1]] = m[2]
    }
  }
  const pick = (name: string, fallback: string) =>
    e[`BENCH_KUBERNETES_${name}`] ??
    e[`MICRO_TEST_KUBERNETES_${name}`] ??
    fromScript[`MICRO_TEST_KUBERNETES_${name}`] ??
    fallback
  return {
    address: pick('ADDRESS', 'https://127.0.0.1:6443'),
    tokenFile: pick('TOKEN_FILE', '/tmp/micro-kubernetes/admin.token'),
    caFile: pick('CA_FILE', '/tmp/micro-kubernetes/ca.crt'),
  }
}

function consulAddress(): string {
  return process.env.BENCH_CONSUL_ADDRESS ?? process.env.MICRO_TEST_CONSUL_ADDRESS ?? '127.0.0.1:8500'
}

function adminCore(k: KubernetesAccess): CoreV1Api {
  const kc = new KubeConfig()
  kc.loadFromOptions({
    clusters: [{ name: 'bench', server: k.address, caFile: k.caFile, skipTLSVerify: false }],
    users: [{ name: 'admin', token: readFileSync(k.tokenFile, 'utf8').trim() }],
    contexts: [{ name: 'bench', cluster: 'bench', user: 'admin' }],
    currentContext: 'bench',
  })
  return kc.makeApiClient(CoreV1Api)
}

/** Why a backend cannot be used, or undefined. */
async function backendMissing(b: RegistryBackend): Promise<string | undefined> {
  const hostPort = (a: string) => {
    const u = new URL(a.includes('://') ? a : `tcp://${a}`)
    return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) }
  }
  const address = b === 'etcd' ? etcdAddress() : b === 'consul' ? consulAddress() : kubernetesAccess().address
  const { host, port } = hostPort(address)
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) return `${b} must be on loopback, got ${address}`
  const start = `bash scripts/backends.sh ${b}`
  if (!(await canConnect(host, port))) return `no ${b} answers at ${address} (${start})`
  if (b === 'kubernetes') {
    const k = kubernetesAccess()
    for (const f of [k.tokenFile, k.caFile]) if (!existsSync(f)) return `${f} is missing (${start})`
  }
  return undefined
}

const num = (r: Record<string, unknown>, k: string) => Number(r[k] ?? 0)

/** Every selected contender, per backend: both drivers set up, then the lookup and fan-out cells interleaved. */
export async function runRegistries(
  env: BenchEnv,
  contenders: RegistriesContender[],
  s: Settings,
  progress: Progress,
  onFailed: (c: RegistriesContender, reason: string) => void,
): Promise<RegistriesRow[]> {
  const rows: RegistriesRow[] = []
  const lookupMs = Math.max(200, Math.round(s.roundMs / 2))
  for (const backend of ['etcd', 'consul', 'kubernetes'] as const) {
    const group = contenders.filter((c) => c.backend === backend)
    if (group.length === 0) continue
    const missing = await backendMissing(backend)
    if (missing) {
      for (const c of group) onFailed(c, missing)
      continue
    }
    const k8s = backend === 'kubernetes' ? kubernetesAccess() : undefined
    if (k8s) {
      await adminCore(k8s)
        .createNamespace({ body: { metadata: { name: K8S_NAMESPACE } } })
        .catch((e: { code?: number }) => {
          if (e.code !== 409) throw e
        })
    }
    const drivers = new Map<RegistriesContender, Child>()
    try {
      for (const c of group) {
        const config: RegistriesConfig = {
          address: backend === 'etcd' ? etcdAddress() : backend === 'consul' ? consulAddress() : k8s!.address,
          service: `bench-${env.runId}-${c.name}`,
          kubernetes: k8s && { ...k8s, namespace: K8S_NAMESPACE, run: env.runId },
        }
        const child = nodeChild(
          `${c.name} registries driver`,
          'registries-driver.js',
          [c.name, JSON.stringify(config)],
          nodeFlags(env, `${c.name}-registries`, c.group === 'ours'),
        )
        try {
          await child.ready(60_000)
          await child.request('setup', {}, 300_000)
          drivers.set(c, child)
        } catch (e) {
          await child.stop()
          onFailed(c, firstLine(e))
        }
      }
      const failed = async (c: RegistriesContender, reason: string) => {
        onFailed(c, reason)
        await drivers.get(c)?.stop()
        drivers.delete(c)
      }
      const record = (c: RegistriesContender, cell: RegistriesCell, rounds: number[], unit: string) => {
        const row: RegistriesRow = {
          contender: c.name,
          group: c.group,
          backend,
          cell,
          rounds,
          value: median(rounds),
        }
        rows.push(row)
        progress(
          `registry ${c.name} ${cell}: ${row.value.toFixed(2)} ${unit} (rounds ${rounds.map((v) => v.toFixed(1)).join(' ')})`,
        )
      }

      const lookups = await interleave({
        onRerun: logRerun(progress, 'registry lookup'),
        contenders: group.filter((c) => drivers.has(c)),
        rounds: s.rounds,
        warm: async (c) => {
          await drivers.get(c)!.request('lookup', { durationMs: s.warmupMs }, 300_000)
        },
        round: async (c) => {
          const res = await drivers.get(c)!.request('lookup', { durationMs: lookupMs }, 300_000)
          return (num(res, 'lookups') / num(res, 'elapsedMs')) * 1000
        },
        onFailed: failed,
      })
      for (const [c, rs] of lookups) record(c, 'lookup', rs, 'lookups/s')

      for (const watchers of FANOUT_WATCHERS) {
        const cell: RegistriesCell = `fanout ${watchers}`
        const fan = await interleave({
          onRerun: logRerun(progress, 'registry fan-out'),
          contenders: group.filter((c) => drivers.has(c)),
          rounds: s.rounds,
          warm: async (c) => {
            const d = drivers.get(c)!
            await d.request('watch', { watchers }, 120_000)
            await d.request('fanout', { changes: 4 }, 300_000)
          },
          round: async (c) => {
            const res = await drivers.get(c)!.request('fanout', { changes: CHANGES }, 600_000)
            return median(res.latencies as number[])
          },
          onFailed: failed,
        })
        for (const [c, rs] of fan) record(c, cell, rs, 'ms per change')
      }
    } finally {
      await Promise.all([...drivers.values()].map((d) => d.stop()))
      if (k8s) {
        // The shared API server outlives the run: its pods go.
        await adminCore(k8s)
          .deleteCollectionNamespacedPod({
            namespace: K8S_NAMESPACE,
            labelSelector: `bench-run=${env.runId}`,
            gracePeriodSeconds: 0,
          })
          .catch((e) => progress(`registry kubernetes: deleting the run's pods failed: ${firstLine(e)}`))
      }
    }
  }
  return rows
}

const RAW_OF: Record<RegistryBackend, [string, string]> = {
  etcd: ['ours-etcd', 'raw-etcd3'],
  consul: ['ours-consul', 'raw-consul'],
  kubernetes: ['ours-kubernetes', 'raw-kubernetes'],
}

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2))

/** Every ours ÷ raw ratio the table prints, for compare.ts. */
export function registriesRatios(rows: RegistriesRow[]): PrintedRatio[] {
  const out: PrintedRatio[] = []
  for (const q of rows) {
    const [ours, raw] = RAW_OF[q.backend]
    const r = rows.find((z) => z.contender === raw && z.cell === q.cell)
    const spread = q.contender === ours && r ? pairedRatio(q.rounds, r.rounds) : undefined
    const unit = q.cell === 'lookup' ? 'lookups/s' : 'time per change'
    if (spread) out.push({ label: `registry ${ours} ÷ ${raw}, ${unit}`, cell: q.cell, spread })
  }
  return out
}

/** The table: one row per contender and cell; ours ÷ raw per round (lookups/s, or time per change). */
export function registriesTable(rows: RegistriesRow[]): { title: string; head: string[]; rows: string[][] } {
  return {
    title: `Registries warm: lookup of 10 nodes, and watch fan-out (one change, ${FANOUT_WATCHERS.join(' or ')} watchers)`,
    head: ['contender', 'cell', 'lookups/s or ms per change (median, range)', 'ours ÷ raw'],
    rows: rows.map((q) => {
      const [ours, raw] = RAW_OF[q.backend]
      const r = rows.find((z) => z.contender === raw && z.cell === q.cell)
      const unit = q.cell === 'lookup' ? 'lookups/s' : 'ms'
      const label = q.cell === 'lookup' ? 'lookups/s' : 'time'
      return [
        q.contender,
        q.cell === 'lookup' ? 'warm lookup' : `fan-out to ${q.cell.slice(7)}`,
        `${formatSpread(spreadOf(q.rounds), fmt)} ${unit}`,
        q.contender === ours && r ? `${formatRatio(pairedRatio(q.rounds, r.rounds))} ${label}` : '',
      ]
    }),
  }
}
