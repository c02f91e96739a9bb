import {
  type Broker,
  type BrokerEvent,
  type BrokerHandler,
  type BrokerMessage,
  createLogger,
  type Logger,
  MicroError,
  type PublishOptions,
  type SubscribeOptions,
  type Subscription,
} from '@micro-ts/core'
import * as amqp from 'amqplib'
import {
  BROKER_ERROR_ID,
  MAX_NAME_BYTES,
  type RabbitMQBrokerOptions,
  type ResolvedRabbitMQOptions,
  resolveOptions,
} from './options.js'

type Model = amqp.ChannelModel
type Recovering = amqp.RecoveringChannelModel

/** AMQP reply codes after which a channel is gone for a reason that retrying will not fix. */
const CHANNEL_REFUSALS = new Set([403, 404, 405, 406])

function brokerError(code: number, detail: string, cause?: unknown): MicroError {
  return new MicroError(
    BROKER_ERROR_ID,
    code,
    `rabbitmq broker: ${detail}`,
    undefined,
    cause === undefined ? undefined : { cause },
  )
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name
  return String(err)
}

/** The AMQP reply code amqplib puts on channel and connection errors (`err.code`), if any. */
function replyCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'number' ? code : undefined
}

function checkName(what: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0)
    throw brokerError(400, `${what} must be a non-empty string`)
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) {
    throw brokerError(400, `${what} is longer than ${MAX_NAME_BYTES} bytes (an AMQP short string)`)
  }
}

/** go-micro's Message is `map[string]string` + `[]byte`: anything else cannot cross the wire. */
function checkMessage(message: unknown): asserts message is BrokerMessage {
  if (!message || typeof message !== 'object')
    throw brokerError(400, 'message must be an object {headers, body}')
  const { headers, body } = message as Partial<BrokerMessage>
  if (!(body instanceof Uint8Array)) throw brokerError(400, 'message body must be a Uint8Array')
  if (headers === undefined) return
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) {
    throw brokerError(400, 'message headers must be an object of strings')
  }
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v !== 'string') throw brokerError(400, `message header ${JSON.stringify(k)} must be a string`)
    // AMQP table keys are short strings.
    if (Buffer.byteLength(k) > MAX_NAME_BYTES) {
      throw brokerError(
        400,
        `message header name ${JSON.stringify(k.slice(0, 40))}… is longer than ${MAX_NAME_BYTES} bytes`,
      )
    }
  }
}

/** An AMQP header value as the string go-micro's broker makes of it (`fmt.Sprintf("%v")`). */
function headerText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string') return value
  if (Buffer.isBuffer(value)) return value.toString('utf8')
  if (value instanceof Date) return value.toISOString()
  if (typeof value === 'object') {
    try {
      return JSON.stringify(value)
    } catch {
      return String(value)
    }
  }
  return String(value)
}

/** How long a message for a topic no local group member handles is held before it is requeued. */
const HOLD_BACK_MS = 1000

/**
 * Whether `routingKey` matches the AMQP topic binding `pattern`: words split on `.`, `*` is
 * exactly one word, `#` zero or more words.
 */
export function topicMatches(pattern: string, routingKey: string): boolean {
  if (pattern === routingKey) return true
  const p = pattern.split('.')
  const k = routingKey.split('.')
  const match = (i: number, j: number): boolean => {
    if (i === p.length) return j === k.length
    if (p[i] === '#') {
      for (let n = j; n <= k.length; n++) if (match(i + 1, n)) return true
      return false
    }
    return j < k.length && (p[i] === '*' || p[i] === k[j]) && match(i + 1, j + 1)
  }
  return match(0, 0)
}

/** A failed publish that may be tried again on the next channel: the channel went away before RabbitMQ confirmed. */
class ChannelLost extends Error {}

