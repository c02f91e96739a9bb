/**
 * How a run keeps other work on the machine from shifting its ratios.
 *
 * Interleaved rounds cancel drift, but not a steady CPU hog: it takes time from a contender of two
 * busy processes more than from one that mostly waits, and it changes how the scheduler lays a
 * contender's processes out (raw `net`'s client and server on one CPU batch more calls per wake-up
 * and got *faster* beside a spinning process, while ours got slower). So, by default:
 *
 * - the orchestrator raises its own priority to nice -20, which every child inherits: a process at
 *   the normal priority then gets only the CPU time our processes leave idle;
 * - an RPC contender of one client and one server gets the client pinned to the first CPU and the
 *   server to the second (`taskset`), so its layout is the same on a quiet machine and a busy one;
 * - NATS is a `nats-server` of the run's own (unless BENCH_NATS_URL names one), so it too runs at
 *   that priority; so are the store rows' PostgreSQL, MariaDB and Redis (own-stores.ts), each
 *   pinned as an RPC server is, its drivers on the first CPU (runs M and N: with the servers
 *   at that priority but left to the scheduler, a hog still moved the store ratios at c=1);
 * - each of the two CPUs gets an idle filler (fillIdle): a spinning process at SCHED_IDLE, so that
 *   a CPU with nothing to run spins instead of halting, whether or not another process spins too.
 *   On this VM a halted CPU takes tens of µs to wake (a ping-pong at c=1 ran 11k round trips/s on
 *   halting CPUs, 15k beside a hog, 20k beside the fillers): the hog's gain, not our code's cost.
 *
 * Both need privileges or a second CPU; what could not be done is reported, never silently skipped.
 * `--unshielded` runs as before (normal priority, the scheduler's layout).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { type AddressInfo, createServer } from 'node:net'
import os from 'node:os'
import { Child, statFields } from './proc.js'

export interface Shield {
  /** The run asked for the shield (not `--unshielded`); absent in runs from before it was recorded. */
  raised?: boolean
  /** The nice value the run's processes have (-20 when it could be raised, else what it was). */
  nice: number
  /** Whether one-client-one-server contenders are pinned (client on CPU 0, server on CPU 1). */
  pinned: boolean
  /** The two CPUs they are pinned to, client's first (0 and 1 unless a cpuset leaves them out). */
  cpus?: [number, number]
  /** NATS is a nats-server the run started (at its priority), not the machine's own. */
  ownNats?: boolean
  /** The store rows' database servers the run started itself (own-stores.ts), at its priority. */
  ownStores?: string[]
  /** The store rows' drivers ran on the first of `cpus` and their database server on the second. */
  storesPinned?: boolean
  /** The CPUs that had an idle filler (a spinning process at SCHED_IDLE) for the whole run. */
  idleFilled?: number[]
  /** What could not be done, and why; empty when fully shielded or when shielding was turned off. */
  notes: string[]
}

/** The nice value asked for: the highest priority. */
export const SHIELD_NICE = -20

let current: Shield = { nice: os.getPriority(), pinned: false, notes: [] }

/** `0-2,5` → [0, 1, 2, 5]: a CPU list as taskset and /proc print it. */
export function cpuList(text: string): number[] {
  const out: number[] = []
  for (const part of text.trim().split(',').filter(Boolean)) {
    const [lo, hi = lo] = part.split('-').map(Number)
    for (let c = lo; c <= hi; c++) out.push(c)
  }
  return out
}

/** Raise the priority (inherited by every child started after) and turn pinning on where possible. */
export function raiseShield(): Shield {
  const notes: string[] = []
  let nice = os.getPriority()
  try {
    os.setPriority(SHIELD_NICE)
    nice = os.getPriority()
  } catch (e) {
    notes.push(`priority stays at nice ${nice}: ${(e as Error).message} (needs root or CAP_SYS_NICE)`)
  }
  let cpus: [number, number] | undefined
  // The first two CPUs this process may run on (a cpuset may leave out CPU 0).
  const probe = spawnSync('taskset', ['-c', '-p', String(process.pid)], { encoding: 'utf8' })
  const usable = probe.status === 0 ? cpuList(probe.stdout.split(':').at(-1) ?? '') : []
  if (probe.error || probe.status !== 0)
    notes.push(`not pinned: taskset does not run (${probe.error?.message ?? probe.stderr.trim()})`)
  else if (usable.length < 2) notes.push(`not pinned: this process may use only CPU ${usable.join(',')}`)
  else cpus = [usable[0], usable[1]]
  current = cpus
    ? { raised: true, nice, pinned: true, cpus, notes }
    : { raised: true, nice, pinned: false, notes }
  return current
}

export function shield(): Shield {
  return current
}

/** Pin every thread of `child` to `cpu`, and read it back; throws when it cannot. */
function pin(child: Child, cpu: number): void {
  // taskset -a on a pid that is gone pins no thread and still succeeds: check first, read back after.
  if (!child.running) throw new Error(`could not pin ${child.name}: it is not running`)
  pinPid(child.name, child.pid!, cpu)
}

/** The CPUs a process may run on, as /proc/<pid>/status lists them (`0-1`, `1`). */
export function allowedCpus(pid: number): string | undefined {
  return /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
}

function pinPid(name: string, pid: number, cpu: number): void {
  const r = spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { encoding: 'utf8' })
  if (r.error || r.status !== 0)
    throw new Error(`could not pin ${name}: ${r.error?.message ?? r.stderr.trim()}`)
  const allowed = allowedCpus(pid)
  if (allowed !== String(cpu)) throw new Error(`could not pin ${name}: it may run on CPUs ${allowed}`)
}

