/**
 * Where each backend's tests find it, and what happens when it is not there: one variable
 * scheme (`MICRO_TEST_<BACKEND>_ADDRESS`) and one rule (skip loudly on a laptop, fail when `CI`
 * is set: CI never passes by skipping).
 */
import { probeBackend } from '../backend.js'
import { inCI } from '../suite.js'

/**
 * `MICRO_TEST_<BACKEND>_ADDRESS` (e.g. `MICRO_TEST_POSTGRES_ADDRESS`), else `fallback` (the
 * address scripts/backends.sh starts it on).
 */
export function testAddress(backend: string, fallback: string): string {
  const name = `MICRO_TEST_${backend.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}_ADDRESS`
  const value = process.env[name]?.trim()
  return value ? value : fallback
}

/**
 * The one skipping rule for backend tests outside the conformance suites. Resolves to true when
 * the tests may run; false (after a loud warning) when `probe` fails and CI is unset; throws
 * when CI is set. Use it as `describe.runIf(await requireBackend(...))`.
 */
export async function requireBackend(
  what: string,
  probe: () => Promise<unknown>,
  timeoutMs = 5_000,
): Promise<boolean> {
  const why = await probeBackend(what, probe, timeoutMs)
  if (why === false) return true
  if (inCI()) throw new Error(`${why} (CI is set: these tests may not be skipped)`)
  console.warn(`\n*** SKIPPED: ${why}. Start it with scripts/backends.sh to run these tests. ***\n`)
  return false
}

/** Like requireBackend, for a precondition that is not a server (a binary, a user). */
export function requireThat(ok: boolean, what: string): boolean {
  if (ok) return true
  if (inCI()) throw new Error(`${what} (CI is set: these tests may not be skipped)`)
  console.warn(`\n*** SKIPPED: ${what} ***\n`)
  return false
}
