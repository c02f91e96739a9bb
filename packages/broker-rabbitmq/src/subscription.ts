/**
 * A subscription (a channel of its own with a consumer on its queue, reopened when RabbitMQ
 * closes it and after a reconnect) and the events it hands to its handler.
 */
import type { BrokerEvent, BrokerHandler, BrokerMessage, Logger, Subscription } from '@micro-ts/core'
import { type Backoff, backoff } from '@micro-ts/core/plugin'
import type * as amqp from 'amqplib'
import type { Connection, Model } from './connection.js'
import { errors, errorText, replyCode } from './errors.js'
import type { ResolvedRabbitMQOptions } from './options.js'
import { deliveryOf, publishedHeaders, type Redelivery, retryQueueName, topicOf } from './redelivery.js'

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

/** What a subscription needs from the broker that owns it. */
export interface SubscriptionHost {
  readonly options: ResolvedRabbitMQOptions
  readonly logger: Logger
  readonly connection: Connection
  readonly redelivery: Redelivery
  /** The active subscription of queue group `queue` in this broker whose topic matches `topic`. */
  groupMember(queue: string | undefined, topic: string): RabbitSubscription | undefined
  /** The subscription has ended: forget it. */
  ended(sub: RabbitSubscription): void
}

/** One opened channel and what belongs to it. */
interface Opened {
  channel: amqp.Channel
  /** The queue consumed: the group's, or the server-named private one. */
  queue: string
  consumerTag: string | undefined
  /** Aborted when the channel closes: settling its deliveries is then pointless. */
  lifetime: AbortController
  retryQueue: Promise<string> | undefined
}

export class RabbitSubscription implements Subscription {
  private active = true
  private current: Opened | undefined
  /** The connection the channel is (being) opened on, and that opening. */
  private openedOn: Model | undefined
  private opening: Promise<void> | undefined
  private reopenTimer: NodeJS.Timeout | undefined
  private reopenOn: Model | undefined
  private reopenAttempts = 0
  private readonly reopenWait: Backoff
  private readonly inFlight = new Set<Promise<void>>()
  /** Topics already warned about on hold-back (one warning each, the repeats at debug). */
  private readonly heldTopics = new Set<string>()

  constructor(
    private readonly host: SubscriptionHost,
    readonly topic: string,
    readonly queue: string | undefined,
    private readonly handler: BrokerHandler,
    private readonly autoAck: boolean,
  ) {
    this.reopenWait = backoff({ base: host.options.reconnectWait, max: host.options.reconnectMaxWait })
  }

  /** Open on `model` unless already open (or opening) there. */
  open(model: Model): Promise<void> {
    if (!this.active) return Promise.resolve()
    if (this.openedOn === model && this.opening) return this.opening
    if (this.openedOn === model && this.current) return Promise.resolve()
    this.openedOn = model
    const opening = this.openOn(model).finally(() => {
      if (this.opening === opening) this.opening = undefined
    })
    this.opening = opening
    return opening
  }

