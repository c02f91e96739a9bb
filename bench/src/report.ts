/**
 * Turns measured rows into the ratios, the target verdicts and the Markdown tables that are
 * printed, written to results/latest.json and pasted into README.md.
 */
import { type BalanceRow, balanceTables } from './balance.js'
import type { CallgrindRow } from './callgrind.js'
import { OUR_TRANSPORTS } from './contenders.js'
import type { Machine } from './env.js'
import type { PubSubRow, RpcRow, SelectorRow, Settings, SoakRow, Unavailable } from './measure.js'
import { type MemoryRow, memoryTable } from './memory.js'
import type { PayloadKind } from './payloads.js'
import { type RegistriesRow, registriesTable } from './registries.js'
import { type RegistryRow, registryTable } from './registry.js'
import type { Shield } from './shield.js'
import { type StartupRow, startupTable } from './startup.js'
import {
  bothVerdict,
  eitherVerdict,
  formatRatio,
  formatSpread,
  pairedRatio,
  type Spread,
  spreadOf,
  type Verdict,
  verdictOf,
} from './steady.js'
import { type StoreRow, storeTable } from './stores.js'

export interface Ratio {
  label: string
  /**
   * Per cell (`greeter c=64`, ...): the median of the per-round ratios, or undefined when a side
   * was not measured.
   */
  cells: Record<string, number | undefined>
  /** Per cell: the per-round ratios' median and range (see steady.ts). */
  spreads?: Record<string, Spread | undefined>
  /** Which of our contenders the ratio used, per cell, when it picks the fastest. */
  picked?: Record<string, string>
}

export interface Target {
  target: string
  measured: string
  /** Met (true) or missed (false) when decided; undefined when undecided or not measured. */
  met: boolean | undefined
  /** The steady method's verdict; a spread crossing the target is `undecided`. */
  verdict?: Verdict
}

/** A target from its verdict (`met` follows it). */
export function targetOf(target: string, measured: string, verdict: Verdict | undefined): Target {
  return {
    target,
    measured: verdict === undefined && !measured ? 'not measured' : measured,
    met: verdict === 'met' ? true : verdict === 'missed' ? false : undefined,
    verdict,
  }
}

export interface Results {
  startedAt: string
  durationSec: number
  machine: Machine
  settings: Settings
  filters: string[]
  contenders: { scenario: string; name: string; what: string }[]
  rpc: RpcRow[]
  selector: SelectorRow[]
  pubsub: PubSubRow[]
  soak: SoakRow[]
  /** Registry lookups (absent in results written before the scenario existed). */
  registry?: RegistryRow[]
  /** Instructions per greeter call under callgrind. */
  callgrind?: CallgrindRow[]
  /** Stores against their raw drivers. */
  stores?: StoreRow[]
  /** Registries warm: lookup and watch fan-out. */
  registries?: RegistriesRow[]
  /** Start-up to the first answered call. */
  startup?: StartupRow[]
  /** Idle and per-connection memory. */
  memory?: MemoryRow[]
  /** Balancing strategies and the retry budget, one node slow or failing. */
  balance?: BalanceRow[]
  unavailable: Unavailable[]
  ratios: Ratio[]
  targets: Target[]
}

const MiB = 2 ** 20
const PAYLOAD_LABEL: Record<PayloadKind, string> = { greeter: 'greeter', big: '16 KiB' }
const cellKey = (p: PayloadKind, c: number) => `${PAYLOAD_LABEL[p]} c=${c}`

function rpcRow(rows: RpcRow[], name: string, p: PayloadKind, c: number): RpcRow | undefined {
  // Rows with errors still count: the tables flag their errors next to the numbers.
  return rows.find((x) => x.contender === name && x.payload === p && x.concurrency === c)
}

/** Our transports' contenders: `ours-http`, `ours-grpc`, `ours-tcp`. */
const TRANSPORT_ROWS = new Set(OUR_TRANSPORTS.map((t) => `ours-${t}`))

/** Our fastest transport in a cell (by median calls/s; rows with errors do not count). */
function fastestOurs(rows: RpcRow[], p: PayloadKind, c: number): RpcRow | undefined {
  return rows
    .filter((r) => TRANSPORT_ROWS.has(r.contender) && r.payload === p && r.concurrency === c && !r.errors)
    .sort((a, b) => b.callsPerSec - a.callsPerSec)[0]
}

