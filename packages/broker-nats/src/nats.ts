/**
 * The NATS broker, go-micro compatible (broker/nats/nats.go): the topic is the subject, the queue
 * is the NATS queue group, and the payload is go-micro's `{"Header":…,"Body":…}` JSON, so Go and
 * TypeScript publishers and subscribers interoperate. This is the facade: the connection, input
 * checks, and the choice between core NATS (`core.ts`, at most once) and JetStream
 * (`jetstream.ts`, stored and acknowledged).
 */
import {
  type Broker,
  type BrokerHandler,
  type BrokerMessage,
  type Logger,
  type PublishOptions,
  type SubscribeOptions,
  type Subscription,
  silentLogger,
} from '@micro-ts/core'
import {
  abortReason,
  checkHandler,
  checkMessage,
  checkSignal,
  encodeBrokerEnvelope,
  sleep,
} from '@micro-ts/core/plugin'
import { type ConnectionOptions, connect, type NatsConnection } from 'nats'
import { CORE_CAPABILITIES, modeCapabilities, type NatsCapability } from './capabilities.js'
import { type ActiveSubscription, subscribeCore } from './core.js'
import { connectError, errors, errorText, publishError } from './errors.js'
import { JetStream } from './jetstream.js'
import { checkQueue, checkTopic } from './message.js'
import { type NatsBrokerOptions, type ResolvedNatsOptions, resolveOptions } from './options.js'

export class NatsBroker implements Broker {
  readonly name = 'nats'
  /** The plugin definition's capabilities for these options: `ack` and `persistent` in JetStream mode. */
  readonly capabilities: readonly NatsCapability[]
  private readonly options: ResolvedNatsOptions
  private readonly logger: Logger
  private nc?: NatsConnection
  private js?: JetStream
  private connecting?: Promise<void>
  /** Between a disconnect and the reconnect: nothing answers on `nc` meanwhile. */
  private reconnecting = false
  private readonly subscriptions = new Set<ActiveSubscription>()
  /** Topics publish() has already found valid (bounded; see checkPublishTopic). */
  private readonly publishTopics = new Set<string>()

  constructor(options: NatsBrokerOptions = {}) {
    this.options = resolveOptions(options)
    this.logger = (options.logger ?? silentLogger).child({ broker: 'nats' })
    this.capabilities = [...CORE_CAPABILITIES, ...modeCapabilities({ jetstream: this.jetstream })]
  }

  /** @internal The options after defaults and checks, for tests and diagnostics. */
  get resolvedOptions(): Readonly<ResolvedNatsOptions> {
    return this.options
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
        const connected = () => this.nc === nc && !nc.isClosed()
        this.js = new JetStream(
          nc.jetstream(),
          await nc.jetstreamManager(),
          o.jetstream,
          this.logger,
          connected,
        )
      } catch (err) {
        await nc.close().catch(() => {})
        throw errors.unavailable(
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
    this.reconnecting = false
    ;(async () => {
      for await (const s of nc.status()) {
        if (this.nc !== nc) break
        if (s.type === 'disconnect') {
          this.reconnecting = true
          this.logger.warn({ server: s.data }, 'nats broker: disconnected; reconnecting')
        } else if (s.type === 'reconnect') {
          this.reconnecting = false
          this.logger.info({ server: s.data }, 'nats broker: reconnected')
        } else if (s.type === 'error') this.logger.error({ err: String(s.data) }, 'nats broker: async error')
      }
    })().catch(() => {})
  }

  /**
   * What /health/ready asks: one PING/PONG round trip with the server (`flush()`). A 503 before
   * connect and after disconnect, at once while the connection is reconnecting (a flush would wait
   * for the next server), and when no PONG comes within `connectTimeout`; the signal's 408/499
   * when it fires.
   */
  async ping(signal?: AbortSignal): Promise<void> {
    const nc = this.connection('ping')
    if (this.reconnecting)
      throw errors.unavailable(`ping: reconnecting to ${this.options.servers.join(', ')}`)
    checkSignal(signal)
    const { connectTimeout } = this.options
    try {
      await Promise.race([
        nc.flush(),
        sleep(connectTimeout, signal).then(() => {
          throw new Error(`no answer within ${connectTimeout}ms`)
        }),
      ])
    } catch (err) {
      if (signal?.aborted) throw abortReason(signal, errors.id)
      throw errors.unavailable(`ping: NATS at ${nc.getServer()} did not answer: ${errorText(err)}`, err)
    }
  }

  /** Ends every subscription (letting running handlers finish and ack), flushes, and closes. */
  async disconnect(): Promise<void> {
    if (this.connecting) await this.connecting.catch(() => {})
    const nc = this.nc
    if (!nc) return
    await Promise.allSettled([...this.subscriptions].map((s) => s.stop()))
    this.subscriptions.clear()
    this.nc = undefined
    this.js = undefined
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
    checkSignal(options.signal)
    const data = encodeBrokerEnvelope(message)
    if (nc.info && data.length > nc.info.max_payload) {
      throw errors.tooLarge(
        `message of ${data.length} bytes exceeds the server's max_payload of ${nc.info.max_payload}`,
      )
    }
    if (this.js) return this.js.publish(topic, data, message.headers ?? {}, options.signal)
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

  async subscribe(
    topic: string,
    handler: BrokerHandler,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    const nc = this.connection('subscribe')
    checkTopic(topic, true)
    checkHandler(handler)
    const queue = checkQueue(options.queue)
    let active: ActiveSubscription
    if (this.js) active = await this.js.subscribe(topic, queue, handler, options.autoAck ?? true)
    else {
      active = subscribeCore(nc, topic, queue, handler, this.logger)
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

  private connection(op: string): NatsConnection {
    const nc = this.nc
    if (!nc || nc.isClosed()) throw errors.notConnected(op)
    return nc
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.disconnect()
  }
}

/** Create a NATS broker; see {@link NatsBrokerOptions}. Call `connect()` before use. */
export function createNatsBroker(options: NatsBrokerOptions = {}): NatsBroker {
  return new NatsBroker(options)
}