  private async openOn(model: Model): Promise<void> {
    const { exchange, durableQueues } = this.host.options
    let channel = await this.newChannel(model)
    let opened: Opened | undefined
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
          this.host.logger.warn(
            { queue: this.queue, err: errorText(err) },
            'queue group queue exists with other settings; using it as it is',
          )
          channel = await this.newChannel(model)
          queue = (await channel.checkQueue(this.queue)).queue
        }
      }
      await channel.bindQueue(queue, exchange, this.topic)
      const o: Opened = {
        channel,
        queue,
        consumerTag: undefined,
        lifetime: new AbortController(),
        retryQueue: undefined,
      }
      opened = o
      // Owned before consuming: deliveries can arrive before consume() resolves, and their acks
      // check that the channel they came on is still this subscription's.
      this.current = o
      channel.once('close', () => o.lifetime.abort())
      const { consumerTag } = await channel.consume(queue, (msg) => this.deliver(o, model, msg), {
        noAck: false,
      })
      o.consumerTag = consumerTag
      this.reopenAttempts = 0
    } catch (err) {
      if (opened && this.current === opened) this.current = undefined
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
      this.host.logger.warn(
        { topic: this.topic, queue: this.queue, err: errorText(err) },
        'rabbitmq subscription channel closed by the server',
      ),
    )
    channel.on('close', () => this.closed(channel, model))
    try {
      await channel.prefetch(this.host.options.prefetch)
    } catch (err) {
      await channel.close().catch(() => {})
      throw err
    }
    return channel
  }

  /** Reopen later on `model` while it is still the live connection (the next reconnection reopens it otherwise). */
  reopenLater(model: Model): void {
    if (!this.active) return
    if (this.reopenTimer && this.reopenOn === model) return
    clearTimeout(this.reopenTimer)
    this.reopenOn = model
    this.reopenTimer = setTimeout(
      () => {
        this.reopenTimer = undefined
        if (!this.active || this.current || this.host.connection.live !== model) return
        this.openedOn = undefined
        this.open(model).catch((err) => {
          this.host.logger.error(
            { topic: this.topic, queue: this.queue, err: errorText(err) },
            'reopening a subscription failed',
          )
          this.reopenLater(model)
        })
      },
      this.reopenWait(++this.reopenAttempts),
    )
    this.reopenTimer.unref()
  }

  private closed(channel: amqp.Channel, model: Model): void {
    if (this.current?.channel !== channel) return
    this.current = undefined
    if (this.active) this.reopenLater(model)
  }

  private deliver(o: Opened, model: Model, msg: amqp.ConsumeMessage | null): void {
    if (msg === null) {
      // RabbitMQ cancelled the consumer (its queue was deleted): a new channel declares it again.
      o.channel.close().catch(() => {})
      return
    }
    if (!this.active) {
      try {
        o.channel.nack(msg, false, true)
      } catch {
        // channel already closed: RabbitMQ requeues it anyway
      }
      return
    }
    // A queue group is one queue named after the group (go-micro's layout), so a group used for
    // several topics gets all their messages on every member: hand each to the member of the
    // group in this process whose topic matches, never to a handler of another topic.
    const topic = topicOf(msg)
    const target = this.matches(topic) ? this : this.host.groupMember(this.queue, topic)
    if (!target) {
      this.holdBack(o, msg, topic)
      return
    }
    const event = new RabbitEvent(this, o, model, msg, topic)
    const run = target.run(event).finally(() => this.inFlight.delete(run))
    this.inFlight.add(run)
  }

  /** Whether a message of `topic` is for this subscription (AMQP topic matching). */
  matches(topic: string): boolean {
    return topicMatches(this.topic, topic)
  }

  /**
   * A message on the group's queue for a topic no member in this process subscribes to (another
   * process may): give it back after a pause, so it is neither lost nor spun on.
   */
  private holdBack(o: Opened, msg: amqp.ConsumeMessage, topic: string): void {
    const fields = { queue: this.queue, topic }
    const line =
      'message on the queue group for a topic no subscriber here handles; requeued (use one queue group name per topic)'
    if (this.heldTopics.has(topic)) this.host.logger.debug(fields, line)
    else {
      this.heldTopics.add(topic)
      this.host.logger.warn(fields, line)
    }
    const held = new Promise<void>((resolve) => {
      setTimeout(() => {
        try {
          if (this.current === o) o.channel.nack(msg, false, true)
        } catch {
          // channel closed: RabbitMQ requeues it anyway
        }
        resolve()
      }, HOLD_BACK_MS)
    })
    const run = held.finally(() => this.inFlight.delete(run))
    this.inFlight.add(run)
  }

  /** Run the handler on `event` (which may have arrived on another member's channel) and settle it. */
  async run(event: RabbitEvent): Promise<void> {
    try {
      await this.handler(event)
    } catch (err) {
      await event.fail(err)
      return
    }
    if (this.autoAck) {
      await event
        .ack()
        .catch((err) =>
          this.host.logger.debug(
            { topic: event.topic, err: errorText(err) },
            'ack failed; RabbitMQ will redeliver',
          ),
        )
    }
  }

  /** The broker's poison-message rule, which this subscription's events apply. */
  get redelivery(): Redelivery {
    return this.host.redelivery
  }

  /** Whether `o` is still this subscription's open channel (acks on any other fail). */
  owns(o: Opened): boolean {
    return this.current === o
  }

  /** The retry queue of the queue `o` consumes from, declared on first use (see redelivery.ts). */
  retryQueue(o: Opened, model: Model): Promise<string> {
    o.retryQueue ??= this.declareRetryQueue(o, model)
    o.retryQueue.catch(() => {
      o.retryQueue = undefined
    })
    return o.retryQueue
  }

  private async declareRetryQueue(o: Opened, model: Model): Promise<string> {
    const args = { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': o.queue }
    // A channel of its own: a refused declaration closes its channel, and this one carries deliveries.
    let channel = await model.createChannel()
    channel.on('error', () => {})
    try {
      // A private queue's retry queue goes with the connection, as the queue itself does.
      if (this.queue === undefined) {
        return (await channel.assertQueue('', { exclusive: true, durable: false, arguments: args })).queue
      }
      const name = retryQueueName(o.queue)
      try {
        await channel.assertQueue(name, { durable: this.host.options.durableQueues, arguments: args })
      } catch (err) {
        if (replyCode(err) !== 406) throw err
        this.host.logger.warn(
          { queue: name, err: errorText(err) },
          'retry queue exists with other settings; using it as it is',
        )
        channel = await model.createChannel()
        channel.on('error', () => {})
        await channel.checkQueue(name)
      }
      return name
    } finally {
      await channel.close().catch(() => {})
    }
  }

  /** Stop consuming, let running handlers finish (and settle), then close the channel: unsettled messages go back to the queue. */
  async unsubscribe(): Promise<void> {
    if (!this.active) return
    this.active = false
    this.host.ended(this)
    if (this.reopenTimer) clearTimeout(this.reopenTimer)
    this.reopenTimer = undefined
    await this.opening?.catch(() => {})
    await this.shutdown()
  }

  private async shutdown(): Promise<void> {
    const o = this.current
    if (o?.consumerTag) await o.channel.cancel(o.consumerTag).catch(() => {})
    await Promise.allSettled([...this.inFlight])
    this.current = undefined
    o?.lifetime.abort()
    // A private queue's retry queue lives as long as the connection: it goes with the queue.
    if (o?.retryQueue && this.queue === undefined) {
      const name = await o.retryQueue.catch(() => undefined)
      if (name) await o.channel.deleteQueue(name).catch(() => {})
    }
    await o?.channel.close().catch(() => {})
  }
}