/** CPU time per call of a row, client + server, each round (µs). */
export function cpuRounds(q: RpcRow | undefined): number[] | undefined {
  if (!q?.clientCpuUs || !q.serverCpuUs) return undefined
  return q.clientCpuUs.map((c, i) => c + (q.serverCpuUs?.[i] ?? Number.NaN))
}

export function computeRatios(
  rpc: RpcRow[],
  pubsub: PubSubRow[],
  selector: SelectorRow[],
  s: Settings,
): Ratio[] {
  const ratios: Ratio[] = []
  const perCell = (label: string, f: (p: PayloadKind, c: number) => [Spread | undefined, string?]) => {
    const ratio: Ratio = { label, cells: {}, spreads: {} }
    for (const p of s.payloads)
      for (const c of s.concurrency) {
        const [spread, picked] = f(p, c)
        ratio.cells[cellKey(p, c)] = spread?.median
        ratio.spreads![cellKey(p, c)] = spread
        if (picked) {
          ratio.picked ??= {}
          ratio.picked[cellKey(p, c)] = picked
        }
      }
    ratios.push(ratio)
  }
  // Round by round: round i of one contender against round i of the other, run seconds apart.
  const rate = (a?: RpcRow, b?: RpcRow): [Spread | undefined] => [
    a && b ? pairedRatio(a.rounds, b.rounds) : undefined,
  ]
  const vs = (ours: string, ref: string) =>
    perCell(`${ours} ÷ ${ref}, calls/s`, (p, c) => rate(rpcRow(rpc, ours, p, c), rpcRow(rpc, ref, p, c)))
  vs('ours-http', 'raw-undici')
  vs('ours-http', 'raw-http')
  vs('ours-http', 'raw-net')
  perCell('fastest ours ÷ raw-net, calls/s', (p, c) => {
    const best = fastestOurs(rpc, p, c)
    return [...rate(best, rpcRow(rpc, 'raw-net', p, c)), best?.contender]
  })
  for (const ref of ['moleculer-tcp', 'moleculer-nats']) {
    perCell(`fastest ours ÷ ${ref}, calls/s`, (p, c) => {
      const best = fastestOurs(rpc, p, c)
      return [...rate(best, rpcRow(rpc, ref, p, c)), best?.contender]
    })
  }
  vs('ours-http', 'go-micro')
  vs('ours-to-go', 'go-micro')
  vs('gateway-http', 'ours-http')
  // The bare proxy is the ceiling of any Node HTTP hop: what the gateway could reach at best.
  vs('bare-proxy-http', 'ours-http')
  vs('gateway-http', 'bare-proxy-http')
  for (const t of ['http', 'tcp'])
    for (const mode of ['tracing', 'metrics']) vs(`ours-${t}-${mode}`, `ours-${t}`)
  perCell('ours-http ÷ raw-undici, p99 latency', (p, c) => {
    const a = rpcRow(rpc, 'ours-http', p, c)
    const b = rpcRow(rpc, 'raw-undici', p, c)
    return [a?.p99Rounds && b?.p99Rounds ? pairedRatio(a.p99Rounds, b.p99Rounds) : undefined]
  })
  // CPU per call (client + server), which moves far less with the machine's load than calls/s.
  const cpu = (ours: string, ref: string) =>
    perCell(`${ours} ÷ ${ref}, CPU per call`, (p, c) => {
      const a = cpuRounds(rpcRow(rpc, ours, p, c))
      const b = cpuRounds(rpcRow(rpc, ref, p, c))
      return [a && b ? pairedRatio(a, b) : undefined]
    })
  cpu('ours-http', 'raw-undici')
  cpu('ours-tcp', 'raw-net')
  // The price of the gateway hop and of tracing / metrics, in the figure that moves least.
  cpu('gateway-http', 'ours-http')
  cpu('bare-proxy-http', 'ours-http')
  cpu('gateway-http', 'bare-proxy-http')
  for (const t of ['http', 'tcp'])
    for (const mode of ['tracing', 'metrics']) cpu(`ours-${t}-${mode}`, `ours-${t}`)

  const pubsubRatio = (ours: string, ref: string) => {
    const ratio: Ratio = { label: `pub/sub ${ours} ÷ ${ref}, msgs/s`, cells: {}, spreads: {} }
    for (const p of s.payloads) {
      const a = pubsub.find((r) => r.contender === ours && r.payload === p)
      const b = pubsub.find((r) => r.contender === ref && r.payload === p)
      const spread = a && b ? pairedRatio(a.rounds, b.rounds) : undefined
      ratio.cells[PAYLOAD_LABEL[p]] = spread?.median
      ratio.spreads![PAYLOAD_LABEL[p]] = spread
    }
    ratios.push(ratio)
  }
  pubsubRatio('ours-nats', 'raw-nats')
  pubsubRatio('ours-nats-broker', 'raw-nats')
  // Same wire bytes on both sides: what is left is the price of our code, not of the format.
  pubsubRatio('ours-nats', 'raw-nats-envelope')
  pubsubRatio('ours-nats', 'moleculer-nats')

  const sel: Ratio = { label: 'selector: warm call ÷ call with address, calls/s', cells: {}, spreads: {} }
  for (const c of s.concurrency) {
    const a = selector.find((r) => r.mode === 'selector' && r.concurrency === c)
    const b = selector.find((r) => r.mode === 'address' && r.concurrency === c)
    const spread = a && b ? pairedRatio(a.rounds, b.rounds) : undefined
    sel.cells[`greeter c=${c}`] = spread?.median
    sel.spreads![`greeter c=${c}`] = spread
  }
  ratios.push(sel)
  return ratios
}

