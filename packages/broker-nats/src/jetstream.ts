/**
 * JetStream mode: stored, acknowledged delivery. A stream per topic space, a durable pull
 * consumer per queue group (or one per plain subscriber), publishes acknowledged once stored.
 * A failed delivery comes back after a growing delay, at most `maxDeliver` times in all; a
 * message whose handler still fails then is dropped (terminated) with an error log, so one
 * poison message never holds the others up nor loops for ever.
 */
import { createHash, randomUUID } from 'node:crypto'
import { type BrokerEvent, type BrokerHandler, isMicroError, type Logger } from '@micro-ts/core'
import { type Backoff, backoff, checkSignal, sleep } from '@micro-ts/core/plugin'
import {
  AckPolicy,
  type ConsumerConfig,
  ConsumerEvents,
  type ConsumerMessages,
  DeliverPolicy,
  ErrorCode,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  nanos,
  RetentionPolicy,
  StorageType,
} from 'nats'
import type { ActiveSubscription } from './core.js'
import { errors, errorText, isApiError, isCode, publishError, streamError } from './errors.js'
import { decodeMessage } from './message.js'
import type { ResolvedJetStream } from './options.js'

/** JetStream API error codes this module reacts to. */
const CONSUMER_NOT_FOUND = 10014
const STREAM_NAME_IN_USE = 10058
const STREAM_NOT_FOUND = 10059
const SUBJECTS_OVERLAP = 10065

/** Waits between publish attempts while JetStream does not answer (e.g. during a restart). */
const publishRetry = backoff({ base: 50, max: 1000 })
/** Waits before a failed consumer is set up again. */
const consumerRetry = backoff({ base: 250, max: 5000 })

