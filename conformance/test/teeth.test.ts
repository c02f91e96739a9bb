// The conformance cases have teeth: each case written for a gap the review of 2026-12 found
// (planted bugs that no case caught) fails against an embedded implementation with exactly that
// bug planted (test/fixtures/teeth-*.mjs), through the runner CLI filtered to the case, and the
// same filter passes against the implementation without the bug.
import { describe, expect, it } from 'vitest'
import { CLOSING, cli, failedTitles, fixture, type Run } from './cli-run.js'

interface Tooth {
  /** The gap, as the review lists it. */
  gap: string
  kind: 'store' | 'registry' | 'broker' | 'transport'
  /** The case's title, exactly: the filter matches it and only it (once per scope it runs in). */
  title: string
  /** The broken plugin: one planted bug in `sound`. */
  broken: string
  /** The plugin without the bug: a built-in name, or a fixture where no built-in has the capability. */
  sound: string
}

const TEETH: readonly Tooth[] = [
  {
    gap: 'store: metadata is copied',
    kind: 'store',
    title: 'metadata is copied: changing the written or the read metadata object changes nothing stored',
    broken: 'teeth-store-metadata.mjs',
    sound: 'memory',
  },
  {
    gap: 'store: the first read after expiry is already empty',
    kind: 'store',
    title: 'the first read after expiry is already empty: a 404, and [] from a prefix read and from list()',
    broken: 'teeth-store-expired-once.mjs',
    sound: 'memory',
  },
  {
    gap: 'store: glob and regex characters in keys and prefixes are literal',
    kind: 'store',
    title:
      'glob and regular-expression characters (* ? [ ] \\ . ^ $ | + ( { ) in prefix and suffix filters match themselves only',
    broken: 'teeth-store-glob.mjs',
    sound: 'memory',
  },
  {
    gap: 'store (second case): suffix with limit/offset',
    kind: 'store',
    title: 'a suffix filter pages with limit and offset after the filter, alone and with a prefix',
    broken: 'teeth-store-suffix-paging.mjs',
    sound: 'memory',
  },
  {
    gap: 'registry: records are copied (in)',
    kind: 'registry',
    title: 'changing a service object after register() changes nothing registered',
    broken: 'teeth-registry-copy-in.mjs',
    sound: 'memory',
  },
  {
    gap: 'registry: records are copied (out)',
    kind: 'registry',
    title: 'changing what getService() or listServices() returned changes nothing registered',
    broken: 'teeth-registry-copy-out.mjs',
    sound: 'memory',
  },
  {
    gap: 'registry: services a/b and a-b are kept apart',
    kind: 'registry',
    title: 'names that differ only in / and - stay apart: a/b and a-b',
    broken: 'teeth-registry-slash-dash.mjs',
    sound: 'memory',
  },
  {
    gap: 'registry (second case): partial deregister',
    kind: 'registry',
    title: 'deregistering some nodes of a service registered one by one leaves the others exactly',
    broken: 'teeth-registry-partial-deregister.mjs',
    sound: 'memory',
  },
  {
    gap: 'broker: messages are copied',
    kind: 'broker',
    title:
      'reusing the published body and headers, or changing a delivered message, changes no one else’s copy',
    broken: 'teeth-broker-no-copy.mjs',
    sound: 'memory',
  },
  {
    gap: 'broker: a reconnect drops old subscriptions',
    kind: 'broker',
    title:
      'after disconnect() and connect(), subscriptions made before get nothing; new ones get every message',
    broken: 'teeth-broker-resubscribes.mjs',
    sound: 'memory',
  },
  {
    gap: 'broker: autoAck: false is settled by the handler, even late',
    kind: 'broker',
    title:
      'with autoAck off the handler settles the message, even after it returned: a late nack(), then a late ack()',
    broken: 'teeth-broker-late-settle.mjs',
    sound: 'teeth-acking-broker.mjs',
  },
  {
    gap: 'broker: a queue group shares the load',
    kind: 'broker',
    title: 'a queue group shares the load: with three members, thirty messages reach at least two of them',
    broken: 'teeth-broker-first-member.mjs',
    sound: 'memory',
  },
  {
    gap: 'broker (second case): ordering',
    kind: 'broker',
    title: 'every subscriber sees one publisher’s order, with small and large messages mixed',
    broken: 'teeth-broker-large-later.mjs',
    sound: 'memory',
  },
  {
    gap: 'broker (second case): redelivery after a throw',
    kind: 'broker',
    title:
      'in a queue group, a handler that rejects after an await gets each message redelivered to the group until it succeeds once',
    broken: 'teeth-broker-async-throw.mjs',
    sound: 'teeth-acking-broker.mjs',
  },
  {
    gap: 'transport: the deadline reaches the handler',
    kind: 'transport',
    title:
      'through core’s RPC client and server, a call’s deadline reaches the handler: a Timeout header of at most 5e9 ns',
    broken: 'teeth-transport-drops-timeout.mjs',
    sound: 'http',
  },
  {
    gap: 'transport: the server honours a Timeout header on its own',
    kind: 'transport',
    title:
      'through core’s RPC server, a request carrying Timeout: 200e6 ns and no client deadline is aborted with a 408',
    broken: 'teeth-transport-no-deadline.mjs',
    sound: 'tcp',
  },
  {
    gap: 'transport: UTF-8 header values round-trip',
    kind: 'transport',
    title: 'UTF-8 header values round-trip, in a request and in a reply',
    broken: 'teeth-transport-latin1.mjs',
    sound: 'tcp',
  },
  {
    gap: 'transport: close() really closes',
    kind: 'transport',
    title:
      'close() really closes the client: request() then rejects with a MicroError, and a pending recv() ends or rejects',
    broken: 'teeth-transport-close-reopens.mjs',
    sound: 'http',
  },
  {
    gap: 'transport (second case): error-code mapping',
    kind: 'transport',
    title: 'every error code, with its id and detail, reaches the client as it was thrown',
    broken: 'teeth-transport-error-codes.mjs',
    sound: 'tcp',
  },
]