const x = (v: number | undefined) => (v === undefined ? '–' : `${v.toFixed(2)}×`)

export function computeTargets(r: Omit<Results, 'targets' | 'ratios'>, ratios: Ratio[]): Target[] {
  const spread = (label: string, key: string) => ratios.find((q) => q.label === label)?.spreads?.[key]
  const targets: Target[] = []
  const hi = Math.max(...r.settings.concurrency)
  const lo = Math.min(...r.settings.concurrency)
  /** A ratio target: decided by the per-round spread of `label` in cell `key`. */
  const add = (target: string, label: string, key: string, ok: (v: number) => boolean, extra = '') => {
    const v = spread(label, key)
    targets.push(targetOf(target, v ? `${formatRatio(v)}${extra}` : 'not measured', v && verdictOf(v, ok)))
  }
  const picked = (label: string, key: string) => {
    const name = ratios.find((q) => q.label === label)?.picked?.[key]
    return name ? ` (${name})` : ''
  }
  const g = `greeter c=${hi}`

  add(
    `fastest transport ≥ 0.8× raw net, calls/s at c=${hi} (greeter)`,
    'fastest ours ÷ raw-net, calls/s',
    g,
    (v) => v >= 0.8,
    picked('fastest ours ÷ raw-net, calls/s', g),
  )
  add(
    `fastest transport ≥ 2× Moleculer TCP, calls/s at c=${hi} (greeter)`,
    'fastest ours ÷ moleculer-tcp, calls/s',
    g,
    (v) => v >= 2,
    picked('fastest ours ÷ moleculer-tcp, calls/s', g),
  )
  {
    // Either is enough: calls/s moves with the machine's load, CPU per call far less.
    const rate = spread('ours-http ÷ raw-undici, calls/s', g)
    const cpu = spread('ours-http ÷ raw-undici, CPU per call', g)
    const vr = rate && verdictOf(rate, (v) => v >= 0.95)
    const vc = cpu && verdictOf(cpu, (v) => v <= 1.1)
    targets.push(
      targetOf(
        `HTTP transport ≥ 0.95× raw undici calls/s, or ≤ 1.1× its CPU per call, at c=${hi} (greeter)`,
        rate || cpu
          ? `calls/s ${formatRatio(rate)} (${vr ?? '–'}); CPU ${formatRatio(cpu)} (${vc ?? '–'})`
          : '',
        eitherVerdict(vr, vc),
      ),
    )
  }
  add(
    `HTTP transport p99 at c=${lo} ≤ 1.5× raw undici (greeter)`,
    'ours-http ÷ raw-undici, p99 latency',
    `greeter c=${lo}`,
    (v) => v <= 1.5,
  )
  add(
    `gateway ≥ 0.8× a direct call with our client over HTTP, calls/s at c=${hi} (greeter)`,
    'gateway-http ÷ ours-http, calls/s',
    g,
    (v) => v >= 0.8,
  )
  for (const t of ['http', 'tcp']) {
    add(
      `tracing on (SDK, batch exporter) ≥ 0.8× off, calls/s at c=${hi} over ${t} (greeter)`,
      `ours-${t}-tracing ÷ ours-${t}, calls/s`,
      g,
      (v) => v >= 0.8,
    )
    add(
      `metrics on ≥ 0.9× off, calls/s at c=${hi} over ${t} (greeter)`,
      `ours-${t}-metrics ÷ ours-${t}, calls/s`,
      g,
      (v) => v >= 0.9,
    )
  }
  add(
    'broker-nats ≥ 1.0× raw nats, msgs/s (client.publish → service.subscribe, greeter)',
    'pub/sub ours-nats ÷ raw-nats, msgs/s',
    'greeter',
    (v) => v >= 1,
  )
  add(
    'broker-nats ≥ 0.9× raw nats, msgs/s (client.publish → service.subscribe, 16 KiB)',
    'pub/sub ours-nats ÷ raw-nats, msgs/s',
    '16 KiB',
    (v) => v >= 0.9,
  )
  {
    const sl = spread('selector: warm call ÷ call with address, calls/s', `greeter c=${lo}`)
    const sh = spread('selector: warm call ÷ call with address, calls/s', g)
    const ok = (v: number) => v >= 0.95
    targets.push(
      targetOf(
        'selector: warm call ≥ 0.95× the same call with address',
        sl || sh ? `c=${lo} ${formatRatio(sl)}, c=${hi} ${formatRatio(sh)}` : '',
        sl && sh ? bothVerdict([verdictOf(sl, ok), verdictOf(sh, ok)]) : undefined,
      ),
    )
  }
  // One row per transport of ours, so a miss names the transport it belongs to. The spread is
  // the peak RSS of each measured round (every cell) and of each memory-run checkpoint.
  for (const name of TRANSPORT_ROWS) {
    const peaks = [
      ...r.rpc.filter((q) => q.contender === name).flatMap((q) => q.rssRounds ?? [q.serverRss]),
      ...r.soak.filter((q) => q.contender === name).flatMap((q) => q.rss),
    ].filter((v) => v > 0)
    const v = spreadOf(peaks.map((b) => b / MiB))
    targets.push(
      targetOf(
        `server RSS under load ≤ 100 MiB (${name})`,
        v ? `peak per round ${formatSpread(v, (m) => m.toFixed(0))} MiB, highest ${v.max.toFixed(0)}` : '',
        v && verdictOf(v, (m) => m <= 100),
      ),
    )
  }
  for (const soak of r.soak) {
    const n = soak.calls.at(-1) ?? 0
    const heapGrowth = (soak.heapAfterGc.at(-1) ?? 0) - (soak.heapAfterGc[0] ?? 0)
    const rssGrowth = (soak.rss.at(-1) ?? 0) - (soak.rss[0] ?? 0)
    targets.push(
      targetOf(
        `no memory growth over 100,000 calls (${soak.contender}; heap after GC grows < 1 MiB)`,
        `${n.toLocaleString('en-US')} calls: heap after GC ${heapGrowth >= 0 ? '+' : ''}${(heapGrowth / MiB).toFixed(2)} MiB, RSS ${rssGrowth >= 0 ? '+' : ''}${(rssGrowth / MiB).toFixed(1)} MiB (from the first checkpoint at ${(soak.calls[0] ?? 0).toLocaleString('en-US')})`,
        soak.errors > 0 ? 'missed' : n >= 100_000 ? (heapGrowth < MiB ? 'met' : 'missed') : undefined,
      ),
    )
  }
  return targets
}

