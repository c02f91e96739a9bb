/**
 * The NATS broker's options, declared once: the plugin loader, `createNatsBroker()` and the
 * README's table all come from `natsBrokerOptions`. Every option can be set from
 * `MICRO_BROKER_NATS_<OPTION>` (`jetstream.ackWait` → `MICRO_BROKER_NATS_JETSTREAM_ACK_WAIT`).
 */
import type { Logger } from '@micro-ts/core'
import {
  type OptionsOf,
  option,
  parseOptions,
  parseUrl,
  readTls,
  type TlsInput,
  type TlsMaterial,
  tlsOptions,
} from '@micro-ts/core/plugin'
import { errors } from './errors.js'

export const DEFAULT_ADDRESS = 'nats://127.0.0.1:4222'
const DEFAULT_PORT = 4222

export const natsBrokerOptions = {
  user: option.string({ doc: 'User name (default: from an address `nats://user:pass@host`)' }),
  pass: option.secret({ doc: 'Password of `user`' }),
  token: option.secret({ doc: 'Token (default: from an address `nats://token@host`)' }),
  connectTimeout: option.duration({
    doc: 'How long dialling the first connection may take; then connect() fails',
    default: 5000,
    min: 1,
  }),
  reconnectWait: option.duration({
    doc: 'Wait between reconnect attempts (the client reconnects forever)',
    default: 500,
    min: 1,
  }),
  name: option.string({ doc: "Connection name shown in the server's monitoring" }),
  ...tlsOptions('the NATS servers'),
  jetstream: option.flag({
    doc: 'JetStream mode: stored, acknowledged delivery with bounded redelivery (capabilities ack, persistent)',
    default: false,
    env: ['MICRO_NATS_JETSTREAM'],
  }),
  'jetstream.streamPrefix': option.string({
    doc: 'Streams the broker creates are named `<prefix>_<first topic token>`',
    default: 'MICRO',
  }),
  'jetstream.storage': option.oneOf(['file', 'memory'], {
    doc: 'Where created streams keep messages (`file` survives a server restart)',
    default: 'file',
  }),
  'jetstream.replicas': option.integer({ doc: 'Replicas of created streams', default: 1, min: 1, max: 5 }),
  'jetstream.maxAge': option.duration({
    doc: 'Created streams drop messages older than this (0: kept until consumed)',
    default: 0,
  }),
  'jetstream.ackWait': option.duration({
    doc: 'An unacknowledged delivery is redelivered after this',
    default: 30_000,
    min: 1,
  }),
  'jetstream.maxDeliver': option.integer({
    doc: 'Deliveries of one message at most; a message whose handler still fails is then dropped with an error log',
    default: 5,
    min: 1,
  }),
  'jetstream.nakDelay': option.duration({
    doc: 'Delay before a failed (or nacked) message comes back; it doubles per delivery',
    default: 100,
  }),
  'jetstream.nakDelayMax': option.duration({
    doc: 'Longest delay before a failed message comes back',
    default: 10_000,
  }),
  'jetstream.prefetch': option.integer({
    doc: 'Messages fetched ahead per subscription',
    default: 32,
    min: 1,
  }),
  'jetstream.inactiveThreshold': option.duration({
    doc: "The server removes a subscriber's consumer (no queue) this long after the subscriber vanished",
    default: 300_000,
    min: 1,
  }),
  'jetstream.publishTimeout': option.duration({
    doc: "How long publish() keeps trying to get JetStream's acknowledgement (e.g. across a reconnect)",
    default: 10_000,
    min: 1,
  }),
} as const

/** TLS material for code: PEM text, or files. `tls: true` uses the system's roots. */
export type NatsTlsOptions = TlsInput

/**
 * What `createNatsBroker()` takes: the declared options, a group also nested (`{ tls: { caFile } }`,
 * `{ jetstream: { ackWait: 10_000 } }`; a `jetstream` object turns the mode on), plus the servers and
 * a logger. The README's table documents each option.
 */
export interface NatsBrokerOptions extends OptionsOf<typeof natsBrokerOptions> {
  /**
   * NATS servers: `host[:port]`, `nats://[user:pass@]host:port`, `nats://token@host:port` or
   * `tls://host:port`. Default `nats://127.0.0.1:4222`. (The loader passes `MICRO_BROKER_ADDRESS`.)
   */
  addresses?: readonly string[]
  /** Where connection changes, handler failures and dropped messages are logged. Default: silent. */
  logger?: Logger
}

