/**
 * The orchestrator side of the line protocol (see protocol.ts): start a child process, wait for
 * its `{ready: true}` line, send commands and await their replies, read its RSS from /proc, and
 * stop it — politely first, then by signal. Every child started is tracked so that nothing
 * outlives the run, even when it fails.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { createInterface } from 'node:readline'

export type Reply = Record<string, unknown>

const live = new Set<Child>()

/** How long a child may take to print its ready line by default (raised for runs under valgrind). */
export const childDefaults = { readyMs: 15_000 }

export class Child {
  readonly name: string
  private readonly proc: ChildProcess
  private nextId = 1
  private readonly pending = new Map<number, { resolve(r: Reply): void; reject(e: Error): void }>()
  private readonly listeners = new Set<(line: Reply) => void>()
  private stderrTail = ''
  private exited?: number | string
  private readyLine?: Promise<Reply>

  constructor(name: string, command: string, args: string[], env: Record<string, string> = {}) {
    this.name = name
    this.proc = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    })
    live.add(this)
    const lines = createInterface({ input: this.proc.stdout!, crlfDelay: Number.POSITIVE_INFINITY })
    lines.on('line', (line) => this.onLine(line))
    this.proc.stderr!.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-4000)
      if (process.env.BENCH_VERBOSE) process.stderr.write(`[${name}] ${chunk}`)
    })
    this.proc.stdin!.on('error', () => {}) // the child may be gone already
    this.proc.on('exit', (code, signal) => {
      this.exited = code ?? signal ?? 'exit'
      live.delete(this)
      const err = new Error(`${name} exited (${this.exited}) ${this.stderrTail.trim().slice(-1500)}`)
      for (const p of this.pending.values()) p.reject(err)
      this.pending.clear()
    })
    this.proc.on('error', (e) => {
      this.stderrTail += `\nspawn failed: ${e.message}`
      // A process that never started emits no 'exit': count it as exited, or stop() waits forever.
      if (this.proc.pid === undefined && this.exited === undefined) {
        this.exited = 'spawn failed'
        live.delete(this)
        for (const p of this.pending.values()) p.reject(new Error(`${name}: spawn failed: ${e.message}`))
        this.pending.clear()
      }
    })
  }

  get pid(): number | undefined {
    return this.proc.pid
  }

  /** Started and not exited yet. */
  get running(): boolean {
    return this.proc.pid !== undefined && this.exited === undefined
  }

  /** The first `{ready: true}` line (rejects if the child dies or takes longer than `timeoutMs`). */
  ready(timeoutMs = childDefaults.readyMs): Promise<Reply> {
    this.readyLine ??= new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(`${this.name} not ready within ${timeoutMs} ms: ${this.stderrTail.trim().slice(-1500)}`),
        )
      }, timeoutMs)
      const onLine = (line: Reply) => {
        if (line.ready !== true) return
        clearTimeout(timer)
        this.listeners.delete(onLine)
        resolve(line)
      }
      this.listeners.add(onLine)
      this.proc.once('exit', () => {
        clearTimeout(timer)
        reject(
          new Error(
            `${this.name} exited (${this.exited}) before ready: ${this.stderrTail.trim().slice(-1500)}`,
          ),
        )
      })
    })
    return this.readyLine
  }

  /** Send a command and wait for its reply; a reply with `error` rejects. */
  request(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<Reply> {
    if (this.exited !== undefined)
      return Promise.reject(new Error(`${this.name} has exited (${this.exited})`))
    const id = this.nextId++
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.name}: no reply to ${cmd} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer)
          if (typeof r.error === 'string') reject(new Error(`${this.name}: ${cmd}: ${r.error}`))
          else resolve(r)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      this.proc.stdin!.write(`${JSON.stringify({ id, cmd, ...args })}\n`)
    })
  }

  /** Send a command without waiting for a reply (credits in the pub/sub flow control). */
  notify(cmd: string, args: Record<string, unknown> = {}): void {
    if (this.exited === undefined) this.proc.stdin!.write(`${JSON.stringify({ id: 0, cmd, ...args })}\n`)
  }

  /** Unsolicited lines (`{event: ...}`). */
  onEvent(fn: (line: Reply) => void): void {
    this.listeners.add(fn)
  }

  /** Resident set size in bytes, from /proc (works for any child, Node or Go). */
  rss(): number | undefined {
    if (this.exited !== undefined || !this.proc.pid) return undefined
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.proc.pid}/status`, 'utf8'))
      return m ? Number(m[1]) * 1024 : undefined
    } catch {
      return undefined
    }
  }

  /**
   * CPU time the process has used so far (user + system, every thread), in milliseconds, from
   * /proc (works for any child, Node or Go); undefined once it has exited.
   */
  cpuMs(): number | undefined {
    if (this.exited !== undefined || !this.proc.pid) return undefined
    return processCpuMs(this.proc.pid)
  }

  /** Ask it to exit, close its stdin, then SIGTERM and finally SIGKILL if it lingers. */
  async stop(): Promise<void> {
    if (!this.running) return // exited, or never started (no pid: spawn failed)
    const gone = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()))
    this.request('exit', {}, 3000).catch(() => {})
    this.proc.stdin!.end()
    const wait = (ms: number) =>
      Promise.race([gone.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))])
    if (await wait(3000)) return
    this.proc.kill('SIGTERM')
    if (await wait(3000)) return
    this.proc.kill('SIGKILL')
    await gone
  }

  private onLine(text: string): void {
    let line: Reply
    try {
      line = JSON.parse(text) as Reply
    } catch {
      if (process.env.BENCH_VERBOSE) process.stderr.write(`[${this.name}] ${text}\n`)
      return
    }
    const re = typeof line.re === 'number' ? line.re : undefined
    if (re !== undefined) {
      const p = this.pending.get(re)
      this.pending.delete(re)
      p?.resolve(line)
      return
    }
    for (const fn of [...this.listeners]) fn(line)
  }
}

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`: 100 on Linux x86_64 and arm64). */
const CLK_TCK = 100

/**
 * The fields of /proc/<pid>/stat after the command name (which may hold spaces): index 0 is
 * `state`, field 3 in proc(5), so field n is at index n - 3.
 */
export function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
}

/** User + system CPU time of a process (all its threads), ms; undefined when it cannot be read. */
export function processCpuMs(pid: number): number | undefined {
  try {
    const fields = statFields(pid)
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK
  } catch {
    return undefined
  }
}

/** How many sockets (TCP, Unix) a process holds open, from /proc; undefined when unreadable. */
export function socketCount(pid: number): number | undefined {
  try {
    let n = 0
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++
      } catch {
        // closed while we looked
      }
    }
    return n
  } catch {
    return undefined
  }
}

/** Stop every child still running (after a failure, or on SIGINT). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop()))
}

/** Samples children's RSS every `intervalMs` and keeps the peak of each. */
export class RssSampler {
  private readonly peaks = new Map<Child, number>()
  private readonly timer: NodeJS.Timeout

  constructor(
    private readonly children: Child[],
    intervalMs = 100,
  ) {
    this.sample()
    this.timer = setInterval(() => this.sample(), intervalMs)
  }

  /** Stop sampling; the peak RSS in bytes of the busiest child (0 when none could be read). */
  stop(): number {
    clearInterval(this.timer)
    this.sample()
    return Math.max(0, ...this.peaks.values())
  }

  private sample(): void {
    for (const c of this.children) {
      const rss = c.rss()
      if (rss !== undefined) this.peaks.set(c, Math.max(rss, this.peaks.get(c) ?? 0))
    }
  }
}