const int = (v: number) => Math.round(v).toLocaleString('en-US')
const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2))
const mib = (v: number) => (v > 0 ? (v / MiB).toFixed(0) : '–')

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n')
}

function describeShield(sh: Shield): string {
  const placed = sh.pinned
    ? `each one-client-one-server RPC contender with its client pinned to CPU ${sh.cpus?.[0] ?? 0} and its server to CPU ${sh.cpus?.[1] ?? 1}`
    : 'processes where the scheduler put them'
  const fill = sh.idleFilled?.length
    ? ` Each of CPUs ${sh.idleFilled.join(' and ')} had an idle filler, spinning at SCHED_IDLE (it adds ${sh.idleFilled.length} to the end's load average).`
    : ''
  const nats = sh.ownNats ? " NATS is a nats-server of the run's own, at that priority." : ''
  const stores = sh.ownStores?.length
    ? ` The store rows ran against servers of the run's own, at that priority: ${sh.ownStores.join(', ')}${
        sh.storesPinned
          ? `, each on CPU ${sh.cpus?.[1] ?? 1} with the drivers on CPU ${sh.cpus?.[0] ?? 0}`
          : ''
      }.`
    : ''
  return `Priority nice ${sh.nice}, ${placed}.${fill}${nats}${stores}${sh.notes.length ? ` (${sh.notes.join('; ')})` : ''}`
}