/**
 * A broker on RabbitMQ (`MICRO_BROKER=rabbitmq`) in go-micro's layout, so go-micro's rabbitmq
 * broker interoperates: one topic exchange (`micro`), routing key = topic, AMQP headers = message
 * headers, body as is. A subscriber with a queue group shares one queue named after the group;
 * one without gets an exclusive, auto-delete queue of its own.
 *
 * `publish()` resolves once RabbitMQ has confirmed the message (publisher confirms). Handlers
 * are acknowledged when they return and negatively acknowledged with requeue when they throw
 * (capability `ack`); with `autoAck: false` the handler settles the event itself. After the
 * connection drops the broker reconnects with backoff, declares the exchange again and reopens
 * every subscription; publishes made meanwhile wait for the reconnection up to `publishTimeout`.
 */
export class RabbitMQBroker implements Broker {
  readonly name = 'rabbitmq'
  readonly options: ResolvedRabbitMQOptions
  /** @internal */
  readonly logger: Logger
  /** Set between connect() and disconnect(). */
  private recovering: Recovering | undefined
  private connecting: Promise<void> | undefined
  /** The live connection, while there is one. */
  private model: Model | undefined
  /**
   * True once the live connection's setup finished: publishes wait until the subscriptions are
   * open again, so a message published right after a reconnect is not routed to nowhere.
   */
  private ready = false
  private publisher: amqp.ConfirmChannel | undefined
  private publisherOpening: Promise<amqp.ConfirmChannel> | undefined
  /** Set while the publish channel's buffer is full: publishes wait for it to drain. */
  private drained: Promise<void> | undefined
  /** Publishes waiting for a connection. */
  private readonly waiters = new Set<{ resolve(): void; reject(err: unknown): void }>()
  /** @internal */
  readonly subscriptions = new Set<RabbitSubscription>()

  constructor(options: RabbitMQBrokerOptions = {}) {
    this.options = resolveOptions(options)
    this.logger = (options.logger ?? createLogger('warn', 'micro')).child({ broker: 'rabbitmq' })
  }

  /** The server address with the password masked; '' when not connected. */
  address(): string {
    return this.recovering ? this.options.displayAddress : ''
  }

