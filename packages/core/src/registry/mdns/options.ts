/** The mDNS registry's options, declared once (the loader, createMdnsRegistry and the docs use them). */
import type { Logger } from '../../logger.js'
import { type OptionsOf, option, parseOptions } from '../../plugin/options.js'
import { DEFAULT_DOMAIN } from './records.js'

export const mdnsRegistryOptions = {
  domain: option.string({ doc: "The mDNS domain (go-micro's)", default: DEFAULT_DOMAIN }),
  timeout: option.duration({ doc: 'How long getService/listServices collect answers', default: 100, min: 1 }),
  port: option.integer({
    doc: 'UDP port; only peers on the same port see each other',
    default: 5353,
    min: 1,
    max: 65535,
  }),
  group: option.string({ doc: 'IPv4 multicast group', default: '224.0.0.251' }),
  interface: option.string({
    doc: 'IPv4 address of the interface used for multicast (default: every interface)',
  }),
  hostname: option.string({ doc: 'Host name put in SRV/A records (default: the OS host name)' }),
} as const

export type MdnsRegistryOptions = OptionsOf<typeof mdnsRegistryOptions> & { logger?: Logger }

/** The options with defaults; a bad one is a 400 MicroError (go.micro.registry) naming it. */
export function resolveMdnsOptions(options: MdnsRegistryOptions = {}) {
  const { logger: _logger, ...given } = options
  return parseOptions(mdnsRegistryOptions, given, { kind: 'registry', name: 'mdns' })
}
