/**
 * A broker on RabbitMQ (`MICRO_BROKER=rabbitmq`) in go-micro's layout, so go-micro's rabbitmq
 * broker interoperates: one topic exchange (`micro`), routing key = topic, AMQP headers =
 * message headers, body as is. A subscriber with a queue group shares one queue named after the
 * group; one without gets an exclusive, auto-delete queue of its own. This file is the facade:
 * the connection, the publisher, the subscriptions and the poison rule live beside it.
 */
import {
  type Broker,
  type BrokerHandler,
  type BrokerMessage,
  createLogger,
  type Logger,
  type PublishOptions,
  type SubscribeOptions,
  type Subscription,
} from '@micro-ts/core'
import { checkHandler, checkMessage, checkTopic } from '@micro-ts/core/plugin'
import type * as amqp from 'amqplib'
import { Connection, type Model } from './connection.js'
import { aborted, errors, errorText, operationError } from './errors.js'
import {
  MAX_NAME_BYTES,
  type RabbitMQBrokerOptions,
  type ResolvedRabbitMQOptions,
  resolveOptions,
} from './options.js'
import { Publisher } from './publisher.js'
import { Redelivery } from './redelivery.js'
import { RabbitSubscription, type SubscriptionHost } from './subscription.js'

/** An AMQP short string: exchange, queue, routing key and header names. */
function checkShortString(what: string, name: string): void {
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) {
    throw errors.badRequest(`${what} is longer than ${MAX_NAME_BYTES} bytes (an AMQP short string)`)
  }
}

/**
 * `publish()` resolves once RabbitMQ has confirmed the message. A handler that returns acks its
 * message; one that throws (or nacks) has it redelivered after a back-off, at most
 * `maxDeliveries` times, then dead-lettered or dropped (redelivery.ts). After the connection
 * drops the broker reconnects, declares the exchange again and reopens every subscription;
 * publishes made meanwhile wait for the reconnection up to `publishTimeout`.
 */
export class RabbitMQBroker implements Broker {
  readonly name = 'rabbitmq'
  readonly options: ResolvedRabbitMQOptions
  private readonly logger: Logger
  private readonly connection: Connection
  private readonly publisher: Publisher
  private readonly subscriptions = new Set<RabbitSubscription>()
  private readonly host: SubscriptionHost

  constructor(options: RabbitMQBrokerOptions = {}) {
    this.options = resolveOptions(options)
    this.logger = (options.logger ?? createLogger('warn', 'micro')).child({ broker: 'rabbitmq' })
    this.connection = new Connection(this.options, this.logger, (model, isClosed) =>
      this.setup(model, isClosed),
    )
    this.publisher = new Publisher(this.connection, this.options, this.logger)
    const subscriptions = this.subscriptions
    this.host = {
      options: this.options,
      logger: this.logger,
      connection: this.connection,
      redelivery: new Redelivery(this.options, this.logger, this.publisher),
      groupMember(queue, topic) {
        if (queue === undefined) return undefined
        for (const sub of subscriptions) if (sub.queue === queue && sub.matches(topic)) return sub
        return undefined
      },
      ended: (sub) => subscriptions.delete(sub),
    }
  }

  /** The server address with the password masked; '' when not connected. */
  address(): string {
    return this.connection.open ? this.options.displayAddress : ''
  }

  /**
   * What /health/ready asks: resolves when the connection is up and RabbitMQ answers on it (the
   * exchange is checked on a short-lived channel); a 503 while not connected or reconnecting.
   */
  async ping(signal?: AbortSignal): Promise<void> {
    if (!this.connection.open) throw errors.notConnected('ping')
    const model = this.connection.ready
    if (!model) throw errors.unavailable('ping: reconnecting to RabbitMQ')
    if (signal?.aborted) throw aborted(signal, 'ping canceled')
    try {
      const channel = await model.createChannel()
      try {
        await channel.checkExchange(this.options.exchange)
      } finally {
        await channel.close().catch(() => {})
      }
    } catch (err) {
      throw errors.unavailable(`ping: RabbitMQ did not answer: ${errorText(err)}`, err)
    }
  }

  /**
   * Connect, declare the exchange and stay connected: a dropped connection is reopened with
   * back-off. Fails with a MicroError within `connectTimeout`: 503 when RabbitMQ cannot be
   * reached, 401 when it refuses the credentials, 403 for a vhost the user may not use.
   */
  connect(): Promise<void> {
    return this.connection.connect()
  }

