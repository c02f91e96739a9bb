/**
 * Turns measured rows into the ratios, the target verdicts and the Markdown tables that are
 * printed, written to results/latest.json and pasted into README.md.
 */
import type { Machine } from './env.js'
import type { PubSubRow, RpcRow, SelectorRow, Settings, SoakRow, Unavailable } from './measure.js'
import type { PayloadKind } from './payloads.js'
import { type RegistryRow, registryTable } from './registry.js'

export interface Ratio {
  label: string
  /** Per cell (`greeter c=64`, ...): the ratio, or undefined when a side was not measured. */
  cells: Record<string, number | undefined>
  /** Which of our contenders the ratio used, per cell, when it picks the fastest. */
  picked?: Record<string, string>
}

export interface Target {
  target: string
  measured: string
  met: boolean | undefined
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

/** Our fastest contender in a cell (not ours-to-go: that one measures against a Go server). */
function fastestOurs(rows: RpcRow[], p: PayloadKind, c: number): RpcRow | undefined {
  return rows
    .filter(
      (r) =>
        r.group === 'ours' &&
        r.contender !== 'ours-to-go' &&
        r.contender !== 'gateway-http' &&
        r.payload === p &&
        r.concurrency === c &&
        !r.errors,
    )
    .sort((a, b) => b.callsPerSec - a.callsPerSec)[0]
}

export function computeRatios(
  rpc: RpcRow[],
  pubsub: PubSubRow[],
  selector: SelectorRow[],
  s: Settings,
): Ratio[] {
  const ratios: Ratio[] = []
  const perCell = (label: string, f: (p: PayloadKind, c: number) => [number | undefined, string?]) => {
    const ratio: Ratio = { label, cells: {} }
    for (const p of s.payloads)
      for (const c of s.concurrency) {
        const [value, picked] = f(p, c)
        ratio.cells[cellKey(p, c)] = value
        if (picked) {
          ratio.picked ??= {}
          ratio.picked[cellKey(p, c)] = picked
        }
      }
    ratios.push(ratio)
  }
  const rate = (a?: RpcRow, b?: RpcRow): [number | undefined] => [
    a && b ? a.callsPerSec / b.callsPerSec : undefined,
  ]
  const vs = (ours: string, ref: string) =>
    perCell(`${ours} ÷ ${ref}, calls/s`, (p, c) => rate(rpcRow(rpc, ours, p, c), rpcRow(rpc, ref, p, c)))
  vs('ours-http', 'raw-undici')
  vs('ours-http', 'raw-http')
  vs('ours-http', 'raw-net')
  for (const ref of ['moleculer-tcp', 'moleculer-nats']) {
    perCell(`fastest ours ÷ ${ref}, calls/s`, (p, c) => {
      const best = fastestOurs(rpc, p, c)
      return [...rate(best, rpcRow(rpc, ref, p, c)), best?.contender]
    })
  }
  vs('ours-http', 'go-micro')
  vs('ours-to-go', 'go-micro')
  vs('gateway-http', 'ours-http')
  perCell('ours-http ÷ raw-undici, p99 latency', (p, c) => {
    const a = rpcRow(rpc, 'ours-http', p, c)
    const b = rpcRow(rpc, 'raw-undici', p, c)
    return [a && b ? a.p99 / b.p99 : undefined]
  })

  const pubsubRatio = (ours: string, ref: string) => {
    const ratio: Ratio = { label: `pub/sub ${ours} ÷ ${ref}, msgs/s`, cells: {} }
    for (const p of s.payloads) {
      const a = pubsub.find((r) => r.contender === ours && r.payload === p)
      const b = pubsub.find((r) => r.contender === ref && r.payload === p)
      ratio.cells[PAYLOAD_LABEL[p]] = a && b ? a.msgsPerSec / b.msgsPerSec : undefined
    }
    ratios.push(ratio)
  }
  pubsubRatio('ours-nats', 'raw-nats')
  pubsubRatio('ours-nats-broker', 'raw-nats')
  // Same wire bytes on both sides: what is left is the price of our code, not of the format.
  pubsubRatio('ours-nats', 'raw-nats-envelope')
  pubsubRatio('ours-nats', 'moleculer-nats')

  const sel: Ratio = { label: 'selector: warm call ÷ call with address, calls/s', cells: {} }
  for (const c of s.concurrency) {
    const a = selector.find((r) => r.mode === 'selector' && r.concurrency === c)
    const b = selector.find((r) => r.mode === 'address' && r.concurrency === c)
    sel.cells[`greeter c=${c}`] = a && b ? a.callsPerSec / b.callsPerSec : undefined
  }
  ratios.push(sel)
  return ratios
}

const x = (v: number | undefined) => (v === undefined ? '–' : `${v.toFixed(2)}×`)

export function computeTargets(r: Omit<Results, 'targets' | 'ratios'>, ratios: Ratio[]): Target[] {
  const cell = (label: string, key: string) => ratios.find((q) => q.label === label)?.cells[key]
  const targets: Target[] = []
  const hi = Math.max(...r.settings.concurrency)
  const lo = Math.min(...r.settings.concurrency)
  const add = (target: string, value: number | undefined, ok: (v: number) => boolean, extra = '') =>
    targets.push({
      target,
      measured: value === undefined ? 'not measured' : `${x(value)}${extra}`,
      met: value === undefined ? undefined : ok(value),
    })

  add(
    `HTTP transport ≥ 0.8× raw undici, calls/s at c=${hi} (greeter)`,
    cell('ours-http ÷ raw-undici, calls/s', `greeter c=${hi}`),
    (v) => v >= 0.8,
  )
  add(
    `HTTP transport p99 at c=${lo} ≤ 1.5× raw undici (greeter)`,
    cell('ours-http ÷ raw-undici, p99 latency', `greeter c=${lo}`),
    (v) => v <= 1.5,
  )
  const fastest = ratios.find((q) => q.label === 'fastest ours ÷ moleculer-tcp, calls/s')
  add(
    `fastest ours ahead of Moleculer TCP, calls/s at c=${hi} (greeter)`,
    fastest?.cells[`greeter c=${hi}`],
    (v) => v > 1,
    fastest?.picked?.[`greeter c=${hi}`] ? ` (${fastest.picked[`greeter c=${hi}`]})` : '',
  )
  add(
    `gateway ≥ 0.8× a direct call with our client over HTTP, calls/s at c=${hi} (greeter)`,
    cell('gateway-http ÷ ours-http, calls/s', `greeter c=${hi}`),
    (v) => v >= 0.8,
  )
  add(
    'broker-nats ≥ 0.8× raw nats, msgs/s (client.publish → service.subscribe, greeter)',
    cell('pub/sub ours-nats ÷ raw-nats, msgs/s', 'greeter'),
    (v) => v >= 0.8,
  )
  const selLo = cell('selector: warm call ÷ call with address, calls/s', `greeter c=${lo}`)
  const selHi = cell('selector: warm call ÷ call with address, calls/s', `greeter c=${hi}`)
  targets.push({
    target: 'selector: warm call ≥ 0.95× the same call with address',
    measured:
      selLo === undefined && selHi === undefined
        ? 'not measured'
        : `c=${lo} ${x(selLo)}, c=${hi} ${x(selHi)}`,
    met: selLo === undefined || selHi === undefined ? undefined : selLo >= 0.95 && selHi >= 0.95,
  })
  // One row per transport of ours, so a miss names the transport it belongs to.
  const peaks = new Map<string, number>()
  const note = (contender: string, rss: number) =>
    peaks.set(contender, Math.max(peaks.get(contender) ?? 0, rss))
  for (const q of r.rpc)
    if (q.group === 'ours' && q.contender !== 'ours-to-go') note(q.contender, q.serverRss)
  for (const q of r.soak) note(q.contender, q.peakRss)
  if (peaks.size === 0)
    targets.push({ target: 'our server RSS under load ≤ 120 MiB', measured: 'not measured', met: undefined })
  for (const [contender, peak] of peaks) {
    targets.push({
      target: `our server RSS under load ≤ 120 MiB (${contender})`,
      measured: `peak ${(peak / MiB).toFixed(0)} MiB`,
      met: peak <= 120 * MiB,
    })
  }
  for (const soak of r.soak) {
    const n = soak.calls.at(-1) ?? 0
    const heapGrowth = (soak.heapAfterGc.at(-1) ?? 0) - (soak.heapAfterGc[0] ?? 0)
    const rssGrowth = (soak.rss.at(-1) ?? 0) - (soak.rss[0] ?? 0)
    targets.push({
      target: `no memory growth over 100,000 calls (${soak.contender}; heap after GC grows < 1 MiB)`,
      measured: `${n.toLocaleString('en-US')} calls: heap after GC ${heapGrowth >= 0 ? '+' : ''}${(heapGrowth / MiB).toFixed(2)} MiB, RSS ${rssGrowth >= 0 ? '+' : ''}${(rssGrowth / MiB).toFixed(1)} MiB (from the first checkpoint at ${(soak.calls[0] ?? 0).toLocaleString('en-US')})`,
      met: soak.errors > 0 ? false : n >= 100_000 ? heapGrowth < MiB : undefined,
    })
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

export function renderMarkdown(r: Results): string {
  const out: string[] = []
  const m = r.machine
  out.push(
    `Run ${r.startedAt}, ${Math.round(r.durationSec)} s. Machine: ${m.cpus} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}` +
      `${m.go ? `, ${m.go}` : ''}${m.moleculer ? `, moleculer ${m.moleculer}` : ''}${m.natsServer ? `, ${m.natsServer}` : ''}.` +
      (m.loadAverage
        ? ` Load average ${m.loadAverage.start.toFixed(1)} at start, ${m.loadAverage.end.toFixed(1)} at end.`
        : '') +
      ` ${r.settings.rounds} rounds × ${r.settings.roundMs} ms after ${r.settings.warmupMs} ms warm-up per cell; calls/s is the median round, p50/p99 over all measured calls.` +
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
      ...keys.map((k) => `${x(q.cells[k])}${q.picked?.[k] ? ` (${q.picked[k]})` : ''}`),
    ])
    out.push(first ? '\n### Ratios (same run)\n' : '', table(['ratio', ...keys], rows))
    first = false
  }

  if (r.targets.length) {
    const rows = r.targets.map((t) => [
      t.target,
      t.measured,
      t.met === undefined ? '–' : t.met ? 'met' : '**missed**',
    ])
    out.push('\n### Targets\n', table(['target', 'measured', 'verdict'], rows))
  }
  if (notes.length) out.push('\nNotes:\n', ...notes.map((n) => `- ${n}`))
  return `${out.join('\n')}\n`
}