/** The JetStream side of one connection; the broker makes one per connect(). */
export class JetStream {
  /** Stream per topic, resolved once (cleared when JetStream says the stream is gone). */
  private readonly streams = new Map<string, Promise<string>>()
  private readonly nakDelay: Backoff

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly options: ResolvedJetStream,
    private readonly logger: Logger,
    /** False once the connection is closed: retries stop. */
    private readonly connected: () => boolean,
  ) {
    this.nakDelay = backoff({ base: options.nakDelay, max: options.nakDelayMax })
  }

  /**
   * Publish and wait for JetStream's acknowledgement (the message is stored). Retries until
   * `publishTimeout` (a server restart in between is ridden out); the `Nats-Msg-Id` makes a
   * retry of a message that was in fact stored a duplicate JetStream drops.
   */
  async publish(
    topic: string,
    data: Uint8Array,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const { publishTimeout } = this.options
    const msgID = headerValue(headers, 'micro-id') ?? randomUUID()
    const deadline = Date.now() + publishTimeout
    for (let attempt = 1; ; attempt++) {
      checkSignal(signal)
      const remaining = deadline - Date.now()
      try {
        await this.stream(topic)
        await this.js.publish(topic, data, { msgID, timeout: Math.max(250, Math.min(remaining, 5000)) })
        return
      } catch (err) {
        if (isMicroError(err) && err.code !== 503 && err.code !== 408) throw err
        if (isCode(err, ErrorCode.MaxPayloadExceeded, ErrorCode.BadSubject, ErrorCode.BadPayload)) {
          throw publishError(err)
        }
        if (!this.connected()) throw errors.notConnected('publish')
        // No responders: the stream is gone (deleted, or the server came back empty): create it again.
        if (isCode(err, ErrorCode.NoResponders)) this.streams.delete(topic)
        if (Date.now() + 100 >= deadline) {
          throw errors.unavailable(
            `publish to ${topic} not acknowledged by JetStream within ${publishTimeout}ms`,
            err,
          )
        }
        this.logger.debug(
          { topic, attempt, err: errorText(err) },
          'nats broker: JetStream publish failed; retrying',
        )
        await sleep(Math.min(publishRetry(attempt), Math.max(0, deadline - Date.now())))
      }
    }
  }

  /**
   * A durable pull consumer per queue group and topic (shared by the group's members, kept when
   * they leave so messages wait for them), or one per subscriber without a queue (removed on
   * unsubscribe, or by the server after `inactiveThreshold`).
   */
  async subscribe(
    topic: string,
    queue: string | undefined,
    handler: BrokerHandler,
    autoAck: boolean,
  ): Promise<ActiveSubscription> {
    const o = this.options
    const durable = consumerName(topic, queue)
    const config: Partial<ConsumerConfig> = {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      filter_subject: topic,
      ack_wait: nanos(o.ackWait),
      max_deliver: o.maxDeliver,
    }
    if (!queue) config.inactive_threshold = nanos(o.inactiveThreshold)
    // First set-up happens now, so subscribe() fails loudly if JetStream refuses.
    let stream = await this.ensureConsumer(topic, config)

    let stopped = false
    let ready = true // the consumer was just set up; later rounds check again
    let messages: ConsumerMessages | undefined
    const stop = new AbortController()
    const loop = (async () => {
      let attempt = 0
      while (!stopped) {
        try {
          if (!ready) stream = await this.ensureConsumer(topic, config)
          ready = false
          const consumer = await this.js.consumers.get(stream, durable)
          messages = await consumer.consume({ max_messages: o.prefetch })
          if (stopped) {
            messages.close().catch(() => {})
            break
          }
          attempt = 0
          this.watchConsumer(messages, topic, durable)
          for await (const m of messages) {
            await this.deliver(m, handler, autoAck, queue)
            if (stopped) break
          }
        } catch (err) {
          if (stopped) break
          this.logger.warn(
            { topic, durable, err: errorText(err) },
            'nats broker: JetStream consumer failed; retrying',
          )
        }
        messages = undefined
        if (stopped) break
        // Back off before setting the consumer up again; stop() cuts the wait short.
        await sleep(consumerRetry(++attempt), stop.signal).catch(() => {})
      }
    })()
    return {
      stop: async () => {
        stopped = true
        stop.abort()
        // Not awaited: close() resolves only once the iterator has been read up to its end, and
        // the loop stops reading after the running handler (buffered messages are redelivered).
        messages?.close().catch(() => {})
        await loop
        if (!queue) await this.jsm.consumers.delete(stream, durable).catch(() => {})
      },
    }
  }

  /** Run the handler on one message and settle it: ack, nak with a delay, or drop at the limit. */
  private async deliver(m: JsMsg, handler: BrokerHandler, autoAck: boolean, queue: string | undefined) {
    let event: Delivery
    try {
      event = new Delivery(m, this.options.maxDeliver, this.nakDelay, (why) =>
        this.logger.error(
          {
            topic: m.subject,
            queue,
            stream: m.info.stream,
            seq: m.seq,
            deliveries: m.info.deliveryCount,
            why,
          },
          `nats broker: message dropped after ${m.info.deliveryCount} deliveries (jetstream.maxDeliver ${this.options.maxDeliver})`,
        ),
      )
    } catch (err) {
      // Nothing a handler could be given: redelivering it cannot help.
      this.logger.error(
        { topic: m.subject, queue, err: errorText(err) },
        'nats broker: undecodable message dropped',
      )
      m.term()
      return
    }
    try {
      await handler(event)
      if (autoAck) await event.ack()
    } catch (err) {
      this.logger.error({ topic: event.topic, queue, err: errorText(err) }, 'nats broker: handler failed')
      event.fail(errorText(err))
    }
  }

  /** consume() keeps retrying when its consumer or stream vanishes; end it so the loop recreates both. */
  private watchConsumer(messages: ConsumerMessages, topic: string, durable: string): void {
    ;(async () => {
      for await (const s of await messages.status()) {
        if (s.type === ConsumerEvents.ConsumerNotFound || s.type === ConsumerEvents.StreamNotFound) {
          this.logger.warn(
            { topic, durable, status: s.type },
            'nats broker: JetStream consumer lost; recreating',
          )
          this.streams.delete(topic)
          messages.close().catch(() => {})
          return
        }
      }
    })().catch(() => {})
  }

  /**
   * The consumer exists with our limits: created if missing; an existing one whose ack wait or
   * delivery limit differ (one made by an older version, with no limit) is updated.
   */
  private async ensureConsumer(topic: string, config: Partial<ConsumerConfig>): Promise<string> {
    const stream = await this.stream(topic)
    const durable = config.durable_name!
    let info: Awaited<ReturnType<JetStreamManager['consumers']['info']>>
    try {
      info = await this.jsm.consumers.info(stream, durable)
    } catch (err) {
      if (!isApiError(err, CONSUMER_NOT_FOUND)) throw streamError(err, `look up consumer ${durable}`)
      try {
        await this.jsm.consumers.add(stream, config)
      } catch (addErr) {
        throw streamError(addErr, `create consumer ${durable} on stream ${stream}`)
      }
      return stream
    }
    if (info.config.max_deliver !== config.max_deliver || info.config.ack_wait !== config.ack_wait) {
      try {
        await this.jsm.consumers.update(stream, durable, {
          max_deliver: config.max_deliver,
          ack_wait: config.ack_wait,
        })
        this.logger.info(
          { stream, durable, maxDeliver: config.max_deliver },
          'nats broker: updated the limits of an existing JetStream consumer',
        )
      } catch (err) {
        // The client-side limit still holds: messages are dropped after maxDeliver deliveries.
        this.logger.warn(
          { stream, durable, err: errorText(err) },
          'nats broker: cannot update a JetStream consumer',
        )
      }
    }
    return stream
  }

  /**
   * The stream that stores `topic`: an existing stream whose subjects cover it (so an operator
   * can provision streams), else `<prefix>_<first token>` created for the whole topic space.
   */
  private stream(topic: string): Promise<string> {
    let p = this.streams.get(topic)
    if (!p) {
      p = this.resolveStream(topic)
      this.streams.set(topic, p)
      p.catch(() => this.streams.delete(topic))
    }
    return p
  }

  private async resolveStream(topic: string): Promise<string> {
    const o = this.options
    const token = topic.split('.')[0]
    if (token === '*' || token === '>') {
      throw errors.badRequest(
        `in JetStream mode the first token of a topic must be literal, got ${JSON.stringify(topic)}`,
      )
    }
    const name = streamName(o.streamPrefix, token)
    try {
      await this.jsm.streams.info(name)
      return name
    } catch (err) {
      if (!isApiError(err, STREAM_NOT_FOUND)) throw streamError(err, `look up stream ${name}`)
    }
    try {
      await this.jsm.streams.add({
        name,
        subjects: [token, `${token}.>`],
        retention: RetentionPolicy.Interest,
        storage: o.storage === 'memory' ? StorageType.Memory : StorageType.File,
        num_replicas: o.replicas,
        max_age: nanos(o.maxAge),
      })
      this.logger.info(
        { stream: name, subjects: `${token}, ${token}.>` },
        'nats broker: created JetStream stream',
      )
      return name
    } catch (err) {
      // Created concurrently by someone else with this name; or another stream already captures
      // these subjects: use the one that holds this topic.
      if (isApiError(err, STREAM_NAME_IN_USE)) return name
      if (isApiError(err, SUBJECTS_OVERLAP) && !topic.includes('*') && !topic.includes('>')) {
        try {
          return await this.jsm.streams.find(topic)
        } catch (findErr) {
          throw streamError(findErr, `find the stream of ${topic}`)
        }
      }
      throw streamError(err, `create stream ${name}`)
    }
  }
}