  /** End every subscription (waiting for running handlers), fail waiting publishes, close the connection. */
  async disconnect(): Promise<void> {
    if (!this.connection.open) return this.connection.close()
    await Promise.allSettled([...this.subscriptions].map((s) => s.unsubscribe()))
    await this.connection.close()
  }

  /**
   * Publish to the exchange with the topic as routing key; resolves once RabbitMQ confirms the
   * message. While the connection is down it waits for the reconnection; a message whose channel
   * died before the confirm is sent again (so a reconnect can deliver a message twice, never
   * lose a confirmed one). Fails with a 413 over the size limit, and after `publishTimeout`
   * with a 503 (no connection) or 504 (sent, not confirmed: it may or may not have been delivered).
   */
  async publish(topic: string, message: BrokerMessage, options: PublishOptions = {}): Promise<void> {
    if (!this.connection.open) throw errors.notConnected('publish')
    checkTopic(topic)
    checkShortString('topic', topic)
    checkMessage(message)
    for (const name of Object.keys(message.headers ?? {})) {
      if (Buffer.byteLength(name) > MAX_NAME_BYTES) {
        throw errors.badRequest(
          `message header name ${JSON.stringify(name.slice(0, 40))}… is longer than ${MAX_NAME_BYTES} bytes`,
        )
      }
    }
    if (options.signal?.aborted) throw aborted(options.signal, 'publish canceled')
    // A copy: the caller may reuse its buffer as soon as publish() returns, and a retry resends it.
    const content = Buffer.from(message.body)
    const properties: amqp.Options.Publish = {
      headers: { ...message.headers },
      deliveryMode: this.options.persistent ? 2 : 1,
    }
    await this.publisher.publish(
      { exchange: this.options.exchange, routingKey: topic },
      content,
      properties,
      {
        deadline: Date.now() + this.options.publishTimeout,
        signal: options.signal,
        what: `publish to ${JSON.stringify(topic)}`,
      },
    )
  }

  async subscribe(
    topic: string,
    handler: BrokerHandler,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    if (!this.connection.open) throw errors.notConnected('subscribe')
    checkTopic(topic)
    checkShortString('topic', topic)
    checkHandler(handler)
    const queue = options.queue || undefined
    if (queue !== undefined) {
      if (typeof queue !== 'string') throw errors.badRequest('queue must be a string')
      checkShortString('queue', queue)
      if (queue.startsWith('amq.'))
        throw errors.badRequest(`queue ${JSON.stringify(queue)}: the amq. prefix is reserved`)
    }
    if (options.autoAck !== undefined && typeof options.autoAck !== 'boolean') {
      throw errors.badRequest('autoAck must be a boolean')
    }
    const sub = new RabbitSubscription(this.host, topic, queue, handler, options.autoAck ?? true)
    this.subscriptions.add(sub)
    const model = this.connection.live
    // While the connection is down the subscription waits: the reconnection opens it.
    if (model) {
      try {
        await sub.open(model)
      } catch (err) {
        // The connection dropped meanwhile: the reconnection opens the subscription.
        if (this.connection.live !== model && this.connection.open) return sub
        await sub.unsubscribe()
        throw operationError(err, `subscribe to ${JSON.stringify(topic)}`)
      }
    }
    return sub
  }

  /** Runs on every (re)connection before it counts as up: exchanges, publish channel, subscriptions. */
  private async setup(model: Model, isClosed: () => boolean): Promise<void> {
    await this.publisher.open(model)
    for (const sub of [...this.subscriptions]) {
      try {
        await sub.open(model)
      } catch (err) {
        if (isClosed()) throw err
        // One subscription that cannot be opened (say, a queue declared elsewhere with other
        // settings) must not keep the others down: it retries on its own.
        this.logger.error(
          { topic: sub.topic, queue: sub.queue, err: errorText(err) },
          'reopening a subscription failed',
        )
        sub.reopenLater(model)
      }
    }
  }
}

/** Create a RabbitMQ broker; call `connect()` before publishing or subscribing. */
export function createRabbitMQBroker(options: RabbitMQBrokerOptions = {}): RabbitMQBroker {
  return new RabbitMQBroker(options)
}
