/**
 * Child processes for the release test: commands that must succeed (their output is in the error
 * when they do not) and long-running processes whose lines are awaited, ended by their own PID.
 */
import { type ChildProcess, spawn } from 'node:child_process'

export interface RunOptions {
  cwd: string
  env?: NodeJS.ProcessEnv
  /** Milliseconds before the command is killed (default 10 minutes). */
  timeout?: number
}

export interface RunResult {
  stdout: string
  stderr: string
  code: number
}

const tail = (s: string, n = 6000) => (s.length > n ? `…${s.slice(-n)}` : s)

/** Run a command to its end; `check: false` returns a non-zero exit instead of throwing. */
export function run(
  cmd: string,
  args: string[],
  options: RunOptions & { check?: boolean },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 600_000)
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(new Error(`${cmd} ${args.join(' ')}: ${e.message}`))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const result = { stdout, stderr, code: code ?? 1 }
      if (options.check === false || code === 0) return resolve(result)
      reject(
        new Error(
          `\`${cmd} ${args.join(' ')}\` in ${options.cwd} exited with ${code ?? signal}\n` +
            `--- stdout\n${tail(stdout)}\n--- stderr\n${tail(stderr)}`,
        ),
      )
    })
  })
}

/** A process that keeps running: its output, a wait for a line, and a stop by its PID. */
export class Background {
  output = ''
  private readonly child: ChildProcess
  private exited?: number | string
  private readonly exit: Promise<void>

  constructor(
    readonly label: string,
    cmd: string,
    args: string[],
    options: { cwd: string; env?: NodeJS.ProcessEnv },
  ) {
    this.child = spawn(cmd, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] })
    const add = (d: string) => {
      this.output += d
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000)
    }
    this.child.stdout?.setEncoding('utf8').on('data', add)
    this.child.stderr?.setEncoding('utf8').on('data', add)
    this.exit = new Promise((resolve) => {
      this.child.on('error', (e) => {
        add(`\n${label}: ${e.message}\n`)
        this.exited = 'error'
        resolve()
      })
      this.child.on('exit', (code, signal) => {
        this.exited = code ?? signal ?? 'exit'
        resolve()
      })
    })
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  /** The first output line that `match` accepts; throws with the output if the process ends or `timeout` passes. */
  async line(match: (line: string) => boolean, timeout = 60_000): Promise<string> {
    const deadline = Date.now() + timeout
    for (;;) {
      const found = this.output.split('\n').find(match)
      if (found !== undefined) return found
      if (this.exited !== undefined)
        throw new Error(`${this.label} exited (${this.exited}):\n${tail(this.output)}`)
      if (Date.now() > deadline)
        throw new Error(`${this.label}: no such line within ${timeout} ms:\n${tail(this.output)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  /** SIGTERM, then SIGKILL after `grace` ms; resolves once it has exited. */
  async stop(grace = 10_000): Promise<number | string | undefined> {
    if (this.exited === undefined && this.child.pid) {
      this.child.kill('SIGTERM')
      const timer = setTimeout(() => this.child.kill('SIGKILL'), grace)
      await this.exit
      clearTimeout(timer)
    }
    return this.exited
  }
}
