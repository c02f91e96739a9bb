/** The scaffolding every suite shares: skipping rules, capability checks, per-test instances. */
import { afterEach, describe, it } from 'vitest'
import type { CommonOptions, SuiteSpec } from './types.js'
import { Cleanup, describeError } from './util.js'

/** True when `CI` is set to anything but an empty string, `0` or `false`. */
export function inCI(): boolean {
  const ci = process.env.CI
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false'
}

/**
 * Register `body` under `describe("<kind> conformance: <name>")`. A spec with `skip` is skipped
 * loudly, or, when `CI` is set, turned into one failing test: CI never passes by skipping.
 */
export function defineSuite<C extends string>(
  kind: string,
  spec: SuiteSpec<unknown, C, CommonOptions>,
  known: readonly C[],
  body: () => void,
): void {
  if (!spec || typeof spec.create !== 'function') {
    throw new TypeError(`${kind}Conformance: \`create\` must be a function returning a fresh ${kind}`)
  }
  const unknown = (spec.capabilities ?? []).filter((c) => !known.includes(c))
  if (unknown.length > 0) {
    throw new TypeError(
      `${kind}Conformance(${spec.name}): unknown capabilities ${unknown.join(', ')}; known: ${known.join(', ')}`,
    )
  }
  const title = `${kind} conformance: ${spec.name}`
  if (spec.skip) {
    const reason = spec.skip
    if (inCI()) {
      describe(title, () => {
        it('backend is reachable', () => {
          throw new Error(`${reason} (CI is set: a conformance suite may not be skipped)`)
        })
      })
    } else {
      console.warn(`\n*** SKIPPED ${title}: ${reason} ***\n*** (with CI set this fails instead) ***\n`)
      describe.skip(`${title} (skipped: ${reason})`, body)
    }
    return
  }
  describe(title, { timeout: spec.options?.testTimeout ?? 60_000 }, body)
}

/** Declared capability check. */
export function has<C extends string>(spec: SuiteSpec<unknown, C, unknown>, capability: C): boolean {
  return (spec.capabilities ?? []).includes(capability)
}

/**
 * Instances made during one test, closed after it (last made, first closed), plus anything else
 * the test asked to undo. Must be called inside a `describe` body.
 */
export interface Harness<T> {
  /** A new instance from the spec's factory, closed after the test. */
  fresh(): Promise<T>
  /** Close `instance` now (it will not be closed again after the test). */
  close(instance: T): Promise<void>
  /** Run `undo` after the test, before the instances are closed. */
  defer(what: string, undo: () => unknown): void
}

export function harness<T>(
  kind: string,
  spec: SuiteSpec<T, string, unknown>,
  closeInstance: (instance: T) => Promise<void>,
  closeTimeout = 10_000,
): Harness<T> {
  let cleanup = new Cleanup(closeTimeout)
  const closed = new WeakSet<object>()
  afterEach(async () => {
    const current = cleanup
    cleanup = new Cleanup(closeTimeout)
    await current.run()
  }, closeTimeout * 4)
  return {
    async fresh() {
      let instance: T
      try {
        instance = await spec.create()
      } catch (e) {
        throw new Error(`${kind} ${spec.name}: create() failed: ${describeError(e)}`, { cause: e })
      }
      if (!instance || typeof instance !== 'object') {
        throw new Error(`${kind} ${spec.name}: create() must return a ${kind} object`)
      }
      cleanup.add(`${kind}.close()`, () =>
        closed.has(instance as object) ? undefined : closeInstance(instance),
      )
      return instance
    },
    async close(instance) {
      closed.add(instance as object)
      await closeInstance(instance)
    },
    defer(what, undo) {
      cleanup.add(what, undo)
    },
  }
}