/** A delivery: ack/nack settle it once; on a closed channel they fail (RabbitMQ redelivers it). */
export class RabbitEvent implements BrokerEvent {
  readonly topic: string
  readonly message: BrokerMessage
  /** This delivery's number: 1 the first time, 2 when it comes back after a failure, and so on. */
  readonly delivery: number
  private settled = false

  constructor(
    private readonly sub: RabbitSubscription,
    private readonly opened: Opened,
    private readonly model: Model,
    private readonly msg: amqp.ConsumeMessage,
    topic: string,
  ) {
    this.topic = topic
    this.delivery = deliveryOf(msg)
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(publishedHeaders(msg))) {
      const s = headerText(v)
      if (s !== undefined) headers[k] = s
    }
    const c = msg.content
    this.message = { headers, body: new Uint8Array(c.buffer, c.byteOffset, c.byteLength) }
  }

  /** Whether this message was delivered before (by RabbitMQ after a lost channel, or after a failure). */
  get redelivered(): boolean {
    return this.msg.fields.redelivered || this.delivery > 1
  }

  async ack(): Promise<void> {
    if (this.settled) return
    this.settled = true
    this.check('ack')
    try {
      this.opened.channel.ack(this.msg)
    } catch (err) {
      throw errors.unavailable(`cannot ack: ${errorText(err)}; RabbitMQ will redeliver it`, err)
    }
  }

  /** Give the message back for redelivery, after the back-off, within `maxDeliveries` (the poison rule). */
  async nack(): Promise<void> {
    if (this.settled) return
    this.check('nack')
    await this.fail(new Error('nack() by the handler'))
  }

  /** The handler failed with `err`: redeliver later, dead-letter or drop (see redelivery.ts). Never throws. */
  async fail(err: unknown): Promise<void> {
    // Settling twice would close the channel (an unknown delivery tag): later calls do nothing.
    if (this.settled) return
    this.settled = true
    const o = this.opened
    const sub = this.sub
    await sub.redelivery.failed(
      {
        msg: this.msg,
        topic: this.topic,
        queue: sub.queue,
        delivery: this.delivery,
        signal: o.lifetime.signal,
        retryQueue: () => sub.retryQueue(o, this.model),
        ack: () => {
          if (sub.owns(o)) o.channel.ack(this.msg)
        },
        requeue: () => {
          if (sub.owns(o)) o.channel.nack(this.msg, false, true)
        },
      },
      err,
    )
  }

  private check(what: string): void {
    if (!this.sub.owns(this.opened)) {
      throw errors.unavailable(
        `cannot ${what}: the channel this message came on has closed; RabbitMQ will redeliver it`,
      )
    }
  }
}
