/**
 * The RabbitMQ broker's options, declared once: the plugin loader, `createRabbitMQBroker()` and
 * the README's table all come from `rabbitmqBrokerOptions`. Every option can be set from
 * `MICRO_BROKER_RABBITMQ_<OPTION>` (`maxDeliveries` → `MICRO_BROKER_RABBITMQ_MAX_DELIVERIES`).
 */
import type { Logger } from '@micro-ts/core'
import {
  type OptionValues,
  option,
  parseOptions,
  parseUrl,
  readTls,
  redact,
  type TlsInput,
  type TlsMaterial,
  tlsOptions,
} from '@micro-ts/core/plugin'
import { errors } from './errors.js'

export const DEFAULT_ADDRESS = 'amqp://guest:guest@127.0.0.1:5672'
export const DEFAULT_EXCHANGE = 'micro'
/** RabbitMQ's own default `max_message_size` (3.8 and later). */
export const DEFAULT_MAX_MESSAGE_SIZE = 128 * 1024 * 1024

/** AMQP short strings (exchange, queue and routing key) hold at most 255 bytes. */
export const MAX_NAME_BYTES = 255

const OWNER = { kind: 'broker', name: 'rabbitmq' } as const

export const rabbitmqBrokerOptions = {
  address: option.string({
    doc: 'AMQP URL `amqp://user:password@host:port/vhost` or `amqps://…`; a bare `host[:port]` means guest (MICRO_BROKER_ADDRESS wins over it)',
  }),
  exchange: option.string({ doc: 'The topic exchange messages are published to', default: DEFAULT_EXCHANGE }),
  durableExchange: option.flag({
    doc: 'Declare the exchange durable (an exchange that exists with the other setting is used as it is)',
    default: false,
  }),
  durableQueues: option.flag({
    doc: 'Queue-group queues (and their retry queues) are durable: they and their persistent messages outlive a RabbitMQ restart',
    default: true,
  }),
  persistent: option.flag({ doc: 'Publish with delivery mode 2 (persistent)', default: true }),
  prefetch: option.integer({
    doc: 'Most unacknowledged messages per subscription, so most handlers running at once for it',
    default: 32,
    min: 1,
    max: 65_535,
  }),
  connectTimeout: option.duration({
    doc: 'How long the TCP connect and AMQP handshake may take; then connect() fails with a 503',
    default: 5000,
    min: 1,
  }),
  publishTimeout: option.duration({
    doc: "How long publish() waits for RabbitMQ's confirm, a reconnection included; then a 503 (no connection) or 504 (unconfirmed)",
    default: 15_000,
    min: 1,
  }),
  heartbeat: option.duration({
    doc: 'AMQP heartbeat, rounded up to whole seconds: how soon a dead connection is noticed',
    default: 10_000,
    min: 1,
  }),
  reconnectWait: option.duration({
    doc: 'First wait before reconnecting; later waits double, with jitter, up to reconnectMaxWait',
    default: 100,
    min: 1,
  }),
  reconnectMaxWait: option.duration({
    doc: 'Longest wait between reconnect attempts',
    default: 5000,
    min: 1,
  }),
  maxDeliveries: option.integer({
    doc: 'Deliveries of one message at most while its handler fails; then it is dead-lettered (or dropped with an error log)',
    default: 5,
    min: 1,
  }),
  redeliveryWait: option.duration({
    doc: 'How long a failed message waits before it comes back; the wait doubles per delivery, with jitter',
    default: 100,
    min: 1,
  }),
  redeliveryMaxWait: option.duration({
    doc: 'Longest wait before a failed message comes back',
    default: 10_000,
    min: 1,
  }),
  deadLetterExchange: option.string({
    doc: 'Exchange that messages given up on are published to (routing key = topic); unset: they are dropped with an error log',
  }),
  maxMessageSize: option.integer({
    doc: "Largest body publish() sends, bytes (RabbitMQ's default max_message_size); over it, or over the server's own limit, is a 413",
    default: DEFAULT_MAX_MESSAGE_SIZE,
    min: 1,
  }),
  connectionName: option.string({
    doc: "The connection's name in RabbitMQ's management tools",
    default: 'micro-ts broker',
  }),
  ...tlsOptions('RabbitMQ', 'amqps://'),
} as const

/**
 * What `createRabbitMQBroker()` takes: any declared option (TLS material by its dotted name,
 * `'tls.caFile'`, or nested, `tls: { caFile }`), and a logger.
 */