  /**
   * Connect, declare the exchange and stay connected: a dropped connection is reopened with
   * backoff. Fails with a MicroError within `connectTimeout`: 503 when RabbitMQ cannot be
   * reached, 401 when it refuses the credentials, 403 for a vhost the user may not use.
   */
  async connect(): Promise<void> {
    if (this.connecting) return this.connecting
    if (this.recovering) return
    const o = this.options
    const attempt = (async () => {
      let recovering: Recovering | undefined
      let timer: NodeJS.Timeout | undefined
      try {
        recovering = await amqp.connect(o.url, {
          ...o.tls,
          timeout: o.connectTimeout,
          clientProperties: { connection_name: o.connectionName },
          recovery: {
            initialDelay: o.reconnectDelay,
            maxDelay: o.reconnectMaxDelay,
            // The first connection fails fast with a clear error; later ones are retried for ever.
            initialMaxRetries: 0,
            waitForConnect: false,
            setup: (model: Model) => this.setup(model),
          },
        })
        this.listen(recovering)
        const timedOut = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                brokerError(503, `cannot reach ${o.displayAddress}: timed out after ${o.connectTimeout}ms`),
              ),
            o.connectTimeout,
          )
        })
        await Promise.race([recovering.waitForConnect(), timedOut])
        this.recovering = recovering
      } catch (err) {
        await recovering?.close().catch(() => {})
        this.model = undefined
        this.publisher = undefined
        this.ready = false
        throw this.connectError(err)
      } finally {
        clearTimeout(timer)
      }
    })()
    this.connecting = attempt
    try {
      await attempt
    } finally {
      this.connecting = undefined
    }
  }

  /** End every subscription (waiting for running handlers), fail waiting publishes, close the connection. */
  async disconnect(): Promise<void> {
    await this.connecting?.catch(() => {})
    const recovering = this.recovering
    if (!recovering) return
    this.recovering = undefined
    for (const w of [...this.waiters]) w.reject(brokerError(503, 'broker disconnected'))
    this.waiters.clear()
    await Promise.allSettled([...this.subscriptions].map((s) => s.unsubscribe()))
    await recovering
      .close()
      .catch((err) => this.logger.debug({ err: errorText(err) }, 'closing the connection failed'))
    this.model = undefined
    this.publisher = undefined
    this.ready = false
  }

  /**
   * Publish to the exchange with the topic as routing key. Resolves once RabbitMQ confirms the
   * message. While the connection is down it waits for the reconnection, and a message whose
   * channel died before the confirm is sent again (so a reconnect can deliver a message twice,
   * never lose a confirmed one). Fails after `publishTimeout` with a 503 (no connection) or 504
   * (sent, not confirmed: it may or may not have been delivered).
   */
  async publish(topic: string, message: BrokerMessage, options: PublishOptions = {}): Promise<void> {
    if (!this.recovering) throw notConnected('publish')
    checkName('topic', topic)
    checkMessage(message)
    if (options.signal?.aborted) throw abortError(options.signal)
    // A copy: the caller may reuse its buffer as soon as publish() returns, and a retry resends it.
    const content = Buffer.from(message.body)
    const properties: amqp.Options.Publish = {
      headers: { ...message.headers },
      deliveryMode: this.options.persistent ? 2 : 1,
    }
    const deadline = Date.now() + this.options.publishTimeout
    for (;;) {
      const channel = await this.publishChannel(deadline, options.signal)
      try {
        await this.confirm(channel, topic, content, properties, deadline, options.signal)
        return
      } catch (err) {
        if (err instanceof ChannelLost && Date.now() < deadline) continue
        if (err instanceof ChannelLost) {
          throw brokerError(
            504,
            `publish to ${JSON.stringify(topic)} not confirmed within ${this.options.publishTimeout}ms (connection lost); it may or may not have been delivered`,
          )
        }
        throw err
      }
    }
  }

  async subscribe(
    topic: string,
    handler: BrokerHandler,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    if (!this.recovering) throw notConnected('subscribe')
    checkName('topic', topic)
    if (typeof handler !== 'function') throw brokerError(400, 'handler must be a function')
    const queue = options.queue || undefined
    if (queue !== undefined) {
      checkName('queue', queue)
      if (queue.startsWith('amq.'))
        throw brokerError(400, `queue ${JSON.stringify(queue)}: the amq. prefix is reserved`)
    }
    if (options.autoAck !== undefined && typeof options.autoAck !== 'boolean') {
      throw brokerError(400, 'autoAck must be a boolean')
    }
    const sub = new RabbitSubscription(this, topic, queue, handler, options.autoAck ?? true)
    this.subscriptions.add(sub)
    const model = this.model
    // While the connection is down the subscription waits: the reconnection opens it.
    if (model) {
      try {
        await sub.open(model)
      } catch (err) {
        // The connection dropped meanwhile: the reconnection opens the subscription.
        if (this.model !== model && this.recovering) return sub
        this.subscriptions.delete(sub)
        await sub.unsubscribe()
        throw this.operationError(err, `subscribe to ${JSON.stringify(topic)}`)
      }
    }
    return sub
  }

  /** @internal The active subscription of queue group `queue` in this broker whose topic matches `routingKey`. */
  groupMember(queue: string | undefined, routingKey: string): RabbitSubscription | undefined {
    if (queue === undefined) return undefined
    for (const sub of this.subscriptions) if (sub.queue === queue && sub.matches(routingKey)) return sub
    return undefined
  }

  /** @internal The live connection, if any. */
  currentModel(): Model | undefined {
    return this.model
  }

  /** Runs on every (re)connection before it counts as up: exchange, publish channel, subscriptions. */
  private async setup(model: Model): Promise<void> {
    let closed = false
    model.on('error', (err: Error) => this.logger.warn({ err: errorText(err) }, 'rabbitmq connection error'))
    model.once('close', () => {
      closed = true
      if (this.model === model) {
        this.model = undefined
        this.publisher = undefined
        this.ready = false
      }
    })
    const publisher = await this.openPublisher(model)
    this.model = model
    for (const sub of [...this.subscriptions]) {
      try {
        await sub.open(model)
      } catch (err) {
        if (closed) throw err
        // One subscription that cannot be opened (say, a queue declared elsewhere with other
        // settings) must not keep the others down: it retries on its own.
        this.logger.error(
          { topic: sub.topic, queue: sub.queue, err: errorText(err) },
          'reopening a subscription failed',
        )
        sub.retryLater(model)
      }
    }
    // The recovery wrapper treats the connection as up once this resolves: it must not be dead already.
    if (closed) throw new Error('connection closed during setup')
    this.publisher ??= publisher
    if (this.publisher !== publisher) publisher.close().catch(() => {})
    this.ready = true
    this.wake()
  }

  private listen(recovering: Recovering): void {
    recovering.on('error', (err: Error) =>
      this.logger.debug({ err: errorText(err) }, 'rabbitmq connection error'),
    )
    recovering.on('disconnect', (err: Error) =>
      this.logger.warn({ err: errorText(err) }, 'rabbitmq connection lost; reconnecting'),
    )
    recovering.on('reconnect-scheduled', (info: { attempt: number; delay: number; error: Error }) =>
      this.logger.debug(
        { attempt: info.attempt, delay: info.delay, err: errorText(info.error) },
        'reconnect scheduled',
      ),
    )
    recovering.on('connect', () => this.logger.debug({}, 'rabbitmq connected'))
    recovering.on('reconnect-failed', (err: Error) => {
      // Only after the first connection: a failing first connect() reports its own error.
      if (this.recovering !== recovering) return
      this.logger.error({ err: errorText(err) }, 'rabbitmq reconnection abandoned')
      for (const w of [...this.waiters])
        w.reject(brokerError(503, `reconnection abandoned: ${errorText(err)}`))
    })
  }

  /** A confirm channel with the exchange declared. A publish channel closed by RabbitMQ is replaced on next use. */
  private async openPublisher(model: Model): Promise<amqp.ConfirmChannel> {
    const { exchange, durableExchange } = this.options
    let channel = await this.confirmChannel(model)
    try {
      await channel.assertExchange(exchange, 'topic', { durable: durableExchange })
    } catch (err) {
      if (replyCode(err) !== 406) throw err
      // It exists with other settings (e.g. declared durable by another service): use it as it is.
      channel = await this.confirmChannel(model)
      await channel.checkExchange(exchange)
      this.logger.warn(
        { exchange, err: errorText(err) },
        'exchange exists with other settings than requested; using it as it is',
      )
    }
    return channel
  }

  private async confirmChannel(model: Model): Promise<amqp.ConfirmChannel> {
    const channel = await model.createConfirmChannel()
    channel.on('error', (err: Error) => {
      ;(channel as ChannelState).lastError = err
      this.logger.warn({ err: errorText(err) }, 'rabbitmq publish channel closed by the server')
    })
    channel.on('close', () => {
      ;(channel as ChannelState).closed = true
      if (this.publisher === channel) this.publisher = undefined
    })
    return channel
  }

  /** The publish channel: the current one, a new one on the live connection, or the next connection's. */
  private async publishChannel(
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<amqp.ConfirmChannel> {
    for (;;) {
      if (!this.recovering) throw brokerError(503, 'broker disconnected')
      if (signal?.aborted) throw abortError(signal)
      if (this.publisher && this.ready) {
        if (this.drained) {
          await this.wait(this.drained, deadline, signal)
          continue
        }
        return this.publisher
      }
      const model = this.model
      if (model && this.ready) {
        this.publisherOpening ??= this.openPublisher(model).finally(() => {
          this.publisherOpening = undefined
        })
        try {
          const channel = await this.publisherOpening
          if (this.model === model && !this.publisher && !(channel as ChannelState).closed)
            this.publisher = channel
          else if (this.publisher !== channel) channel.close().catch(() => {})
          continue
        } catch (err) {
          if (this.model === model) throw this.operationError(err, 'open a publish channel')
          continue
        }
      }
      await this.wait(
        new Promise<void>((resolve, reject) => {
          const waiter = {
            resolve: () => {
              this.waiters.delete(waiter)
              resolve()
            },
            reject: (err: unknown) => {
              this.waiters.delete(waiter)
              reject(err)
            },
          }
          this.waiters.add(waiter)
        }),
        deadline,
        signal,
      )
    }
  }

  /** Resolve the publishes waiting for a connection. */
  private wake(): void {
    for (const w of [...this.waiters]) w.resolve()
  }

  /** `promise`, unless the deadline passes (503: no connection in time) or the signal aborts first. */
  private wait(promise: Promise<void>, deadline: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      const onAbort = () => {
        done()
        reject(abortError(signal))
      }
      const timer = setTimeout(
        () => {
          done()
          reject(
            brokerError(
              503,
              `no connection to ${this.options.displayAddress} within ${this.options.publishTimeout}ms; message not published`,
            ),
          )
        },
        Math.max(0, deadline - Date.now()),
      )
      signal?.addEventListener('abort', onAbort, { once: true })
      promise.then(
        () => {
          done()
          resolve()
        },
        (err) => {
          done()
          reject(err)
        },
      )
    })
  }

  /** Publish on `channel` and wait for RabbitMQ's confirm. */
  private confirm(
    channel: amqp.ConfirmChannel,
    topic: string,
    content: Buffer,
    properties: amqp.Options.Publish,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false
      const finish = (err?: unknown) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        if (err) reject(err)
        else resolve()
      }
      const onAbort = () =>
        finish(
          abortError(
            signal,
            'publish canceled before RabbitMQ confirmed it; it may or may not have been delivered',
          ),
        )
      const timer = setTimeout(
        () =>
          finish(
            brokerError(
              504,
              `publish to ${JSON.stringify(topic)} not confirmed within ${this.options.publishTimeout}ms; it may or may not have been delivered`,
            ),
          ),
        Math.max(0, deadline - Date.now()),
      )
      signal?.addEventListener('abort', onAbort, { once: true })
      let ok: boolean
      try {
        ok = channel.publish(this.options.exchange, topic, content, properties, (err: unknown) => {
          if (!err) return finish()
          const refusal = (channel as ChannelState).lastError
          const code = replyCode(refusal)
          if (code !== undefined && CHANNEL_REFUSALS.has(code)) {
            // RabbitMQ closed the channel because of this message or the exchange: sending it again would fail again.
            return finish(this.operationError(refusal, `publish to ${JSON.stringify(topic)}`))
          }
          if ((channel as ChannelState).closed || /closed/i.test(errorText(err)))
            return finish(new ChannelLost())
          finish(
            brokerError(502, `RabbitMQ refused the message on ${JSON.stringify(topic)}: ${errorText(err)}`),
          )
        })
      } catch (err) {
        if (err instanceof RangeError) {
          return finish(brokerError(413, `message headers too large to encode: ${errorText(err)}`, err))
        }
        // The channel closed between picking it and publishing (amqplib throws synchronously then).
        if (err instanceof amqp.IllegalOperationError || (channel as ChannelState).closed) {
          return finish(new ChannelLost())
        }
        return finish(brokerError(500, `cannot publish to ${JSON.stringify(topic)}: ${errorText(err)}`, err))
      }
      if (!ok && !this.drained) {
        this.drained = new Promise<void>((resolve) => {
          const release = () => {
            this.drained = undefined
            channel.removeListener('drain', release)
            channel.removeListener('close', release)
            resolve()
          }
          channel.once('drain', release)
          channel.once('close', release)
        })
      }
    })
  }

  private connectError(err: unknown): MicroError {
    if (err instanceof MicroError) return err
    const text = errorText(err)
    const where = this.options.displayAddress
    if (/ACCESS[-_]REFUSED|\b403\b/.test(text)) {
      return brokerError(401, `RabbitMQ at ${where} refused the credentials: ${text}`, err)
    }
    // A vhost that does not exist or that the user may not use: RabbitMQ answers the open with
    // 530 NOT_ALLOWED, which amqplib reports as an unexpected ConnectionClose.
    if (/NOT[-_]ALLOWED|\b530\b|Expected ConnectionOpenOk; got <ConnectionClose/.test(text)) {
      return brokerError(
        403,
        `RabbitMQ at ${where} refused access to the vhost (unknown, or not permitted): ${text}`,
        err,
      )
    }
    return brokerError(503, `cannot reach ${where}: ${text}`, err)
  }

  /** @internal A failed channel operation as a MicroError: AMQP's reply code picks the status. */
  operationError(err: unknown, what: string): MicroError {
    if (err instanceof MicroError) return err
    const code = replyCode(err)
    const text = errorText(err)
    let status = 500
    if (code === 403) status = 403
    else if (code === 404) status = 404
    // 406 for a message over the server's max_message_size: "message size … is larger than configured max size".
    else if (code === 406 && /larger than|max(imum)?[ _]size/i.test(text)) status = 413
    else if (code === 406) status = 409
    else if (code === 405) status = 409
    else if (code === 311 || code === 320 || code === 541) status = 503
    else if (code === undefined && /closed/i.test(text)) status = 503
    return brokerError(status, `cannot ${what}: ${text}`, err)
  }
}

