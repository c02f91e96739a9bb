/**
 * Network faults between a client namespace and a server namespace the test makes, one pair
 * per transport, all three at once: 100 ms of added latency, 5 % packet loss each way, then a
 * 10 s partition, then a clean link again. The client calls with a 50 ms and a 1 s deadline
 * (half its callers each): every call must settle by its deadline, nothing may hang, and calls
 * must work again once the link heals.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { requireThat } from '@micro-ts/conformance/testing'
import { afterAll, describe, expect, it } from 'vitest'
import { type NodeProcess, spawnNode, TRANSPORTS, type TransportName } from '../src/cluster.js'
import { fmt, recordFigure } from '../src/figures.js'
import { quantile } from '../src/load.js'
import { canMakeNamespaces, NetLink } from '../src/netem.js'

const CLIENT = fileURLToPath(new URL('../dist/net-client.js', import.meta.url))
const SHORT = 50
const LONG = 1000
/** What "by its deadline" allows for timers and a busy 2-core machine. */
const GRACE_MS = 1000
const PHASES = { clean: 2000, latency: 5000, loss: 8000, partition: 10_000, healed: 12_000 }

const why = canMakeNamespaces()
const ok = requireThat(why === undefined, why ?? '')

interface Call {
  s: number
  e: number
  t: number
  ok: boolean
  c?: number
  d?: string
}

const now = () => performance.timeOrigin + performance.now()

class NetClient {
  readonly calls: Call[] = []
  readonly exited: Promise<number | null>
  /** Resolves once the client's first call went through. */
  readonly ready: Promise<void>
  private rest = ''
  private errors = ''

  constructor(
    prefix: string[],
    plan: { address: string; transport: string; callers: number; timeouts: number[] },
    private readonly child: ChildProcess = spawn(
      prefix[0],
      [...prefix.slice(1), process.execPath, CLIENT, JSON.stringify(plan)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ),
  ) {
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)))
    let ready: () => void = () => {}
    this.ready = new Promise((resolve, reject) => {
      ready = resolve
      this.exited.then((code) =>
        reject(new Error(`net client exited (${code}) before it was ready: ${this.errors}`)),
      )
    })
    child.stdout?.on('data', (d: Buffer) => {
      const lines = (this.rest + d.toString()).split('\n')
      this.rest = lines.pop() ?? ''
      for (const l of lines) {
        if (l.startsWith('{')) this.calls.push(JSON.parse(l) as Call)
        else if (l === 'ready') ready()
      }
    })
    child.stderr?.on('data', (d: Buffer) => {
      this.errors = (this.errors + d.toString()).slice(-4000)
    })
  }

  get log(): string {
    return this.errors
  }

  /** Stop starting calls; resolves with the exit code once the calls in flight settled. */
  stop(): Promise<number | null> {
    if (this.child.pid && this.child.exitCode === null) process.kill(this.child.pid, 'SIGTERM')
    return this.exited
  }
}

interface Run {
  transport: TransportName
  link: NetLink
  node: NodeProcess
  client: NetClient
  marks: Record<keyof typeof PHASES | 'end', number>
  stopMs: number
  exit: number | null
}

const within = (calls: readonly Call[], t0: number, t1: number) => calls.filter((c) => c.s >= t0 && c.s < t1)
const overrun = (calls: readonly Call[]) =>
  calls.reduce((m, c) => Math.max(m, c.e - c.s - c.t), Number.NEGATIVE_INFINITY)
const okShare = (calls: readonly Call[]) => calls.filter((c) => c.ok).length / Math.max(1, calls.length)
const codes = (calls: readonly Call[]) => {
  const n = new Map<number, number>()
  for (const c of calls) if (!c.ok) n.set(c.c ?? 0, (n.get(c.c ?? 0) ?? 0) + 1)
  return [...n].map(([code, k]) => `${code} ×${k}`).join(', ') || 'none'
}

