import { readFileSync } from 'node:fs'
import { type ChannelCredentials, credentials, ServerCredentials } from '@grpc/grpc-js'
import { type Logger, MicroError } from '@micro-ts/core'

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
  channels?: number
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
  /** TLS; without it the transport speaks plaintext HTTP/2 (go-micro's default). */
  tls?: GrpcTlsOptions
  logger?: Logger
}

export interface ResolvedOptions {
  channels: number
  connectTimeout: number
  maxMessageSize: number
  keepaliveTime?: number
  keepaliveTimeout: number
  idleTimeout: number
  maxIdleSockets: number
  tls?: GrpcTlsOptions
}

export const DEFAULTS = {
  channels: 2,
  connectTimeout: 5_000,
  maxMessageSize: 10 * 1024 * 1024,
  keepaliveTimeout: 20_000,
  idleTimeout: 60_000,
  maxIdleSockets: 100,
}

/** gRPC's own message limit is the body limit plus this much room for the headers. */
export const HEADER_ALLOWANCE = 1024 * 1024

/** Milliseconds a listener waits for calls in flight by default on close(). */
export const DEFAULT_GRACE_MS = 10_000

function invalid(name: string, value: unknown, what: string): MicroError {
  return new MicroError(
    SERVER_ID,
    400,
    `grpc transport: ${name} must be ${what}, got ${JSON.stringify(value)}`,
  )
}

/** A positive number (strings from the environment or `--options` accepted). */
function positive(name: string, value: unknown, fallback: number): number
function positive(name: string, value: unknown, fallback?: number): number | undefined
function positive(name: string, value: unknown, fallback?: number): number | undefined {
  if (value === undefined || value === null || value === '') return fallback
  const n = typeof value === 'string' ? Number(value) : value
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) throw invalid(name, value, 'a positive number')
  return n
}

/** Check and complete the options; bad values are a 400 MicroError, not a surprise later. */
export function resolveOptions(options: GrpcTransportOptions): ResolvedOptions {
  const tls = options.tls
  if (tls !== undefined && (tls === null || typeof tls !== 'object' || Array.isArray(tls))) {
    throw invalid('tls', tls, 'an object')
  }
  return {
    channels: Math.floor(positive('channels', options.channels, DEFAULTS.channels)),
    connectTimeout: positive('connectTimeout', options.connectTimeout, DEFAULTS.connectTimeout),
    maxMessageSize: Math.floor(positive('maxMessageSize', options.maxMessageSize, DEFAULTS.maxMessageSize)),
    keepaliveTime: positive('keepaliveTime', options.keepaliveTime),
    keepaliveTimeout: positive('keepaliveTimeout', options.keepaliveTimeout, DEFAULTS.keepaliveTimeout),
    idleTimeout: positive('idleTimeout', options.idleTimeout, DEFAULTS.idleTimeout),
    maxIdleSockets: Math.floor(positive('maxIdleSockets', options.maxIdleSockets, DEFAULTS.maxIdleSockets)),
    tls,
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
    throw new MicroError(
      SERVER_ID,
      400,
      `grpc transport: cannot read tls.${name}File ${file}: ${(e as Error).message}`,
    )
  }
}

export function clientCredentials(tls: GrpcTlsOptions | undefined): ChannelCredentials {
  if (!tls) return credentials.createInsecure()
  const cert = pem(tls, 'cert')
  const key = pem(tls, 'key')
  if ((cert === undefined) !== (key === undefined)) {
    throw new MicroError(
      CLIENT_ID,
      400,
      'grpc transport: a client certificate needs both tls.cert and tls.key',
    )
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
    throw new MicroError(
      SERVER_ID,
      400,
      'grpc transport: a TLS listener needs tls.cert and tls.key (or certFile/keyFile)',
    )
  }
  const ca = pem(tls, 'ca')
  return ServerCredentials.createSsl(ca ?? null, [{ cert_chain: cert, private_key: key }], ca !== undefined)
}