interface ChannelState {
  closed?: boolean
  lastError?: Error
}

function notConnected(op: string): MicroError {
  return brokerError(503, `cannot ${op}: not connected; call connect() first`)
}

function abortError(signal: AbortSignal | undefined, detail = 'publish canceled'): MicroError {
  const reason: unknown = signal?.reason
  if (reason instanceof MicroError) return reason
  if (reason instanceof Error && reason.name === 'TimeoutError')
    return brokerError(408, `${detail}: timed out`)
  return brokerError(499, detail)
}

/**
 * One subscription: a channel of its own with a consumer on the queue. The channel is reopened
 * on the live connection when RabbitMQ closes it, and on the new connection after a reconnect.
 */
class RabbitSubscription implements Subscription {
  readonly topic: string
  readonly queue: string | undefined
  private readonly broker: RabbitMQBroker
  private readonly handler: BrokerHandler
  private readonly autoAck: boolean
  private active = true
  private channel: amqp.Channel | undefined
  private consumerTag: string | undefined
  /** The connection the channel is (being) opened on, and that opening. */
  private openedOn: Model | undefined
  private opening: Promise<void> | undefined
  private retryTimer: NodeJS.Timeout | undefined
  private retryOn: Model | undefined
  private retries = 0
  private readonly inFlight = new Set<Promise<void>>()

