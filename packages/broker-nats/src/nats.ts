/**
 * The NATS broker, go-micro compatible (broker/nats/nats.go): the topic is the subject, the queue
 * is the NATS queue group, and the payload is go-micro's `{"Header":…,"Body":…}` JSON, so Go and
 * TypeScript publishers and subscribers interoperate. Core NATS delivers at most once; the opt-in
 * JetStream mode stores messages and redelivers until a handler succeeds (capability `ack`).
 */
import { createHash, randomUUID } from 'node:crypto'
import {
  type Broker,
  type BrokerEvent,
  type BrokerHandler,
  type BrokerMessage,
  type Logger,
  MicroError,
  type PublishOptions,
  type SubscribeOptions,
  type Subscription,
  silentLogger,
} from '@micro-ts/core'
import {
  AckPolicy,
  type ConnectionOptions,
  type ConsumerConfig,
  ConsumerEvents,
  type ConsumerMessages,
  connect,
  DeliverPolicy,
  ErrorCode,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type Msg,
  type NatsConnection,
  NatsError,
  type Subscription as NatsSubscription,
  nanos,
  RetentionPolicy,
  StorageType,
} from 'nats'
import {
  brokerError,
  checkMessage,
  checkTopic,
  decodeMessage,
  encodeMessage,
  parseEnvelope,
  plainMessage,
} from './message.js'
import {
  type NatsBrokerOptions,
  type ResolvedJetStream,
  type ResolvedNatsOptions,
  resolveOptions,
} from './options.js'

/** Capabilities as the conformance suite names them: JetStream mode acknowledges and redelivers. */
export type NatsCapability = 'ack'

/** A subscription the broker keeps, for disconnect() to end. */
interface Active {
  stop(): Promise<void>
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.())

export class NatsBroker implements Broker {
  readonly name = 'nats'
  /** `['ack']` in JetStream mode, `[]` for core NATS. */
  readonly capabilities: readonly NatsCapability[]
  private readonly options: ResolvedNatsOptions
  private readonly logger: Logger
  private nc?: NatsConnection
  private js?: JetStreamClient
  private jsm?: JetStreamManager
  private connecting?: Promise<void>
  private readonly subscriptions = new Set<Active>()
  /** Stream per topic, resolved once (cleared when JetStream says the stream is gone). */
  private readonly streams = new Map<string, Promise<string>>()
  /** Topics publish() has already found valid (bounded; see checkPublishTopic). */
  private readonly publishTopics = new Set<string>()

  constructor(options: NatsBrokerOptions = {}) {
    this.options = resolveOptions(options)
    this.logger = (options.logger ?? silentLogger).child({ broker: 'nats' })
    this.capabilities = this.options.jetstream ? ['ack'] : []
  }

  /** True in JetStream mode. */
  get jetstream(): boolean {
    return this.options.jetstream !== undefined
  }

  address(): string {
    const nc = this.nc
    return nc && !nc.isClosed() ? `nats://${nc.getServer()}` : ''
  }

