import { readFileSync } from 'node:fs'
import { type ChannelCredentials, credentials, ServerCredentials } from '@grpc/grpc-js'
import type { Logger } from '@micro-ts/core'
import { option, parseOptions, pluginErrors, tlsOptions } from '@micro-ts/core/plugin'

/** Error id of failures the transport reports on the client side (go-micro's client package). */
export const CLIENT_ID = 'go.micro.client'
/** Error id of failures reported by the listener. */
export const SERVER_ID = 'go.micro.server'

/**
 * TLS for both ends. PEM text (`ca`, `cert`, `key`) or paths to PEM files (`caFile`, ...).
 * Client: `ca` verifies the server (default: the system roots), `cert`/`key` are a client certificate.
 * Server: `cert`/`key` are required; with `ca` clients must present a certificate it signed.
 */
export interface GrpcTlsOptions {
  ca?: string
  cert?: string
  key?: string
  caFile?: string
  certFile?: string
  keyFile?: string
  /** Client: the name the server's certificate must carry, when it differs from the address' host. */
  serverName?: string
  /**
   * Client: accept any server certificate (go-micro's default without `MICRO_TLS_SECURE=true`,
   * which its self-signed `Secure(true)` servers need). Encrypts, but authenticates nothing.
   */
  insecureSkipVerify?: boolean
}

export interface GrpcTransportOptions {
  /**
   * HTTP/2 connections (gRPC channels) per address. Calls are spread over them; each carries
   * many calls at once. Two measured best here (README). Default 2.
   */
  poolSize?: number
  /** Time to establish a connection before a request fails as not delivered, ms (go-micro's DefaultDialTimeout: 5 s). */
  connectTimeout?: number
  /**
   * Largest message body sent or accepted, bytes (default 10 MiB, like the HTTP transport).
   * Larger bodies fail with a 413 MicroError. A listener's `maxBodySize` overrides it for that listener.
   */
  maxMessageSize?: number
  /** Send HTTP/2 pings after this many ms without activity (default: off, like go-micro). */
  keepaliveTime?: number
  /** Drop the connection when a ping is not answered within this many ms (default 20 s). */
  keepaliveTimeout?: number
  /** Client sockets (gRPC streams kept for reuse) idle this long are closed, ms (default 60 s). */
  idleTimeout?: number
  /** Idle sockets kept per address for reuse (go-micro's client pool size, default 100). */
  maxIdleSockets?: number
  /** TLS; `true` for the system's roots; without it the transport speaks plaintext HTTP/2 (go-micro's default). */
  tls?: GrpcTlsOptions | boolean
  logger?: Logger
}

export interface ResolvedOptions {
  poolSize: number
  connectTimeout: number
  maxMessageSize: number
  keepaliveTime?: number
  keepaliveTimeout: number
  idleTimeout: number
  maxIdleSockets: number
  tls?: GrpcTlsOptions
}

/** gRPC's own message limit is the body limit plus this much room for the headers. */
export const HEADER_ALLOWANCE = 1024 * 1024

/** Milliseconds a listener waits for calls in flight by default on close(). */
export const DEFAULT_GRACE_MS = 10_000

const errors = pluginErrors('transport', 'grpc transport')

/** The options, declared once: the plugin loader, `createGrpcTransport()` and the README table use them. */
export const grpcTransportOptions = {
  poolSize: option.integer({
    doc: 'HTTP/2 connections (gRPC channels) per address; each carries many calls (MICRO_CLIENT_POOL_SIZE sets it too)',
    default: 2,
    min: 1,
  }),
  connectTimeout: option.duration({
    doc: 'Time to establish a connection before a request fails as not delivered',
    default: 5_000,
    min: 1,
  }),
  maxMessageSize: option.integer({
    doc: 'Largest message body sent or accepted, bytes; larger is a 413',
    default: 10 * 1024 * 1024,
    min: 1,
  }),
  keepaliveTime: option.duration({
    doc: 'Send HTTP/2 pings after this long without activity (default: off, like go-micro)',
    min: 1,
  }),
  keepaliveTimeout: option.duration({
    doc: 'Drop the connection when a ping is not answered within this long',
    default: 20_000,
    min: 1,
  }),
  idleTimeout: option.duration({
    doc: 'Client sockets (gRPC streams kept for reuse) idle this long are closed',
    default: 60_000,
    min: 1,
  }),
  maxIdleSockets: option.integer({ doc: 'Idle sockets kept per address for reuse', default: 100, min: 1 }),
  ...tlsOptions('gRPC peers (a listener needs tls.cert and tls.key)'),
  'tls.serverName': option.string({
    doc: "Client: the name the server's certificate must carry, when it differs from the address' host",
  }),
  'tls.insecureSkipVerify': option.flag({
    doc: 'Client: accept any server certificate (encrypts, authenticates nothing)',
  }),
} as const

/** Check and complete the options; bad values are a 400 MicroError (go.micro.transport), not a surprise later. */
export function resolveOptions(options: GrpcTransportOptions): ResolvedOptions {
  const { logger: _logger, ...given } = options
  const o = parseOptions(grpcTransportOptions, given, { kind: 'transport', name: 'grpc' })
  const material: GrpcTlsOptions = {
    ca: o['tls.ca'],
    caFile: o['tls.caFile'],
    cert: o['tls.cert'],
    certFile: o['tls.certFile'],
    key: o['tls.key'],
    keyFile: o['tls.keyFile'],
    serverName: o['tls.serverName'],
    insecureSkipVerify: o['tls.insecureSkipVerify'],
  }
  const anyTls = o.tls === true || Object.values(material).some((v) => v !== undefined)
  return {
    poolSize: o.poolSize,
    connectTimeout: o.connectTimeout,
    maxMessageSize: o.maxMessageSize,
    keepaliveTime: o.keepaliveTime,
    keepaliveTimeout: o.keepaliveTimeout,
    idleTimeout: o.idleTimeout,
    maxIdleSockets: o.maxIdleSockets,
    tls: o.tls === false || !anyTls ? undefined : material,
  }
}

/** PEM text from the option or the file it names. */
function pem(tls: GrpcTlsOptions, name: 'ca' | 'cert' | 'key'): Buffer | undefined {
  const text = tls[name]
  if (text !== undefined) return Buffer.from(text)
  const file = tls[`${name}File`]
  if (file === undefined) return undefined
  try {
    return readFileSync(file)
  } catch (e) {
    throw errors.badOption(`cannot read tls.${name}File ${file}: ${(e as Error).message}`, e)
  }
}

export function clientCredentials(tls: GrpcTlsOptions | undefined): ChannelCredentials {
  if (!tls) return credentials.createInsecure()
  const cert = pem(tls, 'cert')
  const key = pem(tls, 'key')
  if ((cert === undefined) !== (key === undefined)) {
    throw errors.badOption('a client certificate needs both tls.cert and tls.key')
  }
  return credentials.createSsl(
    pem(tls, 'ca') ?? null,
    key ?? null,
    cert ?? null,
    tls.insecureSkipVerify ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {},
  )
}

export function serverCredentials(tls: GrpcTlsOptions | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure()
  const cert = pem(tls, 'cert')
  const key = pem(tls, 'key')
  if (cert === undefined || key === undefined) {
    throw errors.badOption('a TLS listener needs tls.cert and tls.key (or certFile/keyFile)')
  }
  const ca = pem(tls, 'ca')
  return ServerCredentials.createSsl(ca ?? null, [{ cert_chain: cert, private_key: key }], ca !== undefined)
}
