/**
 * The poison-message rule: what happens to a message whose handler fails (throws, or calls
 * `nack()`).
 *
 * - A message the handler cannot decode (it fails with a 400, 413, 415 or 422 MicroError, as
 *   core's codecs do for a malformed body) is never delivered again.
 * - Any other failure sends the message back after a wait that doubles per delivery (with
 *   jitter), at most `maxDeliveries` deliveries in all.
 * - A message given up on goes to `deadLetterExchange` when one is set (routing key = topic,
 *   with `x-micro-error` and `x-micro-deliveries`), or is dropped with one error log line.
 *
 * The wait happens in RabbitMQ, not in this process: the message is copied, with its delivery
 * count, into a retry queue of the subscription's queue with a per-message TTL, and that queue
 * dead-letters it back into the subscription's queue when the TTL ends. The original is
 * acknowledged once RabbitMQ has confirmed the copy, so a waiting message holds no prefetch slot
 * (the other messages keep flowing) and nothing is lost if the process stops meanwhile.
 */
import { createHash } from 'node:crypto'
import { isMicroError, type Logger } from '@micro-ts/core'
import { type Backoff, backoff } from '@micro-ts/core/plugin'
import type * as amqp from 'amqplib'
import { errorText } from './errors.js'
import { MAX_NAME_BYTES, type ResolvedRabbitMQOptions } from './options.js'
import type { Publisher } from './publisher.js'

/** How many times the message has been delivered before (set on the copies this broker makes). */
export const DELIVERIES_HEADER = 'x-micro-deliveries'
/** The topic of a copy coming back from a retry queue (its routing key is then the queue's name). */
export const TOPIC_HEADER = 'x-micro-topic'
/** Why a dead-lettered message was given up on. */
export const ERROR_HEADER = 'x-micro-error'

/** Headers RabbitMQ adds when it dead-letters a message out of a retry queue. */
const DEATH_HEADERS = /^x-(death|first-death-.*|last-death-.*)$/

/** Failures that say the message itself is at fault: delivering it again cannot help. */
const UNDECODABLE = new Set([400, 413, 415, 422])

/** Longest `x-micro-error` header, characters. */
const MAX_ERROR_TEXT = 1000

export function isUndecodable(err: unknown): boolean {
  return isMicroError(err) && UNDECODABLE.has(err.code)
}

function rawHeaders(msg: amqp.Message): Record<string, unknown> {
  return (msg.properties.headers ?? {}) as Record<string, unknown>
}

/** Whether `msg` is a copy this broker sent back through a retry queue. */
function isRetry(msg: amqp.Message): boolean {
  return typeof rawHeaders(msg)[TOPIC_HEADER] === 'string'
}

/** The topic `msg` was published to (the routing key, or the one a retry copy carries). */
export function topicOf(msg: amqp.ConsumeMessage): string {
  return isRetry(msg) ? (rawHeaders(msg)[TOPIC_HEADER] as string) : msg.fields.routingKey
}

/** This delivery's number: 1 for the first. */
export function deliveryOf(msg: amqp.Message): number {
  const before = Number(rawHeaders(msg)[DELIVERIES_HEADER])
  return Number.isInteger(before) && before > 0 ? before + 1 : 1
}

/** The message's headers without the ones this broker and RabbitMQ's dead-lettering added for a retry. */
export function publishedHeaders(msg: amqp.Message): Record<string, unknown> {
  const retry = isRetry(msg)
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(rawHeaders(msg))) {
    if (k === DELIVERIES_HEADER || k === TOPIC_HEADER) continue
    if (retry && DEATH_HEADERS.test(k)) continue
    out[k] = v
  }
  return out
}

/** The retry queue of subscription queue `queue`: `<queue>.micro-retry`, shortened with a hash past 255 bytes. */
export function retryQueueName(queue: string): string {
  const name = `${queue}.micro-retry`
  if (Buffer.byteLength(name) <= MAX_NAME_BYTES) return name
  const hash = createHash('sha256').update(queue).digest('hex').slice(0, 16)
  let head = queue.slice(0, 200)
  while (Buffer.byteLength(head) > 200) head = head.slice(0, -1)
  return `${head}.${hash}.micro-retry`
}

/** One failed delivery, as the subscription hands it over. */
export interface FailedDelivery {
  msg: amqp.ConsumeMessage
  topic: string
  /** The subscription's queue group, for logs. */
  queue: string | undefined
  /** This delivery's number (1 for the first). */
  delivery: number
  /** The name of the retry queue that leads back to the subscription's queue (declared on first use). */
  retryQueue(): Promise<string>
  /** Aborts when the channel the original came on closes: RabbitMQ then gives it back by itself. */
  signal: AbortSignal
  /** Settle the original: acknowledged, or given back to the queue at once. */
  ack(): void
  requeue(): void
}

export class Redelivery {
  private readonly wait: Backoff

  constructor(
    private readonly options: ResolvedRabbitMQOptions,
    private readonly logger: Logger,
    private readonly publisher: Publisher,
  ) {
    this.wait = backoff({ base: options.redeliveryWait, max: options.redeliveryMaxWait })
  }

