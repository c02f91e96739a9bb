/**
 * One private-server launcher for every backend's tests: a free loopback port, a throwaway data
 * directory, spawn, wait until ready, signal/kill by PID, restart on the same port, clean up.
 * A backend is a small subclass saying how to start it and how to tell it is ready.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'

/** The state letter of each thread of `pid` (`T`/`t`: stopped), from /proc. */
function threadStates(pid: number): string {
  let tasks: string[]
  try {
    tasks = readdirSync(`/proc/${pid}/task`)
  } catch {
    return '' // gone
  }
  return tasks
    .map((task) => {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8')
        return stat[stat.lastIndexOf(')') + 2] ?? '' // the name in parentheses may itself hold ')'
      } catch {
        return '' // the thread ended meanwhile
      }
    })
    .join('')
}

/**
 * SIGSTOP `pid` and wait until every thread of it has stopped. kill() returns before that: Linux
 * hands the signal to one thread, and only when that thread runs are the others stopped, so on a
 * busy machine a "stopped" server still answers for a few milliseconds. Without /proc it waits
 * half a second.
 */
export async function suspendProcess(pid: number, timeoutMs = 10_000): Promise<void> {
  process.kill(pid, 'SIGSTOP')
  if (!existsSync(`/proc/${pid}/task`)) {
    await new Promise((r) => setTimeout(r, 500))
    return
  }
  const deadline = Date.now() + timeoutMs
  while (/[^Tt]/.test(threadStates(pid))) {
    if (Date.now() > deadline)
      throw new Error(`process ${pid} did not stop within ${timeoutMs} ms of SIGSTOP`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

/** A loopback port nothing listens on right now. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, resolve)
  })
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** True when something accepts TCP connections on `host:port` within `timeoutMs`. */
export function canConnect(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/** True when `command --version` (or `args`) runs. */
export function hasCommand(command: string, args: readonly string[] = ['--version']): boolean {
  try {
    execFileSync(command, [...args], { stdio: 'ignore', timeout: 10_000 })
    return true
  } catch {
    return false
  }
}

/** A system user's uid/gid, or undefined (servers that refuse to run as root run as it). */
export function systemUser(name: string): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim())
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim())
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined
  } catch {
    return undefined
  }
}

/** How to run the server: the command, its arguments, and optionally env, cwd and user. */
export interface LaunchSpec {
  command: string
  args: readonly string[]
  env?: Record<string, string | undefined>
  cwd?: string
  /** Run as this user (a server that refuses root). */
  user?: { uid: number; gid: number }
}

export interface PrivateServerOptions {
  /** Port to listen on; default a free one. Restarts keep it. */
  port?: number
  /** How long start() waits for ready(), ms. Default 30 000. */
  startTimeout?: number
}

/**
 * A backend server process owned by one test file. Subclasses give `launch()` (how to start on
 * `this.port` with data in `this.dir`) and `ready()` (answers a real request); the base does the
 * rest. Start one with `await MyServer.start(options)`-style static helpers in the subclass, or
 * `new MyServer(opts)` then `await server.start()`.
 */
export abstract class PrivateServer {
  /** Short name for messages: `nats-server`, `etcd`. */
  abstract readonly name: string
  readonly host = '127.0.0.1'
  /** The throwaway data directory, removed by stop(). */
  readonly dir: string
  private _port: number | undefined
  private child: ChildProcess | undefined
  private output = ''
  private readonly startTimeout: number

  constructor(options: PrivateServerOptions = {}) {
    this._port = options.port
    this.startTimeout = options.startTimeout ?? 30_000
    this.dir = mkdtempSync(path.join(tmpdir(), 'micro-test-'))
  }

  /** How to start the server on `this.port` with its data in `this.dir`. */
  protected abstract launch(): LaunchSpec | Promise<LaunchSpec>

  /** True once the server answers. Called every 100 ms until start() times out. */
  protected abstract ready(): Promise<boolean>

  /** Runs once before the first spawn (initdb and the like). */
  protected async prepare(): Promise<void> {}

  get port(): number {
    if (this._port === undefined) throw new Error(`${this.name}: not started`)
    return this._port
  }

  /** `127.0.0.1:<port>`. */
  get address(): string {
    return `${this.host}:${this.port}`
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null
  }

  /** The last few KiB the server wrote, for failure messages. */
  get log(): string {
    return this.output
  }

  /** Give the data directory to `user` (for servers that run as another user). */
  protected ownDir(user: { uid: number; gid: number } | undefined): void {
    if (user) chownSync(this.dir, user.uid, user.gid)
  }

  private prepared = false

  /** Spawn and wait until ready (or fail with the server's output). */
  async start(): Promise<this> {
    if (this.running) return this
    this._port ??= await freePort(this.host)
    if (!this.prepared) {
      await this.prepare()
      this.prepared = true
    }
    const spec = await this.launch()
    this.output = ''
    const child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      env: spec.env ? { ...process.env, ...spec.env } : process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      uid: spec.user?.uid,
      gid: spec.user?.gid,
    })
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-8000)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    child.on('error', (err) => keep(Buffer.from(`spawn failed: ${err.message}\n`)))
    this.child = child
    const deadline = Date.now() + this.startTimeout
    while (Date.now() < deadline) {
      if (!this.running)
        throw new Error(`${this.name} exited (${child.exitCode ?? child.signalCode}): ${this.output}`)
      try {
        if (await this.ready()) return this
      } catch {
        // not yet
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    await this.kill()
    throw new Error(
      `${this.name} on ${this.address} was not ready within ${this.startTimeout} ms: ${this.output}`,
    )
  }

  /** Send `signal` by PID and wait for the exit (SIGKILL after `graceMs` if it lingers). */
  async signal(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
    const child = this.child
    if (!child || !this.running) return
    const exited = new Promise((r) => child.once('exit', r))
    process.kill(child.pid!, signal)
    const timer = setTimeout(() => {
      if (this.running) process.kill(child.pid!, 'SIGKILL')
    }, graceMs)
    await exited
    clearTimeout(timer)
  }

  /** SIGSTOP it and wait until it has really stopped (see `suspendProcess`): it answers nothing. */
  async suspend(): Promise<void> {
    if (this.running) await suspendProcess(this.child!.pid!)
  }

  /** SIGCONT after `suspend()`. */
  resume(): void {
    if (this.running) process.kill(this.child!.pid!, 'SIGCONT')
  }

  /** SIGKILL and wait for the exit. */
  kill(): Promise<void> {
    return this.signal('SIGKILL')
  }

  /** Kill, stay down `downMs`, start again on the same port with the same data. */
  async restart(downMs = 0): Promise<void> {
    await this.kill()
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs))
    await this.start()
  }

  /** Stop the process (SIGTERM, then SIGKILL) and remove the data directory. */
  async stop(): Promise<void> {
    this.resume() // a suspended process would take the SIGTERM only after the grace
    await this.signal('SIGTERM', 5_000)
    rmSync(this.dir, { recursive: true, force: true })
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop()
  }
}

/**
 * A TCP server that accepts connections and never answers: a backend that hangs. Dial-timeout
 * and request-timeout tests point a client at it. Close it with `close()`.
 */
export async function silentServer(): Promise<{ port: number; address: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return {
    port,
    address: `127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** A loopback address where nothing listens (connections are refused). */
export async function deadAddress(): Promise<string> {
  return `127.0.0.1:${await freePort()}`
}
