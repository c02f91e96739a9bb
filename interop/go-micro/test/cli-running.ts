/** A long-running command whose stdout can be waited on, stopped with SIGINT by its PID. */
import { type ChildProcess, spawn } from 'node:child_process'

export class Running {
  stdout = ''
  stderr = ''
  readonly child: ChildProcess
  readonly exited: Promise<number | null>

  constructor(cmd: string, args: string[], env: Record<string, string>) {
    this.child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    this.child.stdout?.on('data', (d: Buffer) => {
      this.stdout += d
    })
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d
    })
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)))
  }

  async waitFor(pattern: RegExp, ms = 30_000): Promise<RegExpMatchArray> {
    const until = Date.now() + ms
    for (;;) {
      const m = this.stdout.match(pattern)
      if (m) return m
      if (this.child.exitCode !== null || Date.now() > until)
        throw new Error(`no ${pattern}:\n${this.stdout}\n${this.stderr}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  async interrupt(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGINT')
    return this.exited
  }
}