describe.runIf(ok)('network faults between two namespaces', () => {
  const runs: Run[] = []
  const links: NetLink[] = []
  const nodes: NodeProcess[] = []

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
    for (const l of links) await l.close()
  })

  async function scenario(transport: TransportName, index: number): Promise<Run> {
    const link = await NetLink.create(index)
    links.push(link)
    const node = spawnNode({
      name: `net-${transport}`,
      service: 'faults-net',
      transport,
      etcd: '',
      prefix: link.exec('server'),
      env: { MICRO_REGISTRY: 'memory', MICRO_SERVER_ADDRESS: `${link.serverIp}:0` },
    })
    nodes.push(node)
    await node.ready()
    const client = new NetClient(link.exec('client'), {
      address: node.address,
      transport,
      callers: 8,
      timeouts: [SHORT, LONG],
    })
    await client.ready
    const marks = {} as Run['marks']
    const phase = async (name: keyof typeof PHASES, imp: Parameters<NetLink['set']>[0]) => {
      await link.set(imp)
      marks[name] = now()
      await sleep(PHASES[name])
    }
    await phase('clean', {})
    await phase('latency', { delayMs: 100 })
    await phase('loss', { lossPct: 5 })
    await phase('partition', { partition: true })
    await phase('healed', {})
    marks.end = now()
    const exit = await client.stop()
    return { transport, link, node, client, marks, stopMs: now() - marks.end, exit }
  }

  it('deadlines are honoured, nothing hangs, calls recover: http, tcp and grpc at once', async () => {
    runs.push(...(await Promise.all(TRANSPORTS.map((t, i) => scenario(t, i)))))

    for (const r of runs) {
      const { marks } = r
      const calls = r.client.calls
      const long = (cs: Call[]) => cs.filter((c) => c.t === LONG)
      const short = (cs: Call[]) => cs.filter((c) => c.t === SHORT)
      const latency = within(calls, marks.latency + 500, marks.loss)
      const loss = within(calls, marks.loss, marks.partition)
      const partition = within(calls, marks.partition, marks.healed)
      const healed = within(calls, marks.healed, marks.end)
      const firstOk = healed.find((c) => c.ok)
      const recoveredMs = firstOk ? firstOk.e - marks.healed : Number.NaN
      // By the end every call with room for a round trip works (a 50 ms deadline may still miss
      // on a busy machine).
      const lastSeconds = long(within(calls, marks.end - 3000, marks.end))
      const worst = overrun(calls)
      const mode = r.link.mode === 'netem' ? 'tc netem' : 'userspace TUN link (no sch_netem in this kernel)'
      const settled = worst <= GRACE_MS && r.exit === 0
      const p50 = quantile(
        long(latency)
          .filter((c) => c.ok)
          .map((c) => c.e - c.s),
        0.5,
      )

      recordFigure({
        scenario: 'network: 100 ms latency',
        subject: r.transport,
        measured:
          `${mode}: 1 s-deadline calls ${long(latency).filter((c) => c.ok).length} of ${long(latency).length} ok, ` +
          `p50 ${fmt(p50)} ms; 50 ms-deadline calls ${short(latency).filter((c) => !c.ok).length} of ` +
          `${short(latency).length} failed (${codes(short(latency))}), latest ${fmt(overrun(short(latency)))} ms past the deadline`,
        bound:
          'deadlines honoured: ≥ 90 % of 1 s calls succeed; a 50 ms call that fails is a 408; none settles over 1 s past its deadline',
        holds:
          okShare(long(latency)) >= 0.9 &&
          overrun(latency) <= GRACE_MS &&
          short(latency).every((c) => (!c.ok ? c.c === 408 : true)),
        values: {
          p50Ms: p50,
          longCalls: long(latency).length,
          longFailed: long(latency).filter((c) => !c.ok).length,
          shortCalls: short(latency).length,
          shortFailed: short(latency).filter((c) => !c.ok).length,
          overrunMs: overrun(latency),
        },
      })
      recordFigure({
        scenario: 'network: 5 % loss',
        subject: r.transport,
        measured:
          `${fmt(loss.length)} calls, ${fmt((100 * loss.filter((c) => c.ok).length) / Math.max(1, loss.length), 1)} % ok ` +
          `(1 s deadline: ${fmt((100 * long(loss).filter((c) => c.ok).length) / Math.max(1, long(loss).length), 1)} %); ` +
          `failures: ${codes(loss)}; latest ${fmt(overrun(loss))} ms past the deadline`,
        bound: 'every call settles by its deadline; most succeed',
        holds: overrun(loss) <= GRACE_MS && loss.some((c) => c.ok),
        values: {
          calls: loss.length,
          okPct: 100 * okShare(loss),
          longOkPct: 100 * okShare(long(loss)),
          overrunMs: overrun(loss),
        },
      })
      recordFigure({
        scenario: 'network: 10 s partition',
        subject: r.transport,
        measured:
          `${fmt(partition.length)} calls during it, ${partition.filter((c) => !c.ok).length} failed (${codes(partition)}), ` +
          `latest ${fmt(overrun(partition))} ms past the deadline; first success ${fmt(recoveredMs)} ms after it healed; ` +
          `1 s calls in the last 3 s: ${lastSeconds.filter((c) => c.ok).length} of ${lastSeconds.length} ok; ` +
          `client stopped ${fmt(r.stopMs)} ms after asked, exit ${r.exit}`,
        bound: 'nothing hangs (every call settles by its deadline); calls recover after',
        holds:
          settled && Number.isFinite(recoveredMs) && lastSeconds.length > 0 && lastSeconds.every((c) => c.ok),
        values: {
          calls: partition.length,
          failed: partition.filter((c) => !c.ok).length,
          overrunMs: overrun(partition),
          recoveredMs,
          lastCalls: lastSeconds.length,
          lastFailed: lastSeconds.filter((c) => !c.ok).length,
          stopMs: r.stopMs,
        },
      })
    }

    for (const r of runs) {
      const calls = r.client.calls
      const tag = `${r.transport} (${r.client.log})`
      expect(r.exit, tag).toBe(0)
      expect(calls.length, tag).toBeGreaterThan(0)
      // Deadlines honoured: no call outlives its deadline by more than the grace.
      const late = calls.filter((c) => c.e - c.s - c.t > GRACE_MS)
      expect(
        late.map((c) => `${r.transport}: ${c.t} ms deadline took ${fmt(c.e - c.s)} ms (${c.d})`),
      ).toEqual([])
      // Under latency a 1 s deadline is plenty; a 50 ms one is not, and says so.
      const latency = within(calls, r.marks.latency + 500, r.marks.loss)
      expect(okShare(latency.filter((c) => c.t === LONG)), tag).toBeGreaterThanOrEqual(0.9)
      expect(latency.filter((c) => !c.ok && c.c !== 408).map((c) => c.d)).toEqual([])
      // During the partition nothing gets through.
      const cut = within(calls, r.marks.partition + 100, r.marks.healed)
      expect(cut.length).toBeGreaterThan(0)
      expect(cut.filter((c) => c.ok && c.e < r.marks.healed)).toEqual([])
      // Healed: calls work again, and by the end every call with room for a round trip does.
      const last = within(calls, r.marks.end - 3000, r.marks.end).filter((c) => c.t === LONG)
      expect(last.length).toBeGreaterThan(0)
      expect(last.filter((c) => !c.ok).map((c) => `${r.transport}: ${c.d}`)).toEqual([])
    }
  })
})