export function renderMarkdown(r: Results): string {
  const out: string[] = []
  const m = r.machine
  out.push(
    `Run ${r.startedAt}, ${Math.round(r.durationSec)} s. Machine: ${m.cpus} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}` +
      `${m.go ? `, ${m.go}` : ''}${m.moleculer ? `, moleculer ${m.moleculer}` : ''}${m.natsServer ? `, ${m.natsServer}` : ''}.` +
      (m.loadAverage
        ? ` Load average ${m.loadAverage.start.toFixed(1)} at start, ${m.loadAverage.end.toFixed(1)} at end.`
        : '') +
      (m.shield ? ` ${describeShield(m.shield)}` : '') +
      ` ${r.settings.rounds} rounds × ${r.settings.roundMs} ms after ${r.settings.warmupMs} ms warm-up per cell; calls/s, p50 and p99 are the median round's.` +
      (r.filters.length ? ` Filter: ${r.filters.join(', ')}.` : ''),
  )

  const notes: string[] = []
  if (r.rpc.length || r.unavailable.some((u) => u.scenario === 'rpc')) {
    for (const p of r.settings.payloads) {
      const head = ['contender']
      for (const c of r.settings.concurrency) head.push(`c=${c} calls/s`, `c=${c} p50 ms`, `c=${c} p99 ms`)
      head.push('server RSS MiB')
      const names = [...new Set(r.rpc.map((q) => q.contender))]
      const rows = names.map((name) => {
        const cells = [name]
        let rss = 0
        for (const c of r.settings.concurrency) {
          const q = r.rpc.find((z) => z.contender === name && z.payload === p && z.concurrency === c)
          if (!q) {
            cells.push('–', '–', '–')
            continue
          }
          rss = Math.max(rss, q.serverRss)
          cells.push(
            q.errors ? `${int(q.callsPerSec)} ⚠${q.errors} errors` : int(q.callsPerSec),
            ms(q.p50),
            ms(q.p99),
          )
          if (q.max >= 1000)
            notes.push(`${name} ${PAYLOAD_LABEL[p]} c=${c}: slowest call ${(q.max / 1000).toFixed(1)} s`)
          if (q.errors)
            notes.push(`${name} ${PAYLOAD_LABEL[p]} c=${c}: ${q.errors} errors, first: ${q.firstError}`)
        }
        cells.push(mib(rss))
        return cells
      })
      for (const u of r.unavailable.filter((z) => z.scenario === 'rpc')) {
        rows.push([u.contender, `**${u.status.toUpperCase()}**: ${u.reason}`, ...head.slice(2).map(() => '')])
      }
      out.push(`\n### RPC, ${PAYLOAD_LABEL[p]} payload\n`, table(head, rows))
    }
  }

  if (r.rpc.some((q) => q.clientCpuUs?.length)) out.push(...cpuTables(r))

  if (r.callgrind?.length) out.push(...callgrindTable(r.callgrind))

  if (r.selector.length) {
    const rows = r.selector.map((q) => [
      q.mode === 'selector' ? 'warm call (selector)' : 'call with address',
      `${q.concurrency}`,
      int(q.callsPerSec),
      ms(q.p50),
      ms(q.p99),
    ])
    out.push(
      '\n### Selector cost (ours-http, greeter)\n',
      table(['mode', 'c', 'calls/s', 'p50 ms', 'p99 ms'], rows),
    )
  }

  if (r.pubsub.length || r.unavailable.some((u) => u.scenario === 'pubsub')) {
    const rows = r.pubsub.map((q) => [
      q.contender,
      PAYLOAD_LABEL[q.payload],
      int(q.msgsPerSec),
      int(q.published),
      int(q.lost),
      mib(q.subscriberRss),
    ])
    for (const u of r.unavailable.filter((z) => z.scenario === 'pubsub')) {
      rows.push([u.contender, `**${u.status.toUpperCase()}**: ${u.reason}`, '', '', '', ''])
    }
    out.push(
      `\n### Pub/sub over NATS (window ${r.settings.window} messages in flight)\n`,
      table(['contender', 'payload', 'msgs/s', 'published', 'lost', 'subscriber RSS MiB'], rows),
    )
  }

  if (r.soak.length) {
    const rows = r.soak.map((q) => [
      q.contender,
      `${q.concurrency}`,
      q.calls.map(int).join(' / '),
      q.rss.map((b) => (b / MiB).toFixed(1)).join(' / '),
      q.heapAfterGc.map((b) => (b / MiB).toFixed(2)).join(' / '),
      mib(q.peakRss),
    ])
    out.push(
      '\n### Server memory over a long run (greeter)\n',
      table(['contender', 'c', 'calls at checkpoints', 'RSS MiB', 'heap after GC MiB', 'peak RSS MiB'], rows),
    )
  }

  if (r.registry?.length || r.unavailable.some((u) => u.scenario === 'registry')) {
    const reg = registryTable(r.registry ?? [])
    for (const u of r.unavailable.filter((z) => z.scenario === 'registry')) {
      reg.rows.push([
        u.contender,
        `**${u.status.toUpperCase()}**: ${u.reason}`,
        ...reg.head.slice(2).map(() => ''),
      ])
    }
    out.push(`\n### ${reg.title}\n`, table(reg.head, reg.rows))
  }

  if (r.registries?.length || r.unavailable.some((u) => u.scenario === 'registry-warm')) {
    const t = registriesTable(r.registries ?? [])
    for (const u of r.unavailable.filter((z) => z.scenario === 'registry-warm'))
      t.rows.push([u.contender, `**${u.status.toUpperCase()}**: ${u.reason}`, '', ''])
    out.push(`\n### ${t.title}\n`, table(t.head, t.rows))
  }

  for (const [rows, scenario, render] of [
    [r.startup, 'startup', startupTable],
    [r.memory, 'memory', memoryTable],
  ] as const) {
    if (!rows?.length && !r.unavailable.some((u) => u.scenario === scenario)) continue
    const t = (render as (x: typeof rows) => { title: string; head: string[]; rows: string[][] })(rows ?? [])
    for (const u of r.unavailable.filter((z) => z.scenario === scenario))
      t.rows.push([
        u.contender,
        `**${u.status.toUpperCase()}**: ${u.reason}`,
        ...t.head.slice(2).map(() => ''),
      ])
    out.push(`\n### ${t.title}\n`, table(t.head, t.rows))
  }

  if (r.stores?.length || r.unavailable.some((u) => u.scenario === 'store')) {
    const t = storeTable(r.stores ?? [])
    for (const u of r.unavailable.filter((z) => z.scenario === 'store'))
      t.rows.push([
        u.contender,
        `**${u.status.toUpperCase()}**: ${u.reason}`,
        ...t.head.slice(2).map(() => ''),
      ])
    out.push(`\n### ${t.title}\n`, table(t.head, t.rows))
  }

  for (const t of balanceTables(r.balance ?? [])) out.push(`\n### ${t.title}\n`, table(t.head, t.rows))

  // One table per family of ratios that share the same cells (RPC, pub/sub, selector).
  const ratioRows = r.ratios.filter((q) => Object.values(q.cells).some((v) => v !== undefined))
  const families = new Map<string, Ratio[]>()
  for (const q of ratioRows) {
    const key = Object.keys(q.cells).join('|')
    families.set(key, [...(families.get(key) ?? []), q])
  }
  let first = true
  for (const [key, family] of families) {
    const keys = key.split('|')
    const rows = family.map((q) => [
      q.label,
      ...keys.map(
        (k) =>
          `${q.spreads?.[k] ? formatRatio(q.spreads[k]) : x(q.cells[k])}${q.picked?.[k] ? ` ${q.picked[k]}` : ''}`,
      ),
    ])
    out.push(
      first ? '\n### Ratios (same run: median of the per-round ratios, their range in brackets)\n' : '',
      table(['ratio', ...keys], rows),
    )
    first = false
  }

  if (r.targets.length) {
    const rows = r.targets.map((t) => [
      t.target,
      t.measured,
      t.verdict === 'undecided' ? '*undecided*' : t.met === undefined ? '–' : t.met ? 'met' : '**missed**',
    ])
    out.push('\n### Targets\n', table(['target', 'measured', 'verdict'], rows))
  }
  if (notes.length) out.push('\nNotes:\n', ...notes.map((n) => `- ${n}`))
  return `${out.join('\n')}\n`
}