/**
 * One delivery as a broker event. It settles once: `ack()`; `nack()` (or a failed handler) asks
 * for redelivery after the back-off, or, on the last allowed delivery, terminates the message
 * (JetStream then never delivers it again) and reports the drop.
 */
class Delivery implements BrokerEvent {
  readonly topic: string
  readonly message: BrokerEvent['message']
  private settled = false

  constructor(
    private readonly m: JsMsg,
    private readonly maxDeliver: number,
    private readonly delay: Backoff,
    private readonly dropped: (why: string) => void,
  ) {
    this.topic = m.subject
    this.message = decodeMessage(m.data, () => m.headers)
  }

  ack = async (): Promise<void> => {
    if (this.settled) return
    this.settled = true
    this.m.ack()
  }

  nack = async (): Promise<void> => this.fail('nacked by the handler')

  fail(why: string): void {
    if (this.settled) return
    this.settled = true
    const count = this.m.info.deliveryCount
    if (count >= this.maxDeliver) {
      // No reason text: servers before 2.10 do not parse `+TERM <reason>` and would ignore it.
      this.m.term()
      this.dropped(why)
    } else {
      // Whole milliseconds: the server reads the delay as integer nanoseconds, and a fraction
      // makes it ignore the delay and redeliver at once.
      this.m.nak(Math.round(this.delay(count)))
    }
  }
}

function headerValue(headers: Record<string, string>, name: string): string | undefined {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name && v) return v
  return undefined
}

/** Stream names allow no `.`, `*`, `>`, whitespace or path separators; a hash keeps folded names apart. */
function streamName(prefix: string, token: string): string {
  const clean = token.replace(/[^A-Za-z0-9_-]/g, '_')
  const suffix = clean === token ? '' : `_${shortHash(token)}`
  return `${prefix}_${clean.slice(0, 64)}${suffix}`
}

/** Durable name per queue group and topic, readable, with a hash for uniqueness. */
function consumerName(topic: string, queue: string | undefined): string {
  if (!queue) return `sub_${randomUUID().replaceAll('-', '')}`
  const clean = queue.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 48)
  return `q_${clean}_${shortHash(`${queue}\0${topic}`)}`
}

function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 10)
}
