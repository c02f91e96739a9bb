import { networkInterfaces } from 'node:os'

/**
 * True inside a private network namespace: every interface is loopback, or `MICRO_NETNS=1`
 * (set by the repository's scripts/netns.mjs). mDNS multicasts and may only run in one.
 */
export function inPrivateNamespace(): boolean {
  if (process.env.MICRO_NETNS === '1') return true
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .every((a) => a.internal)
}
