/**
 * `micro run [dir...]`: each directory's service runs as its own process, straight from its
 * TypeScript sources (tsx's loader, no build step), its output prefixed with its name; a change
 * to its files restarts it; Ctrl-C stops every service with its graceful drain (SIGTERM to each,
 * which deregisters and waits for calls in flight) and then the gateway, which runs beside them
 * unless `--no-gateway`.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { watch } from 'chokidar'
import { type Output, usage } from '../output.js'
import { gatewayBanner, type RunningGateway, startGateway } from './api.js'

export interface RunFlags {
  gateway?: boolean
  /** Serve the web dashboard on the gateway (default on). */
  dashboard?: boolean
  /** Gateway address (`:8080`). */
  address?: string
  watch?: boolean
  /** How long a service may take to drain before it is killed, ms. */
  drainTimeout?: number
}

/** A directory to run: its name (for the log prefix) and its entry file. */
export interface RunTarget {
  name: string
  dir: string
  entry: string
}

const ENTRIES = [
  'src/main.ts',
  'src/index.ts',
  'src/service.ts',
  'main.ts',
  'index.ts',
  'src/main.js',
  'index.js',
]

/** The entry: `micro.entry` in package.json, else the first of src/main.ts, src/index.ts, ... */
export function resolveTarget(dir: string): RunTarget {
  const abs = path.resolve(dir)
  if (!existsSync(abs)) throw usage(`micro run: ${dir} does not exist`)
  let name = path.basename(abs)
  let entry: string | undefined
  const pkgFile = path.join(abs, 'package.json')
  if (existsSync(pkgFile)) {
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { name?: string; micro?: { entry?: string } }
    if (pkg.name) name = pkg.name.slice(pkg.name.lastIndexOf('/') + 1)
    if (pkg.micro?.entry) entry = pkg.micro.entry
  }
  entry ??= ENTRIES.find((e) => existsSync(path.join(abs, e)))
  if (!entry || !existsSync(path.join(abs, entry))) {
    throw usage(
      `micro run: no entry in ${dir} (looked for ${ENTRIES.join(', ')}, or "micro": {"entry"} in package.json)`,
    )
  }
  return { name, dir: abs, entry: path.join(abs, entry) }
}

const COLORS = [36, 35, 33, 32, 34, 31]

class ServiceProcess {
  private child?: ChildProcess
  private exited?: Promise<void>
  private stopping = false

  constructor(
    readonly target: RunTarget,
    private readonly env: Record<string, string | undefined>,
    private readonly out: Output,
    private readonly color: number | undefined,
    private readonly drainTimeout: number,
  ) {}

  private get prefix(): string {
    const label = `[${this.target.name}]`
    return this.color === undefined ? label : `\x1b[${this.color}m${label}\x1b[0m`
  }

  log(line: string): void {
    this.out.out(`${this.prefix} ${line}\n`)
  }

  start(): void {
    this.stopping = false
    // tsx's loader runs the TypeScript as is; resolved from the CLI, so the service needs no tsx of its own.
    const loader = import.meta.resolve('tsx')
    const child = spawn(process.execPath, ['--import', loader, this.target.entry], {
      cwd: this.target.dir,
      env: this.env as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: Ctrl-C reaches micro alone, which sends each service exactly one SIGTERM.
      detached: true,
    })
    this.child = child
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => this.log(line))
    }
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        if (!this.stopping) this.log(`exited (${signal ?? `code ${code}`}); waiting for a change to restart`)
        this.child = undefined
        resolve()
      })
    })
    this.log(
      `started (pid ${child.pid}): ${path.relative(process.cwd(), this.target.entry) || this.target.entry}`,
    )
  }

  /** SIGTERM (the service drains), then SIGKILL if it has not exited within the drain timeout. */
  async stop(): Promise<void> {
    const child = this.child
    if (!child?.pid) return
    this.stopping = true
    child.kill('SIGTERM')
    const timer = setTimeout(() => {
      this.log(`still running after ${this.drainTimeout} ms: killing it`)
      child.kill('SIGKILL')
    }, this.drainTimeout)
    await this.exited
    clearTimeout(timer)
    this.log(`stopped (${child.signalCode ?? `code ${child.exitCode}`})`)
  }

  async restart(reason: string): Promise<void> {
    this.log(`${reason}: restarting`)
    await this.stop()
    this.start()
  }
}

export async function run(
  env: Record<string, string | undefined>,
  out: Output,
  dirs: readonly string[],
  flags: RunFlags,
  signal: AbortSignal,
): Promise<void> {
  const targets = (dirs.length ? dirs : ['.']).map(resolveTarget)
  const colored = process.stdout.isTTY === true
  // Pretty logs for a person at a terminal; the services' stderr is a pipe, so they would pick JSON.
  const childEnv = { ...env, MICRO_LOG_FORMAT: env.MICRO_LOG_FORMAT ?? (colored ? 'pretty' : 'json') }
  const drain = flags.drainTimeout ?? 35_000
  const services = targets.map(
    (t, i) => new ServiceProcess(t, childEnv, out, colored ? COLORS[i % COLORS.length] : undefined, drain),
  )

  let gateway: RunningGateway | undefined
  if (flags.gateway !== false) {
    gateway = await startGateway(env, { address: flags.address, dashboard: flags.dashboard !== false })
    out.out(gatewayBanner(gateway.address, gateway.gateway))
  }
  for (const s of services) s.start()

  const watchers = flags.watch === false ? [] : services.map((s) => watchTarget(s))
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve()
    signal.addEventListener('abort', () => resolve(), { once: true })
  })
  out.out('micro run: stopping (each service drains its calls in flight)\n')
  await Promise.all(watchers.map((w) => w.close()))
  await Promise.all(services.map((s) => s.stop()))
  if (gateway) {
    await gateway.close()
    out.out('micro run: gateway stopped\n')
  }
}

/** Restart the service when a file of its directory changes (node_modules, dist, .git aside), debounced. */
function watchTarget(service: ServiceProcess) {
  let timer: NodeJS.Timeout | undefined
  let changed = ''
  let restarting = Promise.resolve()
  const watcher = watch(service.target.dir, {
    ignoreInitial: true,
    ignored: (p) => /(^|[/\\])(node_modules|dist|\.git|coverage)([/\\]|$)/.test(p),
  })
  watcher.on('all', (_event, file) => {
    changed = path.relative(service.target.dir, file)
    clearTimeout(timer)
    timer = setTimeout(() => {
      restarting = restarting.then(() => service.restart(`${changed} changed`))
    }, 150)
  })
  return {
    close: async () => {
      clearTimeout(timer)
      await watcher.close()
      await restarting
    },
  }
}
