// Running the conformance runner CLI as a user would, for the tests that check what it reports.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const bin = fileURLToPath(new URL('../bin/micro-conformance.js', import.meta.url))

/** The path of a plugin module in test/fixtures. */
export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))

export interface Run {
  code: number | null
  out: string
  err: string
  /** The last line of stdout: the CLI's closing `N passed, N failed[, N skipped]`. */
  last: string
}

/** The CLI's closing line: passed, failed and (when any) skipped counts. */
export const CLOSING = /^(\d+) passed, (\d+) failed(, (\d+) skipped)?$/

export function cli(...args: string[]): Promise<Run> {
  return cliWithEnv({}, ...args)
}

/** Run the CLI with `args`, `env` added to this process's environment, without colours. */
export function cliWithEnv(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, CI: '', FORCE_COLOR: '0', NO_COLOR: '1', ...env },
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    child.stderr.on('data', (d) => {
      err += d
    })
    child.on('error', reject)
    child.on('close', (code) => {
      const lines = out.trimEnd().split('\n')
      resolve({ code, out, err, last: lines[lines.length - 1] ?? '' })
    })
  })
}

/** The titles of the tests the run reports as failed (vitest's `FAIL  file > suite > ... > title` lines, on stderr). */
export function failedTitles(run: Run): string[] {
  const titles = new Set<string>()
  for (const line of `${run.out}\n${run.err}`.split('\n')) {
    const m = /^\s*FAIL\s+\S+ > (.*)$/.exec(line)
    if (m) titles.add(m[1].split(' > ').pop()!.trim())
  }
  return [...titles]
}
