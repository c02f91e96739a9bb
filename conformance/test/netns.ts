import { inPrivateNamespace } from '../src/netns.js'

/** The `skip` reason for a suite that multicasts (mDNS), or false inside a private network namespace. */
export function needsPrivateNamespace(): string | false {
  return inPrivateNamespace()
    ? false
    : 'not inside a private network namespace, so mDNS would multicast on a real interface; ' +
        'run with: node scripts/netns.mjs pnpm exec vitest run --project conformance'
}