  constructor(
    broker: RabbitMQBroker,
    topic: string,
    queue: string | undefined,
    handler: BrokerHandler,
    autoAck: boolean,
  ) {
    this.broker = broker
    this.topic = topic
    this.queue = queue
    this.handler = handler
    this.autoAck = autoAck
  }

  /** Open on `model` unless already open (or opening) there. */
  open(model: Model): Promise<void> {
    if (!this.active) return Promise.resolve()
    if (this.openedOn === model && this.opening) return this.opening
    if (this.openedOn === model && this.channel) return Promise.resolve()
    this.openedOn = model
    const opening = this.openOn(model).finally(() => {
      if (this.opening === opening) this.opening = undefined
    })
    this.opening = opening
    return opening
  }

  private async openOn(model: Model): Promise<void> {
    const { exchange, durableQueues } = this.broker.options
    let channel = await this.newChannel(model)
    try {
      let queue: string
      if (this.queue === undefined) {
        queue = (await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false })).queue
      } else {
        try {
          queue = (
            await channel.assertQueue(this.queue, { durable: durableQueues, autoDelete: !durableQueues })
          ).queue
        } catch (err) {
          if (replyCode(err) !== 406) throw err
          // The group's queue exists with other settings: go-micro declares group queues
          // non-durable and auto-delete unless told otherwise. Join it as it is.
          this.broker.logger.warn(
            { queue: this.queue, err: errorText(err) },
            'queue group queue exists with other settings; using it as it is',
          )
          channel = await this.newChannel(model)
          queue = (await channel.checkQueue(this.queue)).queue
        }
      }
      await channel.bindQueue(queue, exchange, this.topic)
      const open = channel
      // Owned before consuming: deliveries can arrive before consume() resolves, and their acks
      // check that the channel they came on is still this subscription's.
      this.channel = open
      const { consumerTag } = await open.consume(queue, (msg) => this.deliver(open, msg), { noAck: false })
      this.consumerTag = consumerTag
      this.retries = 0
    } catch (err) {
      if (this.channel === channel) this.channel = undefined
      await channel.close().catch(() => {})
      throw err
    }
    // Unsubscribed while opening: undo.
    if (!this.active) await this.shutdown()
  }

  /** A channel with the prefetch set, its closing watched. */
  private async newChannel(model: Model): Promise<amqp.Channel> {
    const channel = await model.createChannel()
    channel.on('error', (err: Error) =>
      this.broker.logger.warn(
        { topic: this.topic, queue: this.queue, err: errorText(err) },
        'rabbitmq subscription channel closed by the server',
      ),
    )
    channel.on('close', () => this.closed(channel, model))
    try {
      await channel.prefetch(this.broker.options.prefetch)
    } catch (err) {
      await channel.close().catch(() => {})
      throw err
    }
    return channel
  }

  /** Reopen later on `model` while it is still the live connection (the next reconnection reopens it otherwise). */
  retryLater(model: Model): void {
    if (!this.active) return
    if (this.retryTimer && this.retryOn === model) return
    clearTimeout(this.retryTimer)
    this.retryOn = model
    const { reconnectDelay, reconnectMaxDelay } = this.broker.options
    const delay = Math.min(reconnectMaxDelay, reconnectDelay * 2 ** Math.min(this.retries++, 16))
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      if (!this.active || this.channel || this.broker.currentModel() !== model) return
      this.openedOn = undefined
      this.open(model).catch((err) => {
        this.broker.logger.error(
          { topic: this.topic, queue: this.queue, err: errorText(err) },
          'reopening a subscription failed',
        )
        this.retryLater(model)
      })
    }, delay)
    this.retryTimer.unref()
  }

  private closed(channel: amqp.Channel, model: Model): void {
    if (this.channel !== channel) return
    this.channel = undefined
    this.consumerTag = undefined
    if (this.active) this.retryLater(model)
  }

  private deliver(channel: amqp.Channel, msg: amqp.ConsumeMessage | null): void {
    if (msg === null) {
      // RabbitMQ cancelled the consumer (its queue was deleted): a new channel declares it again.
      channel.close().catch(() => {})
      return
    }
    if (!this.active) {
      try {
        channel.nack(msg, false, true)
      } catch {
        // channel already closed: RabbitMQ requeues it anyway
      }
      return
    }
    // A queue group is one queue named after the group (go-micro's layout), so a group used for
    // several topics gets all their messages on every member: hand each to the member of the
    // group in this process whose topic matches, never to a handler of another topic.
    const routingKey = msg.fields.routingKey
    const target = this.matches(routingKey) ? this : this.broker.groupMember(this.queue, routingKey)
    if (!target) {
      this.holdBack(channel, msg)
      return
    }
    const event = new RabbitEvent(this, channel, msg)
    const run = target.run(event).finally(() => this.inFlight.delete(run))
    this.inFlight.add(run)
  }

  /** @internal Whether a message with `routingKey` is for this subscription (AMQP topic matching). */
  matches(routingKey: string): boolean {
    return topicMatches(this.topic, routingKey)
  }

  /**
   * A message on the group's queue for a topic no member in this process subscribes to (another
   * process may): give it back after a pause, so it is neither lost nor spun on.
   */
  private holdBack(channel: amqp.Channel, msg: amqp.ConsumeMessage): void {
    this.broker.logger.warn(
      { queue: this.queue, topic: msg.fields.routingKey },
      'message on the queue group for a topic no subscriber here handles; requeued (use one queue group name per topic)',
    )
    const held = new Promise<void>((resolve) => {
      setTimeout(() => {
        try {
          if (this.owns(channel)) channel.nack(msg, false, true)
        } catch {
          // channel closed: RabbitMQ requeues it anyway
        }
        resolve()
      }, HOLD_BACK_MS)
    })
    const run = held.finally(() => this.inFlight.delete(run))
    this.inFlight.add(run)
  }

  /** @internal Run the handler on `event` (which may have arrived on another member's channel) and settle it. */
  async run(event: RabbitEvent): Promise<void> {
    try {
      await this.handler(event)
    } catch (err) {
      this.broker.logger.error(
        { topic: event.topic, queue: this.queue, err: errorText(err) },
        'broker handler failed; message requeued',
      )
      await event.nack().catch(() => {})
      return
    }
    if (this.autoAck) {
      await event
        .ack()
        .catch((err) =>
          this.broker.logger.debug(
            { topic: event.topic, err: errorText(err) },
            'ack failed; RabbitMQ will redeliver',
          ),
        )
    }
  }

  /** @internal Whether `channel` is still this subscription's open channel (acks on any other fail). */
  owns(channel: amqp.Channel): boolean {
    return this.channel === channel
  }

  /** Stop consuming, let running handlers finish (and settle), then close the channel: unsettled messages go back to the queue. */
  async unsubscribe(): Promise<void> {
    if (!this.active) return
    this.active = false
    this.broker.subscriptions.delete(this)
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    await this.opening?.catch(() => {})
    await this.shutdown()
  }

  private async shutdown(): Promise<void> {
    const channel = this.channel
    if (channel && this.consumerTag) await channel.cancel(this.consumerTag).catch(() => {})
    await Promise.allSettled([...this.inFlight])
    this.channel = undefined
    this.consumerTag = undefined
    await channel?.close().catch(() => {})
  }
}

