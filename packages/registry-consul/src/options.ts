import type { Logger } from '@micro-ts/core'
import {
  type OptionValues,
  option,
  parseOptions,
  parseUrl,
  pluginErrors,
  readTls,
  splitAddresses,
  tlsOptions,
} from '@micro-ts/core/plugin'
import { type AgentAddress, type AgentTls, joinHostPort } from './agents.js'

/** go-micro's default agent (consul's `DefaultConfig`), and the port a bare host gets. */
export const DEFAULT_ADDRESS = '127.0.0.1:8500'
export const DEFAULT_PORT = 8500
export const DEFAULT_TIMEOUT = 5_000
export const DEFAULT_CONNECT_TIMEOUT = 5_000
export const DEFAULT_WATCH_WAIT = 60_000
export const DEFAULT_RESYNC_GRACE = 30_000

export const errors = pluginErrors('registry', 'consul registry')

const tls = tlsOptions('the Consul agents')

/**
 * The options, declared once: the plugin loader, `createConsulRegistry()` and the README table
 * use them. Consul's own variables (`CONSUL_HTTP_TOKEN`, `CONSUL_HTTP_ADDR`, `CONSUL_CACERT`, ...)
 * set them too, as they do for go-micro, whose Consul client reads them.
 */
export const consulRegistryOptions = {
  address: option.string({
    doc: 'Agent address(es), comma separated, when MICRO_REGISTRY_ADDRESS gives none: host[:port] or http(s)://host[:port]',
    env: ['CONSUL_HTTP_ADDR'],
  }),
  token: option.secret({ doc: 'ACL token, sent as X-Consul-Token', env: ['CONSUL_HTTP_TOKEN'] }),
  datacenter: option.string({ doc: "Datacenter to read from (?dc=); default the agent's own" }),
  consistency: option.oneOf(['stale', 'default', 'consistent'] as const, {
    doc: "Read consistency: stale lets any server answer (go-micro's AllowStale default), default asks the leader, consistent also confirms leadership",
    default: 'stale',
  }),
  timeout: option.duration({
    doc: 'Deadline of every request to an agent, blocking queries excepted',
    default: DEFAULT_TIMEOUT,
    min: 1,
  }),
  connectTimeout: option.duration({
    doc: 'How long opening a connection to an agent may take',
    default: DEFAULT_CONNECT_TIMEOUT,
    min: 1,
  }),
  watchWait: option.duration({
    doc: 'Longest wait of one blocking query (Consul caps it at 10m)',
    default: DEFAULT_WATCH_WAIT,
    min: 1_000,
    max: 600_000,
  }),
  resyncGrace: option.duration({
    doc: 'After an agent comes back without its state, how long a watch keeps nodes it no longer sees before it reports them deleted',
    default: DEFAULT_RESYNC_GRACE,
    min: 0,
  }),
  tls: option.flag({ doc: tls.tls.doc, env: ['CONSUL_HTTP_SSL'] }),
  'tls.ca': tls['tls.ca'],
  'tls.caFile': option.string({ doc: tls['tls.caFile'].doc, env: ['CONSUL_CACERT'] }),
  'tls.cert': tls['tls.cert'],
  'tls.certFile': option.string({ doc: tls['tls.certFile'].doc, env: ['CONSUL_CLIENT_CERT'] }),
  'tls.key': tls['tls.key'],
  'tls.keyFile': option.string({ doc: tls['tls.keyFile'].doc, env: ['CONSUL_CLIENT_KEY'] }),
} as const

export type ConsulOptionValues = OptionValues<typeof consulRegistryOptions>

/** Options of {@link createConsulRegistry}: every declared option, plus addresses and a logger. */
export interface ConsulRegistryOptions extends Partial<Omit<ConsulOptionValues, `tls.${string}` | 'tls'>> {
  /**
   * Agent addresses: `host`, `host:port`, `[v6]:port` or `http(s)://host[:port]` (port 8500 when
   * absent). Requests go to the first that answers; another takes over when it cannot be
   * reached. Default: the `address` option, else `127.0.0.1:8500`.
   */
  addresses?: readonly string[]
  /** `true` for https with the system's roots, or the material (PEM text, or files). */
  tls?:
    | boolean
    | { ca?: string; caFile?: string; cert?: string; certFile?: string; key?: string; keyFile?: string }
  /** Where watch errors and re-registrations are logged. Default: silent. */
  logger?: Logger
}

/** What the registry is built from. */
export interface ResolvedConsulOptions {
  addresses: AgentAddress[]
  token?: string
  tls?: AgentTls
  datacenter?: string
  consistency: 'stale' | 'default' | 'consistent'
  timeout: number
  connectTimeout: number
  watchWait: number
  resyncGrace: number
}

/**
 * Check the options (a bad one is a 400 naming it) and parse the addresses. `env` is where the
 * variables of the options are read (the loader passes the service's; code that builds a
 * registry itself passes none, or its own).
 */
export function resolveOptions(
  options: ConsulRegistryOptions = {},
  env?: Readonly<Record<string, string | undefined>>,
): ResolvedConsulOptions {
  const { logger: _logger, addresses: given, ...rest } = options
  const o = parseOptions(consulRegistryOptions, rest as Record<string, unknown>, {
    kind: 'registry',
    name: 'consul',
    env,
  })
  const material = readTls(o, errors)
  let list = splitAddresses(given ?? [])
  if (list.length === 0) list = splitAddresses(o.address)
  if (list.length === 0) list = [DEFAULT_ADDRESS]
  const addresses = list.map((a) => parseAgentAddress(a, material !== undefined))
  const token = o.token?.trim()
  return {
    addresses,
    ...(token ? { token } : {}),
    ...(material ? { tls: material } : {}),
    ...(o.datacenter ? { datacenter: o.datacenter } : {}),
    consistency: o.consistency,
    timeout: o.timeout,
    connectTimeout: o.connectTimeout,
    watchWait: o.watchWait,
    resyncGrace: o.resyncGrace,
  }
}

/** `host`, `host:port`, `[v6]:port`, `http(s)://host[:port]` → an agent (port 8500 when absent). */
export function parseAgentAddress(address: string, tls = false): AgentAddress {
  const url = parseUrl(address, {
    schemes: tls ? ['https', 'http'] : ['http', 'https'],
    defaultPort: DEFAULT_PORT,
    label: 'consul registry',
    errorId: errors.id,
    example: 'host:port or http(s)://host:port',
    hostOnly: true,
    noCredentials: true,
  })
  const secure = url.protocol === 'https:'
  // URL drops a scheme's own default port (80/443) from `port`; an explicit one still counts.
  const explicit = /:(\d+)\/?$/.exec(address.trim())?.[1]
  const port = Number(url.port || explicit || DEFAULT_PORT)
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  return { label: joinHostPort(host, port), host, port, secure }
}
