/**
 * Helpers shared by the suites: per-run names, polling assertions, MicroError checks, message
 * collection and cleanup. Nothing here depends on a particular backend.
 */
import { randomBytes as cryptoRandomBytes, randomUUID } from 'node:crypto'
import { expect } from 'vitest'

/** A short id unique to this process: every key, topic and service name carries it. */
export const RUN_ID: string = randomUUID().replaceAll('-', '').slice(0, 10)

let counter = 0

/** `mc-<run>-<label>-<n>`: unique within the run, and never equal to another run's names. */
export function uniqueName(label: string): string {
  counter++
  return `mc-${RUN_ID}-${label}-${counter}`
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Run `check` until it stops throwing or `timeout` ms pass, then rethrow its last error. For
 * backends that are eventually consistent (mDNS answers, TTL sweeps).
 */
export async function eventually<T>(
  check: () => T | Promise<T>,
  timeout: number,
  interval = Math.min(50, Math.max(5, timeout / 20)),
): Promise<T> {
  const deadline = Date.now() + timeout
  for (;;) {
    try {
      return await check()
    } catch (e) {
      if (Date.now() >= deadline) throw e
    }
    await sleep(interval)
  }
}

/** The fields of a go-micro error, checked by shape so a plugin's own copy of core passes too. */
export interface ErrorShape {
  id: string
  code: number
  detail: string
  status?: string
}

export function isMicroErrorShape(err: unknown): err is ErrorShape {
  if (!err || typeof err !== 'object') return false
  const e = err as Record<string, unknown>
  return typeof e.code === 'number' && typeof e.detail === 'string' && typeof e.id === 'string'
}

/**
 * Await a promise that must reject with a MicroError (`{id, code, detail}`), optionally with
 * `code`; returns the error. A plain Error, a string, or a resolve fails the assertion.
 */
export async function expectMicroError(
  promise: Promise<unknown> | (() => unknown),
  code?: number,
): Promise<ErrorShape> {
  let outcome: { ok: true; value: unknown } | { ok: false; error: unknown }
  try {
    const value = typeof promise === 'function' ? await promise() : await promise
    outcome = { ok: true, value }
  } catch (error) {
    outcome = { ok: false, error }
  }
  if (outcome.ok) {
    expect.fail(`expected a MicroError${code ? ` with code ${code}` : ''}, but the call succeeded`)
  }
  const error = (outcome as { error: unknown }).error
  if (!isMicroErrorShape(error)) {
    expect.fail(`expected a MicroError {id, code, detail}, got ${describeError(error)}`)
  }
  if (code !== undefined) expect(error.code, `error: ${describeError(error)}`).toBe(code)
  return error
}

export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const e = err as Error & Partial<ErrorShape>
    return `${e.name}(${e.code !== undefined ? `code ${e.code}: ` : ''}${e.message})`
  }
  try {
    return JSON.stringify(err)
  } catch {
    return String(err)
  }
}

/** Every byte value 0..255, then the same reversed: catches text decoding of binary bodies. */
export function allBytes(): Uint8Array {
  const out = new Uint8Array(512)
  for (let i = 0; i < 256; i++) {
    out[i] = i
    out[511 - i] = i
  }
  return out
}

export function randomBytes(size: number): Uint8Array {
  return new Uint8Array(cryptoRandomBytes(size))
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function utf8(text: string): Uint8Array {
  return encoder.encode(text)
}

export function text(bytes: Uint8Array): string {
  return decoder.decode(bytes)
}

/** Compare bytes with a short message instead of a multi-megabyte diff. */
export function expectBytes(actual: Uint8Array | undefined, expected: Uint8Array, what = 'bytes'): void {
  expect(actual, `${what}: missing`).toBeDefined()
  const a = actual as Uint8Array
  expect(a.byteLength, `${what}: length`).toBe(expected.byteLength)
  const first = a.findIndex((b, i) => b !== expected[i])
  expect(first, `${what}: first differing byte`).toBe(-1)
}

/** Lower-cased header lookup: header names are case-insensitive everywhere. */
export function header(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers) return undefined
  const want = name.toLowerCase()
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === want) return v
  return undefined
}

/**
 * Collects items as they arrive and lets a test wait for a count. Waiting is bounded, and a
 * timeout says how many arrived, so a lost message reads as such rather than as a hang.
 */
export class Inbox<T> {
  readonly items: T[] = []
  private waiters: Array<{ n: number; resolve: () => void }> = []

  push(item: T): void {
    this.items.push(item)
    this.waiters = this.waiters.filter((w) => {
      if (this.items.length < w.n) return true
      w.resolve()
      return false
    })
  }

  get length(): number {
    return this.items.length
  }

  /** Resolve once at least `n` items arrived; reject after `timeout` ms. */
  async waitFor(n: number, timeout: number, what = 'items'): Promise<T[]> {
    if (this.items.length >= n) return this.items
    let timer: NodeJS.Timeout | undefined
    try {
      await new Promise<void>((resolve, reject) => {
        this.waiters.push({ n, resolve })
        timer = setTimeout(
          () =>
            reject(
              new Error(`timed out after ${timeout} ms waiting for ${n} ${what}; got ${this.items.length}`),
            ),
          timeout,
        )
      })
    } finally {
      clearTimeout(timer)
    }
    return this.items
  }
}

/**
 * Resources a test opened, closed after it in reverse order. A close() that hangs fails the test
 * (after `timeout` ms) instead of hanging the run.
 */
export class Cleanup {
  private readonly tasks: Array<{ what: string; run: () => unknown }> = []

  constructor(private readonly timeout: number) {}

  add(what: string, run: () => unknown): void {
    this.tasks.push({ what, run })
  }

  async run(): Promise<void> {
    const failures: string[] = []
    while (this.tasks.length > 0) {
      const task = this.tasks.pop()!
      let timer: NodeJS.Timeout | undefined
      try {
        await Promise.race([
          Promise.resolve().then(task.run),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`did not finish within ${this.timeout} ms`)),
              this.timeout,
            )
          }),
        ])
      } catch (e) {
        failures.push(`${task.what}: ${describeError(e)}`)
      } finally {
        clearTimeout(timer)
      }
    }
    if (failures.length > 0) throw new Error(`cleanup failed: ${failures.join('; ')}`)
  }
}

/** `4 MiB`, `64 KiB`, `100 bytes`: sizes in test names. */
export function size(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024} MiB`
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`
  return `${bytes} bytes`
}

/** The array sorted in code-unit order (the order stores return keys in). */
export function sorted(values: readonly string[]): string[] {
  return [...values].sort()
}