/**
 * CPU per 10,000 calls, ms (client / server, median of the rounds), and the total's per-round
 * ratio to raw undici and raw net: one table per payload.
 */
function cpuTables(r: Results): string[] {
  const out: string[] = []
  const per10k = (us: number) => ((us * 10_000) / 1000).toFixed(0)
  for (const p of r.settings.payloads) {
    const head = ['contender']
    for (const c of r.settings.concurrency)
      head.push(`c=${c} client / server`, `c=${c} ÷ raw-undici`, `c=${c} ÷ raw-net`)
    const names = [...new Set(r.rpc.map((q) => q.contender))]
    const rows = names.map((name) => {
      const cells = [name]
      for (const c of r.settings.concurrency) {
        const q = rpcRow(r.rpc, name, p, c)
        const total = cpuRounds(q)
        if (!q?.clientCpuUs || !q.serverCpuUs || !total) {
          cells.push('–', '–', '–')
          continue
        }
        const vs = (ref: string) => {
          const b = cpuRounds(rpcRow(r.rpc, ref, p, c))
          return name === ref ? '1×' : b ? formatRatio(pairedRatio(total, b)) : '–'
        }
        const cm = spreadOf(q.clientCpuUs)?.median ?? Number.NaN
        const sm = spreadOf(q.serverCpuUs)?.median ?? Number.NaN
        cells.push(`${per10k(cm)} / ${per10k(sm)}`, vs('raw-undici'), vs('raw-net'))
      }
      return cells
    })
    out.push(
      `\n### CPU per 10,000 calls, ${PAYLOAD_LABEL[p]} (ms of client / server CPU from /proc, median of the rounds; ratios of client + server, per round)\n`,
      table(head, rows),
    )
  }
  return out
}

