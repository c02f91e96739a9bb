import type { ConnectionOptions as TlsOptions } from 'node:tls'
import { type Logger, MicroError } from '@micro-ts/core'

/** The error id every broker error carries (go-micro's broker package). */
export const BROKER_ERROR_ID = 'go.micro.broker'

export interface RabbitMQBrokerOptions {
  /**
   * An AMQP URL, credentials and vhost included: `amqp://user:password@host:5672/vhost` or
   * `amqps://…`. A bare `host` or `host:port` means `amqp://guest:guest@host:port`.
   * Default {@link DEFAULT_ADDRESS} (go-micro's default).
   */
  address?: string
  /** The topic exchange messages are published to. Default `micro`, as go-micro. */
  exchange?: string
  /**
   * Declare the exchange durable. Default false, as go-micro declares it unless given
   * `DurableExchange()`. When the exchange already exists with the other setting it is used as it is.
   */
  durableExchange?: boolean
  /**
   * Declare queue-group queues durable (they and their persistent messages outlive a RabbitMQ
   * restart). Default true. A subscriber without a queue group always gets an exclusive,
   * auto-delete queue of its own.
   */
  durableQueues?: boolean
  /** Publish messages as persistent (delivery mode 2), so durable queues keep them across restarts. Default true. */
  persistent?: boolean
  /** Most unacknowledged messages per subscription, and so most handlers running at once for it. Default 32. */
  prefetch?: number
  /** How long connecting (TCP and AMQP handshake) may take, in milliseconds. Default 5000. */
  connectTimeout?: number
  /**
   * How long `publish()` waits, in milliseconds, for RabbitMQ to confirm a message, including
   * waiting for a reconnection while the connection is down; then it fails with a MicroError.
   * Default 15 000.
   */
  publishTimeout?: number
  /** AMQP heartbeat in seconds: how soon a dead connection is noticed. Default 10, as go-micro. */
  heartbeat?: number
  /** First reconnect delay in milliseconds; it doubles (with jitter) up to {@link reconnectMaxDelay}. Default 100. */
  reconnectDelay?: number
  /** Longest reconnect delay in milliseconds. Default 5000. */
  reconnectMaxDelay?: number
  /** TLS settings for `amqps://` addresses (CA, client certificate, …). */
  tls?: TlsOptions
  /** The connection's name in RabbitMQ's management tools. Default `micro-ts broker`. */
  connectionName?: string
  /** Where reconnects and handler failures are logged. Default: a pino logger at `warn` on stderr. */
  logger?: Logger
}

/** Options after defaults. */
export interface ResolvedRabbitMQOptions {
  /** The URL handed to amqplib, credentials included. */
  url: string
  /** The same URL with the password masked, for messages, logs and `address()`. */
  displayAddress: string
  exchange: string
  durableExchange: boolean
  durableQueues: boolean
  persistent: boolean
  prefetch: number
  connectTimeout: number
  publishTimeout: number
  heartbeat: number
  reconnectDelay: number
  reconnectMaxDelay: number
  tls: TlsOptions | undefined
  connectionName: string
}

export const DEFAULT_ADDRESS = 'amqp://guest:guest@127.0.0.1:5672'
export const DEFAULT_EXCHANGE = 'micro'
export const DEFAULT_PREFETCH = 32
export const DEFAULT_CONNECT_TIMEOUT = 5000
export const DEFAULT_PUBLISH_TIMEOUT = 15_000
export const DEFAULT_HEARTBEAT = 10
export const DEFAULT_RECONNECT_DELAY = 100
export const DEFAULT_RECONNECT_MAX_DELAY = 5000

/** AMQP short strings (exchange, queue and routing key) hold at most 255 bytes. */
export const MAX_NAME_BYTES = 255

function badOption(detail: string): MicroError {
  return new MicroError(BROKER_ERROR_ID, 400, `rabbitmq broker: ${detail}`)
}

function count(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw badOption(`${name} must be an integer >= ${min}, got ${String(value)}`)
  }
  return value
}

function flag(name: string, value: boolean | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw badOption(`${name} must be a boolean`)
  return value
}

/** Parse the address and fill in defaults. Throws a 400 MicroError for a malformed address or option. */
export function resolveOptions(options: RabbitMQBrokerOptions = {}): ResolvedRabbitMQOptions {
  const raw = (options.address ?? '').trim() || DEFAULT_ADDRESS
  let url: URL
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `amqp://guest:guest@${raw}`)
  } catch {
    throw badOption(
      `invalid address ${JSON.stringify(redact(raw))}: expected amqp://user:password@host:port/vhost`,
    )
  }
  if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:') {
    throw badOption(`invalid address ${JSON.stringify(redact(raw))}: the scheme must be amqp:// or amqps://`)
  }
  if (!url.hostname) throw badOption(`invalid address ${JSON.stringify(redact(raw))}: no host`)
  const displayAddress = redact(url.href)
  const heartbeat = count('heartbeat', options.heartbeat, DEFAULT_HEARTBEAT, 0)
  // amqplib reads the heartbeat from the URL; one given there wins.
  if (!url.searchParams.has('heartbeat')) url.searchParams.set('heartbeat', String(heartbeat))
  const exchange = options.exchange ?? DEFAULT_EXCHANGE
  if (typeof exchange !== 'string' || exchange.length === 0 || Buffer.byteLength(exchange) > MAX_NAME_BYTES) {
    throw badOption(`exchange must be a non-empty string of at most ${MAX_NAME_BYTES} bytes`)
  }
  if (exchange.startsWith('amq.'))
    throw badOption(`exchange ${JSON.stringify(exchange)}: the amq. prefix is reserved`)
  const reconnectDelay = count('reconnectDelay', options.reconnectDelay, DEFAULT_RECONNECT_DELAY, 1)
  return {
    url: url.href,
    displayAddress,
    exchange,
    durableExchange: flag('durableExchange', options.durableExchange, false),
    durableQueues: flag('durableQueues', options.durableQueues, true),
    persistent: flag('persistent', options.persistent, true),
    prefetch: count('prefetch', options.prefetch, DEFAULT_PREFETCH, 1),
    connectTimeout: count('connectTimeout', options.connectTimeout, DEFAULT_CONNECT_TIMEOUT, 1),
    publishTimeout: count('publishTimeout', options.publishTimeout, DEFAULT_PUBLISH_TIMEOUT, 1),
    heartbeat,
    reconnectDelay,
    reconnectMaxDelay: Math.max(
      reconnectDelay,
      count('reconnectMaxDelay', options.reconnectMaxDelay, DEFAULT_RECONNECT_MAX_DELAY, 1),
    ),
    tls: options.tls,
    connectionName: options.connectionName || 'micro-ts broker',
  }
}

/** The address with its password replaced by `***`, safe to print. */
export function redact(address: string): string {
  try {
    const url = new URL(address)
    if (url.password) url.password = '***'
    return url.href
  } catch {
    return address.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@')
  }
}