/** The processes `pid` has forked and not yet reaped, from /proc (every thread's list). */
export function childPids(pid: number): number[] {
  const pids = new Set<number>()
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    let text = ''
    try {
      text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8')
    } catch {
      continue // a thread that ended since it was listed (MariaDB's come and go)
    }
    for (const word of text.split(/\s+/)) if (word) pids.add(Number(word))
  }
  return [...pids]
}

/**
 * Lay out a started RPC contender: client on the first usable CPU, server on the second, when pinning is on and it is
 * one client and one server. A contender of more processes (a gateway hop) is left to the
 * scheduler: two of them on one CPU would measure the layout, not the hop. Returns whether it pinned.
 */
export function placeRpc(driver: Child, servers: Child[]): boolean {
  if (!current.cpus || servers.length !== 1) return false
  pin(driver, current.cpus[0])
  pin(servers[0], current.cpus[1])
  return true
}

/**
 * Lay out a backend's store rows as an RPC contender is laid out: its drivers on the first usable
 * CPU (they take turns: one runs a round while the others wait) and the database server of the
 * run's own on the second, with every process it has forked (PostgreSQL's connection backends and
 * helpers); connections made later inherit the server's CPU. Call it once the drivers have
 * connected. Returns whether it pinned; a server of the machine's (no pid) is left alone.
 */
export function placeStore(drivers: Child[], serverPid: number | undefined): boolean {
  if (!current.cpus || serverPid === undefined) return false
  for (const driver of drivers) pin(driver, current.cpus[0])
  pinPid(`database server ${serverPid}`, serverPid, current.cpus[1])
  for (const pid of childPids(serverPid)) {
    try {
      pinPid(`database process ${pid}`, pid, current.cpus[1])
    } catch (e) {
      // A helper that exited since it was listed (an autovacuum worker) needs no CPU.
      if (existsSync(`/proc/${pid}`)) throw e
    }
  }
  current.storesPinned = true
  return true
}

/** The scheduling policy number of SCHED_IDLE, as /proc/<pid>/stat's 41st field prints it. */
const SCHED_IDLE = 5

/** A process's scheduling policy: field 41 of /proc/<pid>/stat. */
export function schedPolicy(pid: number): number {
  return Number(statFields(pid)[41 - 3])
}

/**
 * An idle filler's program (`node -e`): it spins in 20 ms slices and lets its event loop turn
 * between them, so that it exits as soon as its stdin closes, when the run stops it and when the
 * run dies without stopping it.
 */
export const IDLE_FILLER = `
const spin = () => { const end = Date.now() + 20; while (Date.now() < end); setImmediate(spin) }
process.stdin.on('end', () => process.exit(0)).on('error', () => process.exit(0)).resume()
spin()`

/**
 * Start an idle filler on each CPU of the layout (IDLE_FILLER: a spinning node process, pinned
 * with taskset, at SCHED_IDLE with chrt), so that neither CPU ever halts: every process of the run
 * preempts it at once, and a hog at the normal priority only takes its place. Checks each one's
 * CPU and policy from /proc; what cannot be done is a note, and the run goes on without fillers.
 * They stop with the run (stopAll).
 */
export async function fillIdle(): Promise<Child[]> {
  if (!current.cpus) {
    current.notes.push('no idle fillers: they need two CPUs to pin to')
    return []
  }
  const fillers = current.cpus.map(
    (cpu) =>
      new Child(`idle filler on CPU ${cpu}`, 'taskset', [
        '-c',
        String(cpu),
        'chrt',
        '--idle',
        '0',
        process.execPath,
        '-e',
        IDLE_FILLER,
      ]),
  )
  // taskset and chrt exec into node: give the pid a moment to be node's, then read it back.
  await new Promise((r) => setTimeout(r, 200))
  try {
    current.cpus.forEach((cpu, i) => {
      const filler = fillers[i]
      if (!filler.running) throw new Error(`${filler.name} exited at once (are taskset and chrt there?)`)
      const allowed = allowedCpus(filler.pid!)
      if (allowed !== String(cpu)) throw new Error(`${filler.name} may run on CPUs ${allowed}`)
      if (schedPolicy(filler.pid!) !== SCHED_IDLE) throw new Error(`${filler.name} is not at SCHED_IDLE`)
    })
  } catch (e) {
    await Promise.all(fillers.map((f) => f.stop()))
    current.notes.push(`no idle fillers: ${(e as Error).message}`)
    return []
  }
  current.idleFilled = [...current.cpus]
  return fillers
}

/** Any free loopback port (closed again at once; the server that takes it follows right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo
      probe.close(() => resolve(port))
    })
  })
}

/**
 * A `nats-server` of the run's own on a free loopback port, started as a child so that it runs at
 * the run's priority and carries no one else's traffic (the machine's own NATS, at the normal
 * priority, would share its CPU with whatever else runs). Returns its URL, or why it could not
 * start (the caller then uses the machine's NATS and says so).
 */
export async function startOwnNats(
  canConnect: (host: string, port: number) => Promise<boolean>,
): Promise<{ url: string; server: Child } | { missing: string }> {
  const which = spawnSync('nats-server', ['--version'], { encoding: 'utf8' })
  if (which.error || which.status !== 0) return { missing: 'nats-server is not installed' }
  const port = await freePort()
  const server = new Child('nats-server', 'nats-server', ['-a', '127.0.0.1', '-p', String(port)])
  for (let waited = 0; waited < 5000; waited += 50) {
    if (await canConnect('127.0.0.1', port)) return { url: `nats://127.0.0.1:${port}`, server }
    if (!server.running) break
    await new Promise((r) => setTimeout(r, 50))
  }
  await server.stop()
  return { missing: `nats-server on 127.0.0.1:${port} did not answer within 5 s` }
}