/** The JetStream settings as code gives them nested (`jetstream: { ... }`). */
export type JetStreamOptions = Exclude<NonNullable<NatsBrokerOptions['jetstream']>, boolean>

export interface ResolvedJetStream {
  streamPrefix: string
  storage: 'file' | 'memory'
  replicas: number
  maxAge: number
  ackWait: number
  maxDeliver: number
  nakDelay: number
  nakDelayMax: number
  prefetch: number
  inactiveThreshold: number
  publishTimeout: number
}

export interface ResolvedNatsOptions {
  /** `host:port` (credentials removed). */
  servers: string[]
  user?: string
  pass?: string
  token?: string
  connectTimeout: number
  reconnectWait: number
  name?: string
  tls?: TlsMaterial
  jetstream?: ResolvedJetStream
}

/** Check `options` (a 400 for an unknown one or a bad value) and apply the defaults. */
export function resolveOptions(options: NatsBrokerOptions = {}): ResolvedNatsOptions {
  const { addresses, logger: _logger, ...given } = options
  const o = parseOptions(natsBrokerOptions, given, { kind: 'broker', name: 'nats' })
  const list = (addresses ?? []).map((a) => String(a).trim()).filter(Boolean)
  const parsed = (list.length > 0 ? list : [DEFAULT_ADDRESS]).map(parseAddress)
  const fromUrl = parsed.find((p) => p.user || p.token)
  const out: ResolvedNatsOptions = {
    servers: parsed.map((p) => p.server),
    connectTimeout: o.connectTimeout,
    reconnectWait: o.reconnectWait,
    name: o.name,
    tls: readTls(
      o,
      errors,
      parsed.some((p) => p.tls),
    ),
  }
  if (o.user !== undefined || o.pass !== undefined || o.token !== undefined) {
    out.user = o.user
    out.pass = o.pass
    out.token = o.token
  } else if (fromUrl) {
    out.user = fromUrl.user
    out.pass = fromUrl.pass
    out.token = fromUrl.token
  }
  if (o.jetstream) {
    const prefix = o['jetstream.streamPrefix']
    if (!/^[A-Za-z0-9_-]+$/.test(prefix)) {
      throw errors.badOption(`option jetstream.streamPrefix must match [A-Za-z0-9_-]+, got "${prefix}"`)
    }
    if (o['jetstream.nakDelayMax'] < o['jetstream.nakDelay']) {
      throw errors.badOption('option jetstream.nakDelayMax must be at least jetstream.nakDelay')
    }
    out.jetstream = {
      streamPrefix: prefix,
      storage: o['jetstream.storage'],
      replicas: o['jetstream.replicas'],
      maxAge: o['jetstream.maxAge'],
      ackWait: o['jetstream.ackWait'],
      maxDeliver: o['jetstream.maxDeliver'],
      nakDelay: o['jetstream.nakDelay'],
      nakDelayMax: o['jetstream.nakDelayMax'],
      prefetch: o['jetstream.prefetch'],
      inactiveThreshold: o['jetstream.inactiveThreshold'],
      publishTimeout: o['jetstream.publishTimeout'],
    }
  }
  return out
}

interface ParsedAddress {
  server: string
  tls: boolean
  user?: string
  pass?: string
  token?: string
}

/** `host[:port]` or `nats|tls://[user:pass@|token@]host[:port]` → `host:port` and credentials. */
export function parseAddress(address: string): ParsedAddress {
  const url = parseUrl(address, {
    schemes: ['nats', 'tls'],
    defaultPort: DEFAULT_PORT,
    label: 'nats broker',
    errorId: errors.id,
    example: 'host:port or nats://[user:pass@]host:port',
    hostOnly: true,
  })
  const out: ParsedAddress = { server: `${url.hostname}:${url.port}`, tls: url.protocol === 'tls:' }
  const user = url.username ? decodeURIComponent(url.username) : ''
  const pass = url.password ? decodeURIComponent(url.password) : ''
  // NATS URLs carry either user:pass or a bare token in the user part.
  if (user && pass) {
    out.user = user
    out.pass = pass
  } else if (user) out.token = user
  return out
}