  /** Apply the rule to a failed delivery; settles the original. Never throws. */
  async failed(d: FailedDelivery, err: unknown): Promise<void> {
    // The channel closed: RabbitMQ has given the original back already, and will deliver it again.
    if (d.signal.aborted) return
    const { maxDeliveries } = this.options
    const where = { topic: d.topic, queue: d.queue, delivery: d.delivery, err: errorText(err) }
    if (isUndecodable(err)) return this.giveUp(d, err, 'undecodable message (the handler cannot read it)')
    if (d.delivery >= maxDeliveries)
      return this.giveUp(
        d,
        err,
        `still failing after ${d.delivery} deliveries (maxDeliveries ${maxDeliveries})`,
      )
    const delay = Math.round(this.wait(d.delivery))
    // One line per message at warn, the repeats at debug: a failing handler cannot flood the log.
    const line = `broker handler failed; message comes back in ${delay}ms (delivery ${d.delivery} of ${maxDeliveries})`
    if (d.delivery === 1) this.logger.warn(where, line)
    else this.logger.debug(where, line)
    try {
      const queue = await d.retryQueue()
      await this.publisher.publish(
        { exchange: '', routingKey: queue },
        d.msg.content,
        this.copy(d, {
          headers: { [DELIVERIES_HEADER]: d.delivery, [TOPIC_HEADER]: d.topic },
          expiration: String(delay),
        }),
        {
          deadline: Date.now() + this.options.publishTimeout,
          signal: d.signal,
          what: `send back a message of ${JSON.stringify(d.topic)}`,
        },
      )
    } catch (retryErr) {
      if (d.signal.aborted) return
      this.logger.error(
        { ...where, retryErr: errorText(retryErr) },
        'cannot put a failed message in its retry queue; it is requeued after the wait instead',
      )
      return this.later(d, delay)
    }
    this.settle(d, 'ack')
  }

  private async giveUp(d: FailedDelivery, err: unknown, why: string): Promise<void> {
    const where = { topic: d.topic, queue: d.queue, deliveries: d.delivery, why, err: errorText(err) }
    const exchange = this.options.deadLetterExchange
    if (!exchange) {
      this.logger.error(where, 'broker message dropped')
      this.settle(d, 'ack')
      return
    }
    try {
      await this.publisher.publish(
        { exchange, routingKey: d.topic },
        d.msg.content,
        this.copy(d, {
          headers: {
            [DELIVERIES_HEADER]: d.delivery,
            [ERROR_HEADER]: `${why}: ${errorText(err)}`.slice(0, MAX_ERROR_TEXT),
          },
        }),
        {
          deadline: Date.now() + this.options.publishTimeout,
          signal: d.signal,
          what: `dead-letter a message of ${JSON.stringify(d.topic)}`,
        },
      )
    } catch (dlxErr) {
      if (d.signal.aborted) return
      // Dropping it would lose a message the operator asked to keep: try again later.
      this.logger.error(
        { ...where, exchange, dlxErr: errorText(dlxErr) },
        'cannot dead-letter a message; it is requeued after the longest wait instead',
      )
      return this.later(d, this.options.redeliveryMaxWait)
    }
    this.logger.error({ ...where, exchange }, 'broker message dead-lettered')
    this.settle(d, 'ack')
  }

  /** The original's properties for a copy, with `extra` headers and settings. */
  private copy(
    d: FailedDelivery,
    extra: { headers: Record<string, unknown>; expiration?: string },
  ): amqp.Options.Publish {
    const p = d.msg.properties
    const out: amqp.Options.Publish = {
      headers: { ...publishedHeaders(d.msg), ...extra.headers },
      deliveryMode: p.deliveryMode,
    }
    if (p.contentType !== undefined) out.contentType = p.contentType
    if (p.contentEncoding !== undefined) out.contentEncoding = p.contentEncoding
    if (p.priority !== undefined) out.priority = p.priority
    if (p.correlationId !== undefined) out.correlationId = p.correlationId
    if (p.replyTo !== undefined) out.replyTo = p.replyTo
    if (p.messageId !== undefined) out.messageId = p.messageId
    if (p.timestamp !== undefined) out.timestamp = p.timestamp
    if (p.type !== undefined) out.type = p.type
    if (p.appId !== undefined) out.appId = p.appId
    // Not userId: RabbitMQ checks it against the publishing connection's user.
    if (extra.expiration !== undefined) out.expiration = extra.expiration
    return out
  }

  /** Give the original back to its queue after `ms` (the fallback when no copy can be made), or when its channel closes. */
  private later(d: FailedDelivery, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        d.signal.removeEventListener('abort', done)
        if (!d.signal.aborted) this.settle(d, 'requeue')
        resolve()
      }
      const timer = setTimeout(done, ms)
      d.signal.addEventListener('abort', done, { once: true })
    })
  }

  private settle(d: FailedDelivery, how: 'ack' | 'requeue'): void {
    try {
      if (how === 'ack') d.ack()
      else d.requeue()
    } catch (err) {
      // The channel closed: RabbitMQ gives the original back to the queue by itself.
      this.logger.debug(
        { topic: d.topic, err: errorText(err) },
        `${how} after a failure did not reach RabbitMQ`,
      )
    }
  }
}