/** A delivery: ack/nack settle it once; on a closed channel they fail (RabbitMQ redelivers it). */
class RabbitEvent implements BrokerEvent {
  readonly topic: string
  readonly message: BrokerMessage
  private settled = false
  private readonly sub: RabbitSubscription
  private readonly channel: amqp.Channel
  private readonly msg: amqp.ConsumeMessage

  constructor(sub: RabbitSubscription, channel: amqp.Channel, msg: amqp.ConsumeMessage) {
    this.sub = sub
    this.channel = channel
    this.msg = msg
    this.topic = msg.fields.routingKey
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries((msg.properties.headers ?? {}) as Record<string, unknown>)) {
      const s = headerText(v)
      if (s !== undefined) headers[k] = s
    }
    const c = msg.content
    this.message = { headers, body: new Uint8Array(c.buffer, c.byteOffset, c.byteLength) }
  }

  /** Whether RabbitMQ has delivered this message before (to this or another consumer). */
  get redelivered(): boolean {
    return this.msg.fields.redelivered
  }

  async ack(): Promise<void> {
    this.settle(true)
  }

  /** Give the message back to the queue for redelivery. */
  async nack(): Promise<void> {
    this.settle(false)
  }

  private settle(ack: boolean): void {
    // Settling twice would close the channel (an unknown delivery tag): the second call does nothing.
    if (this.settled) return
    this.settled = true
    const what = ack ? 'ack' : 'nack'
    if (!this.sub.owns(this.channel)) {
      throw brokerError(
        503,
        `cannot ${what}: the channel this message came on has closed; RabbitMQ will redeliver it`,
      )
    }
    try {
      if (ack) this.channel.ack(this.msg)
      else this.channel.nack(this.msg, false, true)
    } catch (err) {
      throw brokerError(503, `cannot ${what}: ${errorText(err)}; RabbitMQ will redeliver it`, err)
    }
  }
}

/** Create a RabbitMQ broker; call `connect()` before publishing or subscribing. */
export function createRabbitMQBroker(options: RabbitMQBrokerOptions = {}): RabbitMQBroker {
  return new RabbitMQBroker(options)
}