export type RabbitMQBrokerOptions = Partial<Omit<OptionValues<typeof rabbitmqBrokerOptions>, 'tls'>> & {
  /** `true` for TLS with the system's roots, or the material (PEM text or files). Implied by `amqps://`. */
  tls?: boolean | TlsInput
  /** Where reconnects, handler failures and dropped messages are logged. Default: a pino logger at `warn` on stderr. */
  logger?: Logger
}

/** Options after defaults: what the connection, publisher and subscriptions are built from. */
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
  /** Seconds, as AMQP carries it. */
  heartbeat: number
  reconnectWait: number
  reconnectMaxWait: number
  maxDeliveries: number
  redeliveryWait: number
  redeliveryMaxWait: number
  deadLetterExchange: string | undefined
  maxMessageSize: number
  connectionName: string
  /** TLS material for `amqps://`; undefined for plain AMQP. */
  tls: TlsMaterial | undefined
}

/** An exchange name RabbitMQ accepts for our use: a short string not in the reserved `amq.` space. */
function exchangeName(what: string, name: string): string {
  if (name.length === 0 || Buffer.byteLength(name) > MAX_NAME_BYTES) {
    throw errors.badOption(`${what} must be a non-empty string of at most ${MAX_NAME_BYTES} bytes`)
  }
  if (name.startsWith('amq.'))
    throw errors.badOption(`${what} ${JSON.stringify(name)}: the amq. prefix is reserved`)
  return name
}

/** Check the options, parse the address and fill in defaults. Throws a 400 MicroError for a bad one. */
export function resolveOptions(options: RabbitMQBrokerOptions = {}): ResolvedRabbitMQOptions {
  const { logger: _logger, ...given } = options
  const o = parseOptions(rabbitmqBrokerOptions, given, OWNER)
  const raw = o.address?.trim() || DEFAULT_ADDRESS
  const url = parseUrl(raw, {
    schemes: ['amqp', 'amqps'],
    defaultUser: 'guest',
    label: 'rabbitmq broker',
    errorId: errors.id,
    example: 'amqp://user:password@host:port/vhost',
  })
  // A bare host[:port] logs in as guest/guest, RabbitMQ's default user (as go-micro's default URL).
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) url.password = 'guest'
  const secure = url.protocol === 'amqps:'
  if (secure && o.tls === false) throw errors.badOption('tls is false but the address is amqps://')
  const tls = readTls(o, errors, secure)
  // TLS asked for by the options: the same host and port (AMQPS' 5671 when none is given), over TLS.
  if (tls && !secure) url.protocol = 'amqps:'
  const displayAddress = redact(url.href)
  // amqplib reads the heartbeat from the URL; one given there wins.
  const heartbeat = Math.ceil(o.heartbeat / 1000)
  if (!url.searchParams.has('heartbeat')) url.searchParams.set('heartbeat', String(heartbeat))
  if (o.reconnectMaxWait < o.reconnectWait) {
    throw errors.badOption(
      `reconnectMaxWait (${o.reconnectMaxWait} ms) is shorter than reconnectWait (${o.reconnectWait} ms)`,
    )
  }
  if (o.redeliveryMaxWait < o.redeliveryWait) {
    throw errors.badOption(
      `redeliveryMaxWait (${o.redeliveryMaxWait} ms) is shorter than redeliveryWait (${o.redeliveryWait} ms)`,
    )
  }
  return {
    url: url.href,
    displayAddress,
    exchange: exchangeName('exchange', o.exchange),
    durableExchange: o.durableExchange,
    durableQueues: o.durableQueues,
    persistent: o.persistent,
    prefetch: o.prefetch,
    connectTimeout: o.connectTimeout,
    publishTimeout: o.publishTimeout,
    heartbeat,
    reconnectWait: o.reconnectWait,
    reconnectMaxWait: o.reconnectMaxWait,
    maxDeliveries: o.maxDeliveries,
    redeliveryWait: o.redeliveryWait,
    redeliveryMaxWait: o.redeliveryMaxWait,
    deadLetterExchange:
      o.deadLetterExchange === undefined || o.deadLetterExchange === ''
        ? undefined
        : exchangeName('deadLetterExchange', o.deadLetterExchange),
    maxMessageSize: o.maxMessageSize,
    connectionName: o.connectionName,
    tls,
  }
}