  connect(): Promise<void> {
    if (this.nc && !this.nc.isClosed()) return Promise.resolve()
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined
    })
    return this.connecting
  }

  private async open(): Promise<void> {
    const o = this.options
    const config: ConnectionOptions = {
      servers: o.servers,
      timeout: o.connectTimeout,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: o.reconnectWait,
      name: o.name,
      user: o.user,
      pass: o.pass,
      token: o.token,
    }
    if (o.tls) config.tls = o.tls
    let nc: NatsConnection
    try {
      nc = await connect(config)
    } catch (err) {
      throw connectError(err, o.servers)
    }
    if (o.jetstream) {
      try {
        this.jsm = await nc.jetstreamManager()
        this.js = nc.jetstream()
      } catch (err) {
        await nc.close().catch(() => {})
        throw brokerError(
          503,
          `JetStream is not available on ${o.servers.join(', ')} (start nats-server with -js): ${errorText(err)}`,
          err,
        )
      }
    }
    this.nc = nc
    this.watchStatus(nc)
    this.logger.info({ server: nc.getServer(), jetstream: this.jetstream }, 'nats broker: connected')
  }

  private watchStatus(nc: NatsConnection): void {
    ;(async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect')
          this.logger.warn({ server: s.data }, 'nats broker: disconnected; reconnecting')
        else if (s.type === 'reconnect') this.logger.info({ server: s.data }, 'nats broker: reconnected')
        else if (s.type === 'error') this.logger.error({ err: String(s.data) }, 'nats broker: async error')
      }
    })().catch(() => {})
  }

  /** Ends every subscription (letting running handlers finish and ack), flushes, and closes. */
  async disconnect(): Promise<void> {
    if (this.connecting) await this.connecting.catch(() => {})
    const nc = this.nc
    if (!nc) return
    await Promise.allSettled([...this.subscriptions].map((s) => s.stop()))
    this.subscriptions.clear()
    this.streams.clear()
    this.nc = undefined
    this.js = undefined
    this.jsm = undefined
    if (nc.isClosed()) return
    // drain() flushes pending publishes; it cannot finish while the server is away, so bound it.
    const drained = nc.drain().catch(() => {})
    await Promise.race([drained, sleep(this.options.connectTimeout)])
    if (!nc.isClosed()) await nc.close().catch(() => {})
  }

  async publish(topic: string, message: BrokerMessage, options: PublishOptions = {}): Promise<void> {
    const nc = this.connection('publish')
    this.checkPublishTopic(topic)
    checkMessage(message)
    options.signal?.throwIfAborted()
    const data = encodeMessage({ headers: message.headers ?? {}, body: message.body })
    if (nc.info && data.length > nc.info.max_payload) {
      throw brokerError(
        413,
        `message of ${data.length} bytes exceeds the server's max_payload of ${nc.info.max_payload}`,
      )
    }
    if (this.options.jetstream) return this.publishDurable(topic, data, message.headers ?? {}, options.signal)
    try {
      nc.publish(topic, data)
    } catch (err) {
      throw publishError(err)
    }
  }

  /** Topics are checked once: a publisher sends to few of them, many times. */
  private checkPublishTopic(topic: string): void {
    if (this.publishTopics.has(topic)) return
    checkTopic(topic, false)
    if (this.publishTopics.size >= 1024) this.publishTopics.clear()
    this.publishTopics.add(topic)
  }

  /**
   * Publish and wait for JetStream's acknowledgement (the message is stored). Retries until
   * `publishTimeout` (a server restart in between is ridden out); the `Nats-Msg-Id` makes a
   * retry of a message that was in fact stored a duplicate JetStream drops.
   */
  private async publishDurable(
    topic: string,
    data: Uint8Array,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const js = this.js!
    const { publishTimeout } = this.options.jetstream!
    const msgID = headerValue(headers, 'micro-id') ?? randomUUID()
    const deadline = Date.now() + publishTimeout
    let attempt = 0
    for (;;) {
      signal?.throwIfAborted()
      const remaining = deadline - Date.now()
      try {
        await this.stream(topic)
        await js.publish(topic, data, { msgID, timeout: Math.max(250, Math.min(remaining, 5000)) })
        return
      } catch (err) {
        if (err instanceof MicroError && err.code !== 503 && err.code !== 408) throw err
        if (isCode(err, ErrorCode.MaxPayloadExceeded, ErrorCode.BadSubject, ErrorCode.BadPayload)) {
          throw publishError(err)
        }
        if (!this.nc || this.nc.isClosed())
          throw brokerError(503, 'cannot publish: not connected; call connect() first')
        // No responders: the stream is gone (deleted, or the server came back empty): create it again.
        if (isCode(err, ErrorCode.NoResponders)) this.streams.delete(topic)
        if (Date.now() + 100 >= deadline) {
          throw brokerError(
            503,
            `publish to ${topic} not acknowledged by JetStream within ${publishTimeout}ms`,
            err,
          )
        }
        this.logger.debug(
          { topic, attempt, err: errorText(err) },
          'nats broker: JetStream publish failed; retrying',
        )
        await sleep(Math.min(50 * 2 ** attempt++, 1000, Math.max(0, deadline - Date.now())))
      }
    }
  }

  async subscribe(
    topic: string,
    handler: BrokerHandler,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    const nc = this.connection('subscribe')
    checkTopic(topic, true)
    if (typeof handler !== 'function') throw brokerError(400, 'handler must be a function')
    const queue = options.queue || undefined
    if (queue !== undefined && (typeof queue !== 'string' || /\s/.test(queue))) {
      throw brokerError(400, `invalid queue ${JSON.stringify(queue)}: a non-empty string without whitespace`)
    }
    const autoAck = options.autoAck ?? true
    let active: Active
    if (this.options.jetstream) active = await this.subscribeDurable(topic, queue, handler, autoAck)
    else {
      active = this.subscribeCore(nc, topic, queue, handler)
      // NATS sends SUB without an answer: one round trip makes sure the server has it, so a message
      // published (from any connection) once subscribe() resolved is delivered. Bounded while reconnecting.
      await Promise.race([nc.flush().catch(() => {}), sleep(this.options.connectTimeout)])
    }
    this.subscriptions.add(active)
    return {
      topic,
      queue,
      unsubscribe: async () => {
        if (!this.subscriptions.delete(active)) return
        await active.stop()
      },
    }
  }

  /**
   * Core NATS: one subscription, messages handled one at a time in arrival order, no redelivery.
   * A callback subscription rather than the async iterator: the iterator costs a few promises per
   * message, and a handler that finishes synchronously runs right inside the delivery here.
   */
  private subscribeCore(
    nc: NatsConnection,
    topic: string,
    queue: string | undefined,
    handler: BrokerHandler,
  ): Active {
    // Messages that arrive while a handler is still running wait here, in order.
    const waiting = new MessageQueue()
    let busy = false
    let idle: (() => void) | undefined
    const onError = (err: unknown, subject: string) =>
      this.logger.error({ topic: subject, queue, err: errorText(err) }, 'nats broker: handler failed')
    // Handle `m` and then everything queued behind it, until the queue is empty or a handler
    // returns a promise; then the promise's settlement carries on.
    const drain = (m: Msg | undefined): void => {
      busy = true
      while (m) {
        const subject = m.subject
        let pending: unknown
        try {
          pending = handler(coreEvent(m))
        } catch (err) {
          onError(err, subject)
        }
        if (isPromise(pending)) {
          pending.then(resume, (err: unknown) => {
            onError(err, subject)
            resume()
          })
          return
        }
        m = waiting.shift()
      }
      busy = false
      idle?.()
    }
    const resume = () => drain(waiting.shift())
    let sub: NatsSubscription
    try {
      sub = nc.subscribe(topic, {
        ...(queue ? { queue } : {}),
        callback: (err, m) => {
          if (err) {
            this.logger.error({ topic, err: errorText(err) }, 'nats broker: subscription ended')
            return
          }
          if (busy) waiting.push(m)
          else drain(m)
        },
      })
    } catch (err) {
      throw publishError(err)
    }
    return {
      // Messages already received are still handled (as the iterator did), new ones are not.
      stop: async () => {
        if (!sub.isClosed()) sub.unsubscribe()
        if (busy) await new Promise<void>((resolve) => (idle = resolve))
      },
    }
  }

  /**
   * JetStream: a durable pull consumer per queue group and topic (shared by the group's members,
   * kept when they leave so messages wait for them), or one per subscriber without a queue
   * (removed on unsubscribe, or by the server after `inactiveThreshold`).
   */
  private async subscribeDurable(
    topic: string,
    queue: string | undefined,
    handler: BrokerHandler,
    autoAck: boolean,
  ): Promise<Active> {
    const jsOptions = this.options.jetstream!
    const durable = consumerName(topic, queue)
    const config: Partial<ConsumerConfig> = {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      filter_subject: topic,
      ack_wait: nanos(jsOptions.ackWait),
      max_deliver: jsOptions.maxDeliver,
    }
    if (!queue) config.inactive_threshold = nanos(jsOptions.inactiveThreshold)
    // First set-up happens now, so subscribe() fails loudly if JetStream refuses.
    let stream = await this.ensureConsumer(topic, config)

    let stopped = false
    let ready = true // the consumer was just set up; later rounds check again
    let messages: ConsumerMessages | undefined
    let wake = () => {}
    const loop = (async () => {
      let attempt = 0
      while (!stopped) {
        try {
          if (!ready) stream = await this.ensureConsumer(topic, config)
          ready = false
          const consumer = await this.js!.consumers.get(stream, durable)
          messages = await consumer.consume({ max_messages: jsOptions.prefetch })
          if (stopped) {
            messages.close().catch(() => {})
            break
          }
          attempt = 0
          this.watchConsumer(messages, topic, durable)
          for await (const m of messages) {
            await this.run(handler, jetStreamEvent(m, autoAck, jsOptions), queue)
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
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(250 * 2 ** attempt++, 5000))
          wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
      }
    })()
    return {
      stop: async () => {
        stopped = true
        wake()
        // Not awaited: close() resolves only once the iterator has been read up to its end, and
        // the loop stops reading after the running handler (buffered messages are redelivered).
        messages?.close().catch(() => {})
        await loop
        if (!queue) {
          await this.jsm?.consumers.delete(stream, durable).catch(() => {})
        }
      },
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

  private async ensureConsumer(topic: string, config: Partial<ConsumerConfig>): Promise<string> {
    const stream = await this.stream(topic)
    const jsm = this.jsm!
    try {
      await jsm.consumers.info(stream, config.durable_name!)
    } catch (err) {
      if (!isApiError(err, 10014)) throw streamError(err, `look up consumer ${config.durable_name}`)
      try {
        await jsm.consumers.add(stream, config)
      } catch (addErr) {
        throw streamError(addErr, `create consumer ${config.durable_name} on stream ${stream}`)
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
    const jsm = this.jsm
    if (!jsm) throw brokerError(503, 'not connected; call connect() first')
    const js = this.options.jetstream!
    const token = topic.split('.')[0]
    if (token === '*' || token === '>') {
      throw brokerError(
        400,
        `in JetStream mode the first token of a topic must be literal, got ${JSON.stringify(topic)}`,
      )
    }
    const name = streamName(js, token)
    try {
      await jsm.streams.info(name)
      return name
    } catch (err) {
      if (!isApiError(err, 10059)) throw streamError(err, `look up stream ${name}`)
    }
    try {
      await jsm.streams.add({
        name,
        subjects: [token, `${token}.>`],
        retention: RetentionPolicy.Interest,
        storage: js.storage === 'memory' ? StorageType.Memory : StorageType.File,
        num_replicas: js.replicas,
        max_age: nanos(js.maxAge),
      })
      this.logger.info(
        { stream: name, subjects: `${token}, ${token}.>` },
        'nats broker: created JetStream stream',
      )
      return name
    } catch (err) {
      // 10058: created concurrently by someone else with this name. 10065: another stream already
      // captures these subjects: use the one that holds this topic.
      if (isApiError(err, 10058)) return name
      if (isApiError(err, 10065) && !topic.includes('*') && !topic.includes('>')) {
        try {
          return await jsm.streams.find(topic)
        } catch (findErr) {
          throw streamError(findErr, `find the stream of ${topic}`)
        }
      }
      throw streamError(err, `create stream ${name}`)
    }
  }

  /** Run a handler; failures are logged (and, in JetStream mode, nacked by the event). */
  private async run(handler: BrokerHandler, event: Settling, queue: string | undefined): Promise<void> {
    try {
      await handler(event)
      await event.succeeded()
    } catch (err) {
      this.logger.error({ topic: event.topic, queue, err: errorText(err) }, 'nats broker: handler failed')
      await event.failed()
    }
  }

  private connection(op: string): NatsConnection {
    const nc = this.nc
    if (!nc || nc.isClosed()) throw brokerError(503, `cannot ${op}: not connected; call connect() first`)
    return nc
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.disconnect()
  }
}

/** A broker event plus what the broker does when its handler returns or throws. */
interface Settling extends BrokerEvent {
  succeeded(): Promise<void>
  failed(): Promise<void>
}

const settled = async () => {}

/** Core NATS: nothing to acknowledge. NATS headers are only read for a message that is not an envelope. */
function coreEvent(m: Msg): BrokerEvent {
  return {
    topic: m.subject,
    message: parseEnvelope(m.data) ?? plainMessage(m.data, m.headers),
    ack: settled,
    nack: settled,
  }
}

function isPromise(v: unknown): v is PromiseLike<unknown> {
  return typeof (v as PromiseLike<unknown> | undefined)?.then === 'function'
}

/** A FIFO of messages: an array with a moving head, so taking from the front does not copy. */
class MessageQueue {
  private items: (Msg | undefined)[] = []
  private head = 0

  push(m: Msg): void {
    this.items.push(m)
  }

  shift(): Msg | undefined {
    if (this.head >= this.items.length) return undefined
    const m = this.items[this.head]
    this.items[this.head++] = undefined
    if (this.head === this.items.length) {
      this.items.length = 0
      this.head = 0
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return m
  }
}

function jetStreamEvent(m: JsMsg, autoAck: boolean, options: ResolvedJetStream): Settling {
  const message = decodeMessage(m.data, m.headers)
  let settled = false
  const ack = async () => {
    if (settled) return
    settled = true
    m.ack()
  }
  const nack = async () => {
    if (settled) return
    settled = true
    m.nak(options.nakDelay(m.info.deliveryCount))
  }
  return {
    topic: m.subject,
    message,
    ack,
    nack,
    succeeded: autoAck ? ack : async () => {},
    failed: nack,
  }
}

function headerValue(headers: Record<string, string>, name: string): string | undefined {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name && v) return v
  return undefined
}

/** Stream names allow no `.`, `*`, `>`, whitespace or path separators; a hash keeps folded names apart. */
function streamName(js: ResolvedJetStream, token: string): string {
  const clean = token.replace(/[^A-Za-z0-9_-]/g, '_')
  const suffix = clean === token ? '' : `_${shortHash(token)}`
  return `${js.streamPrefix}_${clean.slice(0, 64)}${suffix}`
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

function isCode(err: unknown, ...codes: string[]): boolean {
  return err instanceof NatsError && codes.includes(err.code)
}

function isApiError(err: unknown, errCode: number): boolean {
  return err instanceof NatsError && err.api_error?.err_code === errCode
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function connectError(err: unknown, servers: string[]): MicroError {
  const where = servers.join(', ')
  if (
    isCode(
      err,
      ErrorCode.AuthorizationViolation,
      ErrorCode.BadAuthentication,
      ErrorCode.AuthenticationExpired,
    )
  ) {
    return brokerError(401, `cannot connect to ${where}: the server rejected the credentials`, err)
  }
  if (isCode(err, ErrorCode.Timeout, ErrorCode.ConnectionTimeout)) {
    return brokerError(408, `cannot connect to ${where}: timed out`, err)
  }
  if (isCode(err, ErrorCode.InvalidOption))
    return brokerError(400, `invalid connection options: ${errorText(err)}`, err)
  return brokerError(503, `cannot connect to ${where}: ${errorText(err)}`, err)
}

function publishError(err: unknown): MicroError {
  if (err instanceof MicroError) return err
  if (isCode(err, ErrorCode.MaxPayloadExceeded))
    return brokerError(413, `message too large: ${errorText(err)}`, err)
  if (isCode(err, ErrorCode.BadSubject)) return brokerError(400, `invalid topic: ${errorText(err)}`, err)
  if (isCode(err, ErrorCode.ConnectionClosed, ErrorCode.ConnectionDraining)) {
    return brokerError(503, 'not connected; call connect() first', err)
  }
  return brokerError(500, errorText(err), err)
}

function streamError(err: unknown, what: string): MicroError {
  if (err instanceof MicroError) return err
  if (isCode(err, ErrorCode.Timeout, ErrorCode.NoResponders, ErrorCode.Disconnect)) {
    return brokerError(503, `JetStream unavailable: cannot ${what}: ${errorText(err)}`, err)
  }
  return brokerError(500, `JetStream: cannot ${what}: ${errorText(err)}`, err)
}

/** Create a NATS broker; see {@link NatsBrokerOptions}. Call `connect()` before use. */
export function createNatsBroker(options: NatsBrokerOptions = {}): NatsBroker {
  return new NatsBroker(options)
}