const plugin = (name: string) => (name.endsWith('.mjs') ? fixture(name) : name)
const exact = (title: string) => title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** The closing line's counts; fails the test with the run's output when there is none. */
function counts(run: Run): { passed: number; failed: number } {
  const m = CLOSING.exec(run.last)
  expect(m, `no closing line; last line: ${run.last}\n${run.out}\n${run.err}`).not.toBeNull()
  return { passed: Number(m![1]), failed: Number(m![2]) }
}

describe.concurrent('conformance teeth: each gap case fails on its planted bug and passes without it', () => {
  for (const t of TEETH) {
    it(`${t.gap}: fails on ${t.broken}, passes on ${t.sound}`, { timeout: 300_000 }, async () => {
      const filter = exact(t.title)
      const [broken, sound] = await Promise.all([
        cli(t.kind, fixture(t.broken), '--filter', filter),
        cli(t.kind, plugin(t.sound), '--filter', filter),
      ])
      const b = counts(broken)
      expect(failedTitles(broken), `the failures on ${t.broken}\n${broken.out}\n${broken.err}`).toEqual([
        t.title,
      ])
      expect(b.failed, `${t.broken}: ${broken.last}`).toBeGreaterThan(0)
      expect(b.passed, `${t.broken}: ${broken.last}`).toBe(0)
      expect(broken.code).toBe(1)
      const s = counts(sound)
      expect(failedTitles(sound), `the failures on ${t.sound}\n${sound.out}\n${sound.err}`).toEqual([])
      expect({ passed: s.passed, failed: s.failed }, `${t.sound}: ${sound.last}`).toEqual({
        passed: b.failed,
        failed: 0,
      })
      expect(sound.code).toBe(0)
    })
  }
})
