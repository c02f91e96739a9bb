import { readFileSync } from 'node:fs'
import { type Logger, MicroError } from '@micro-ts/core'

/** The error id every broker error carries (go-micro's broker package). */
export const ERROR_ID = 'go.micro.broker'

export const DEFAULT_ADDRESS = 'nats://127.0.0.1:4222'
export const DEFAULT_PORT = '4222'

export interface NatsTlsOptions {
  /** CA certificate(s) (PEM) that sign the server's certificate. */
  ca?: string
  /** Client certificate and key (PEM), for servers that verify clients. */
  cert?: string
  key?: string
  caFile?: string
  certFile?: string
  keyFile?: string
}

/** JetStream mode: durable, acknowledged delivery (capability `ack`). */
export interface JetStreamOptions {
  /** Prefix of the streams the broker creates, one per topic space (first topic token). Default `MICRO`. */
  streamPrefix?: string
  /** Where streams it creates keep messages. Default `file` (survives a server restart). */
  storage?: 'file' | 'memory'
  /** Replicas of streams it creates (clustered JetStream). Default 1. */
  replicas?: number
  /** Drop messages older than this many ms from streams it creates. Default 0: keep until consumed. */
  maxAge?: number
  /** How long a delivered message may stay unacknowledged before it is redelivered, in ms. Default 30000. */
  ackWait?: number
  /** Give up on a message after this many deliveries. Default -1: never. */
  maxDeliver?: number
  /**
   * Delay before a message whose handler failed (or that was nacked) is redelivered, in ms, or a
   * function of the delivery count. Default: 100ms doubling per delivery, at most 10s.
   */
  nakDelay?: number | ((deliveryCount: number) => number)
  /** Messages fetched ahead per subscription. Default 32. */
  prefetch?: number
  /** Consumers of subscriptions without a queue vanish after this long without the subscriber, in ms. Default 300000. */
  inactiveThreshold?: number
  /** How long `publish()` keeps trying to get a JetStream acknowledgement (e.g. across a reconnect), in ms. Default 10000. */
  publishTimeout?: number
}

export interface NatsBrokerOptions {
  /**
   * NATS servers: `host[:port]`, `nats://[user:pass@]host:port`, `nats://token@host:port` or
   * `tls://host:port`. Default: `MICRO_BROKER_ADDRESS` split on commas, else `nats://127.0.0.1:4222`.
   */
  addresses?: string[]
  /** Credentials; default from the address URL. */
  user?: string
  pass?: string
  token?: string
  /** Time to establish the first connection, in ms. Default 5000. */
  connectTimeout?: number
  /** Wait between reconnect attempts, in ms (the client reconnects forever). Default 500. */
  reconnectWait?: number
  /** Connection name shown by the server's monitoring. */
  name?: string
  /** `true` for TLS with the system's roots, or the certificates. Implied by `tls://` addresses. */
  tls?: boolean | NatsTlsOptions
  /** JetStream mode (durable consumers, ack/nak, redelivery). Default off: core NATS, at most once. */
  jetstream?: boolean | JetStreamOptions
  /** Where connection changes and handler failures are logged. Default: silent. */
  logger?: Logger
}

export interface ResolvedJetStream {
  streamPrefix: string
  storage: 'file' | 'memory'
  replicas: number
  maxAge: number
  ackWait: number
  maxDeliver: number
  nakDelay: (deliveryCount: number) => number
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
  tls?: { ca?: string; cert?: string; key?: string }
  jetstream?: ResolvedJetStream
}

function badOption(detail: string): MicroError {
  return new MicroError(ERROR_ID, 400, `nats broker: ${detail}`)
}

type Env = Record<string, string | undefined>

export function resolveOptions(options: NatsBrokerOptions = {}, env: Env = process.env): ResolvedNatsOptions {
  let addresses = (options.addresses ?? []).map((a) => String(a).trim()).filter(Boolean)
  if (addresses.length === 0) {
    addresses = (env.MICRO_BROKER_ADDRESS ?? '')
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean)
  }
  if (addresses.length === 0) addresses = [DEFAULT_ADDRESS]
  const parsed = addresses.map(parseAddress)
  const withCreds = parsed.find((p) => p.user || p.token)
  const wantTls = (options.tls !== undefined && options.tls !== false) || parsed.some((p) => p.tls)
  const out: ResolvedNatsOptions = {
    servers: parsed.map((p) => p.server),
    connectTimeout: positive(options.connectTimeout, 5000, 'connectTimeout'),
    reconnectWait: positive(options.reconnectWait, 500, 'reconnectWait'),
    name: options.name,
    tls: wantTls ? readTls(options.tls) : undefined,
    jetstream: resolveJetStream(options.jetstream),
  }
  if (options.user !== undefined || options.token !== undefined) {
    out.user = options.user
    out.pass = options.pass
    out.token = options.token
  } else if (withCreds) {
    out.user = withCreds.user
    out.pass = withCreds.pass
    out.token = withCreds.token
  }
  return out
}