/** Instructions per greeter call at c=1 (callgrind), and the total's ratio to raw undici and raw net. */
function callgrindTable(rows: CallgrindRow[]): string[] {
  const total = (q: CallgrindRow) => q.clientIr + q.serverIr
  const ref = (name: string) => rows.find((q) => q.contender === name)
  const thousands = (v: number) => Math.round(v / 1000).toLocaleString('en-US')
  const body = rows.map((q) => {
    const vs = (name: string) => {
      const b = ref(name)
      return b ? `${(total(q) / total(b)).toFixed(2)}×` : '–'
    }
    const w = spreadOf(q.windows)
    return [
      q.contender,
      thousands(q.clientIr),
      thousands(q.serverIr),
      w ? formatSpread(w, thousands) : thousands(total(q)),
      vs('raw-undici'),
      vs('raw-net'),
    ]
  })
  const calls = rows[0]
  return [
    `\n### Instructions per call, greeter at c=1 (callgrind; ${calls.warmup.toLocaleString('en-US')} calls uncounted, then ${calls.windows.length} windows of ${calls.calls.toLocaleString('en-US')}: median window, range in brackets)\n`,
    table(
      ['contender', 'client k instr', 'server k instr', 'total k instr', '÷ raw-undici', '÷ raw-net'],
      body,
    ),
  ]
}
