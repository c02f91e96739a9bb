/**
 * mDNS sends multicast; on these machines it must never leave on a real interface. Every mDNS
 * test file calls `mdnsGuard()` first: inside a private network namespace (only loopback
 * interfaces, or MICRO_NETNS=1 set by scripts/netns.mjs) its suites run; outside one they are
 * skipped with a loud warning, and under CI a test fails instead, so CI never passes by skipping.
 *   node scripts/netns.mjs pnpm exec vitest run --project core packages/core/test/mdns
 */
import { networkInterfaces } from 'node:os'
import { expect, it } from 'vitest'

export function inPrivateNamespace(): boolean {
  const addrs = Object.values(networkInterfaces()).flatMap((list) => list ?? [])
  return addrs.every((a) => a.internal) || process.env.MICRO_NETNS === '1'
}

/** True when the file's mDNS suites may run. Registers a failing test under CI when they may not. */
export function mdnsGuard(file: string): boolean {
  if (inPrivateNamespace()) return true
  const msg =
    `${file}: NOT inside a private network namespace, so its mDNS tests would multicast on a real ` +
    'interface. Run them with: node scripts/netns.mjs pnpm exec vitest run --project core packages/core/test/mdns'
  if (process.env.CI) {
    it('runs inside a private network namespace', () => {
      expect.fail(msg)
    })
  } else {
    console.warn(`\n${'!'.repeat(100)}\n!! SKIPPED ${msg}\n${'!'.repeat(100)}\n`)
  }
  return false
}

/** A prefix unique to this test run, so concurrent files and leftovers never collide. */
export const runId = `t${process.pid.toString(36)}${Math.random().toString(36).slice(2, 7)}`