function resolveJetStream(js: NatsBrokerOptions['jetstream']): ResolvedJetStream | undefined {
  if (!js) return undefined
  const o: JetStreamOptions = js === true ? {} : js
  const prefix = o.streamPrefix ?? 'MICRO'
  if (!/^[A-Za-z0-9_-]+$/.test(prefix))
    badOptionThrow(`jetstream.streamPrefix must match [A-Za-z0-9_-]+, got "${prefix}"`)
  if (o.storage !== undefined && o.storage !== 'file' && o.storage !== 'memory') {
    badOptionThrow(`jetstream.storage must be "file" or "memory", got "${String(o.storage)}"`)
  }
  const nak = o.nakDelay
  let nakDelay: (n: number) => number
  if (typeof nak === 'function') nakDelay = nak
  else if (nak !== undefined) {
    const ms = nonNegative(nak, 0, 'jetstream.nakDelay')
    nakDelay = () => ms
  } else nakDelay = (n) => Math.min(100 * 2 ** Math.max(0, n - 1), 10_000)
  const maxDeliver = o.maxDeliver ?? -1
  if (!Number.isInteger(maxDeliver) || maxDeliver === 0 || maxDeliver < -1) {
    badOptionThrow(`jetstream.maxDeliver must be -1 or a positive integer, got ${String(maxDeliver)}`)
  }
  return {
    streamPrefix: prefix,
    storage: o.storage ?? 'file',
    replicas: positive(o.replicas, 1, 'jetstream.replicas'),
    maxAge: nonNegative(o.maxAge, 0, 'jetstream.maxAge'),
    ackWait: positive(o.ackWait, 30_000, 'jetstream.ackWait'),
    maxDeliver,
    nakDelay,
    prefetch: positive(o.prefetch, 32, 'jetstream.prefetch'),
    inactiveThreshold: positive(o.inactiveThreshold, 300_000, 'jetstream.inactiveThreshold'),
    publishTimeout: positive(o.publishTimeout, 10_000, 'jetstream.publishTimeout'),
  }
}

function badOptionThrow(detail: string): never {
  throw badOption(detail)
}

function positive(v: unknown, fallback: number, name: string): number {
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    badOptionThrow(`${name} must be a positive number, got ${String(v)}`)
  return v
}

function nonNegative(v: unknown, fallback: number, name: string): number {
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    badOptionThrow(`${name} must be a non-negative number, got ${String(v)}`)
  }
  return v
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
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(address)
  let url: URL
  try {
    url = new URL(hasScheme ? address : `nats://${address}`)
  } catch {
    throw badOption(`invalid address "${address}" (expected host:port or nats://[user:pass@]host:port)`)
  }
  if (url.protocol !== 'nats:' && url.protocol !== 'tls:') {
    throw badOption(`unsupported scheme in address "${address}" (use nats:// or tls://)`)
  }
  if (!url.hostname || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw badOption(`invalid address "${address}" (expected host:port or nats://[user:pass@]host:port)`)
  }
  const out: ParsedAddress = {
    server: `${url.hostname}:${url.port || DEFAULT_PORT}`,
    tls: url.protocol === 'tls:',
  }
  const user = url.username ? decodeURIComponent(url.username) : ''
  const pass = url.password ? decodeURIComponent(url.password) : ''
  // NATS URLs carry either user:pass or a bare token in the user part.
  if (user && pass) {
    out.user = user
    out.pass = pass
  } else if (user) out.token = user
  return out
}

function readTls(tls: NatsBrokerOptions['tls']): NonNullable<ResolvedNatsOptions['tls']> {
  if (!tls || tls === true) return {}
  const pick = (inline: string | undefined, file: string | undefined, what: string) => {
    if (inline !== undefined) return inline
    if (file === undefined) return undefined
    try {
      return readFileSync(file, 'utf8')
    } catch (err) {
      throw badOption(`cannot read TLS ${what} file ${file}: ${(err as Error).message}`)
    }
  }
  return {
    ca: pick(tls.ca, tls.caFile, 'CA'),
    cert: pick(tls.cert, tls.certFile, 'certificate'),
    key: pick(tls.key, tls.keyFile, 'key'),
  }
}
