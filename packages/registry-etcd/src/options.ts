/**
 * The etcd registry's options, declared once: the plugin loader, `createEtcdRegistry()` and the
 * README's table all come from `etcdRegistryOptions`. Every option can be set from
 * `MICRO_REGISTRY_ETCD_<OPTION>`; the credentials also from go-micro's `ETCD_USERNAME` and
 * `ETCD_PASSWORD`.
 */
import type { Logger } from '@micro-ts/core'
import {
  type OptionsOf,
  option,
  parseOptions,
  parseUrl,
  readTls,
  type TlsInput,
  tlsOptions,
} from '@micro-ts/core/plugin'
import { errors } from './errors.js'

export const DEFAULT_ADDRESS = '127.0.0.1:2379'
const DEFAULT_PORT = 2379
/** gRPC's default limit on a message the client receives. */
const GRPC_MAX_RECEIVE = 4 * 1024 * 1024

export const etcdRegistryOptions = {
  username: option.string({
    doc: 'etcd user (default: from an address `http://user:pass@host`)',
    env: ['ETCD_USERNAME'],
  }),
  password: option.secret({ doc: 'Password of `username`', env: ['ETCD_PASSWORD'] }),
  connectTimeout: option.duration({ doc: 'How long dialling etcd may take', default: 5000, min: 1 }),
  requestTimeout: option.duration({
    doc: 'Deadline of each etcd call; past it the call fails with a 408',
    default: 5000,
    min: 1,
  }),
  pageSize: option.integer({
    doc: 'Most records read per request when reading a prefix (getService, listServices); fewer when records are large',
    default: 5000,
    min: 1,
    max: 100_000,
  }),
  maxMessageSize: option.integer({
    doc: 'Largest etcd answer the client accepts, bytes: pages shrink to fit, a record larger than this is skipped with a warning',
    default: GRPC_MAX_RECEIVE,
    min: 1024,
  }),
  ...tlsOptions('etcd'),
} as const

/** TLS material for code: PEM text, or files. `tls: true` uses the system's roots. */
export type EtcdTlsOptions = TlsInput

/**
 * What `createEtcdRegistry()` takes: the declared options (`tls` also nested, `{ tls: { caFile } }`),
 * plus the endpoints and a logger. The README's table documents each option.
 */
export interface EtcdRegistryOptions extends OptionsOf<typeof etcdRegistryOptions> {
  /**
   * etcd endpoints: `host`, `host:port`, `http(s)://host:port` or `http://user:pass@host:port`
   * (port 2379 when absent). Default `127.0.0.1:2379`. (The loader passes `MICRO_REGISTRY_ADDRESS`.)
   */
  addresses?: readonly string[]
  /** Where lease losses, re-registrations, watch errors and skipped records are logged. Default: silent. */
  logger?: Logger
}

/** Options after defaults and address parsing: what the etcd client is built from. */
export interface ResolvedEtcdOptions {
  /** `http(s)://host:port`, credentials removed. */
  hosts: string[]
  auth?: { username: string; password: string }
  connectTimeout: number
  requestTimeout: number
  pageSize: number
  maxMessageSize: number
  /** Present when TLS is on. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer }
}

/** Check `options` (a 400 for an unknown one or a bad value), apply defaults, parse the addresses. */
export function resolveOptions(options: EtcdRegistryOptions = {}): ResolvedEtcdOptions {
  const { addresses, logger: _logger, ...given } = options
  const o = parseOptions(etcdRegistryOptions, given, { kind: 'registry', name: 'etcd' })
  const list = (addresses ?? []).map((a) => String(a).trim()).filter(Boolean)
  let material = readTls(o, errors)
  const parsed = (list.length > 0 ? list : [DEFAULT_ADDRESS]).map((a) =>
    parseAddress(a, material !== undefined),
  )
  const secure = parsed.filter((p) => p.secure).length
  if (secure !== 0 && secure !== parsed.length) {
    throw errors.badOption(`addresses mix http:// and https://: ${parsed.map((p) => p.host).join(', ')}`)
  }
  // Credentials given as options (or their variables) win over those in an address.
  let auth: ResolvedEtcdOptions['auth']
  const fromUrl = parsed.find((p) => p.username)
  if (o.username) auth = { username: o.username, password: o.password ?? '' }
  else if (fromUrl?.username) auth = { username: fromUrl.username, password: fromUrl.password ?? '' }
  // An https:// address turns TLS on (with the system's roots unless a CA is given).
  if (!material && secure > 0) material = readTls(o, errors, true)
  return {
    hosts: parsed.map((p) => p.host),
    auth,
    connectTimeout: o.connectTimeout,
    requestTimeout: o.requestTimeout,
    pageSize: o.pageSize,
    maxMessageSize: o.maxMessageSize,
    tls: material && {
      ca: material.ca === undefined ? undefined : Buffer.from(material.ca),
      cert: material.cert === undefined ? undefined : Buffer.from(material.cert),
      key: material.key === undefined ? undefined : Buffer.from(material.key),
    },
  }
}

interface ParsedAddress {
  host: string
  secure: boolean
  username?: string
  password?: string
}

/** `host[:port]`, `[v6]:port`, `http(s)://[user:pass@]host[:port]` → `http(s)://host:port`. */
export function parseAddress(address: string, tls = false): ParsedAddress {
  const url = parseUrl(address, {
    schemes: tls ? ['https', 'http'] : ['http', 'https'],
    defaultPort: DEFAULT_PORT,
    label: 'etcd registry',
    errorId: errors.id,
    example: 'host:port or http(s)://[user:pass@]host:port',
    hostOnly: true,
  })
  const secure = url.protocol === 'https:' || tls
  // No port left on the URL: the address named its scheme's own (http://h:80), which URL drops.
  const port = url.port || (url.protocol === 'https:' ? '443' : '80')
  return {
    host: `${secure ? 'https' : 'http'}://${url.hostname}:${port}`,
    secure,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
  }
}
