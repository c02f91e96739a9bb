/**
 * go-micro's HTTP broker (`MICRO_BROKER=http`, the default): every broker runs a small HTTP server;
 * each subscription is registered as a node of `micro.http.broker` (version = queue name, or
 * `ff.http.broadcast`), and a publisher POSTs `{"Header":{...},"Body":"<base64>"}` to every
 * broadcast node of the topic and to one node of each queue group. Go and TypeScript brokers
 * deliver to each other. This file is the facade: lifecycle and subscriptions; `receiver.ts`
 * serves, `sender.ts` publishes, `directory.ts` looks subscribers up.
 *
 * Departures from go-micro, none visible to a Go peer: each subscription gets its own node id
 * (`<topic>-<brokerId>`, then `-2`, ...) so two subscriptions to one topic on one broker never get
 * each other's messages; the server answers before the handler runs, an unknown id with 404 (Go:
 * 200) and a bad message with 400 (Go: 500); publish() waits for the subscribers' answers and
 * rejects when one refused the message; the backlog is retried on a timer with back-off.
 */
import { randomUUID } from 'node:crypto'
import { isMicroError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import type { Registry, Service } from '../../registry/types.js'
import { advertiseHost, formatAddress, parseAddress } from '../../util/address.js'
import { encodeBrokerEnvelope } from '../envelope.js'
import {
  brokerError,
  checkHandler,
  checkMessage,
  checkSignal,
  checkTopic,
  defaultLogger,
  notConnected,
  TOPIC_HEADER,
} from '../message.js'
import type {
  Broker,
  BrokerHandler,
  BrokerMessage,
  PublishOptions,
  SubscribeOptions,
  Subscription,
} from '../types.js'
import { BROADCAST_VERSION, errorText, HTTP_BROKER_SERVICE, SubscriberDirectory } from './directory.js'
import { type LocalSubscriber, Receiver } from './receiver.js'
import { Sender } from './sender.js'

export interface HttpBrokerOptions {
  /** Where subscribers are registered and publishers find them. */
  registry: Registry
  /** `host:port` to listen on (default `127.0.0.1:0`). An unspecified host (`:0`, `0.0.0.0:0`) advertises this machine's first private IPv4. */
  address?: string
  logger?: Logger
  /** Lease of each subscriber's registration in ms (default 60 000, as go-micro). */
  registerTtl?: number
  /** How often registrations are refreshed, in ms (default 30 000). */
  registerInterval?: number
  /** How long a lookup of the subscriber list is reused, in ms (default 5 000); registry watch events and local (un)subscribes clear it earlier. */
  cacheTtl?: number
  /**
   * Largest message in bytes of its envelope (about 4/3 of the body, base64), on both sides: a
   * bigger publish fails with 413 before anything is sent, and the server refuses bigger POSTs
   * with 413. Default 10 MiB.
   */
  maxBodySize?: number
  /** Undelivered messages kept per topic for retry (default 64, as go-micro). */
  backlogSize?: number
  /** Keep-alive connections per subscriber address (default 16). */
  poolSize?: number
  /** Subscriber handlers running at once on this broker before answers to publishers wait (default 256). */
  maxHandlers?: number
}

type State = 'idle' | 'connecting' | 'connected' | 'disconnecting'

export class HttpBroker implements Broker {
  readonly name = 'http'
  /** This broker's UUID, the suffix of its subscribers' node ids. */
  readonly id = randomUUID()
  private readonly registry: Registry
  private readonly logger: Logger
  private readonly listenAddress: string
  private readonly registerTtl: number
  private readonly registerInterval: number
  private readonly maxBodySize: number
  private readonly directory: SubscriberDirectory
  private readonly receiver: Receiver
  private readonly sender: Sender
  private readonly subscribers = new Map<string, LocalSubscriber & { service: Service }>()

  private state: State = 'idle'
  private transition: Promise<void> | undefined
  private advertised = ''
  private refreshTimer: NodeJS.Timeout | undefined

  constructor(options: HttpBrokerOptions) {
    if (!options?.registry) throw brokerError(400, 'http broker: a registry is required')
    this.registry = options.registry
    this.logger = (options.logger ?? defaultLogger()).child({ broker: 'http' })
    this.listenAddress = options.address || '127.0.0.1:0'
    this.registerTtl = options.registerTtl ?? 60_000
    this.registerInterval = options.registerInterval ?? 30_000
    this.maxBodySize = options.maxBodySize ?? 10 * 1024 * 1024
    this.directory = new SubscriberDirectory(this.registry, options.cacheTtl ?? 5_000, this.logger)
    this.receiver = new Receiver({
      maxBodySize: this.maxBodySize,
      maxHandlers: options.maxHandlers ?? 256,
      logger: this.logger,
      find: (id) => this.subscribers.get(id),
    })
    this.sender = new Sender({
      directory: this.directory,
      poolSize: options.poolSize ?? 16,
      backlogSize: options.backlogSize ?? 64,
      logger: this.logger,
    })
  }

  /** Answers while connected (its server is listening). */
  async ping(): Promise<void> {
    if (this.state !== 'connected') throw notConnected(this.name, 'ping')
  }

  /** `host:port` subscribers of this broker are reached at; '' when not connected. */
  address(): string {
    return this.state === 'connected' ? this.advertised : ''
  }

  async connect(): Promise<void> {
    if (this.state === 'connected') return
    if (this.state === 'connecting') return this.transition
    if (this.state === 'disconnecting') await this.transition
    this.state = 'connecting'
    this.transition = this.start().then(
      () => {
        this.state = 'connected'
      },
      (err: unknown) => {
        this.state = 'idle'
        throw err
      },
    )
    return this.transition
  }

  /** Deregisters every subscription, closes the server, and waits briefly for messages still being sent. */
  async disconnect(): Promise<void> {
    if (this.state === 'idle') return
    if (this.state === 'disconnecting') return this.transition
    if (this.state === 'connecting') await this.transition?.catch(() => {})
    if (this.state !== 'connected') return
    this.state = 'disconnecting'
    this.transition = this.stop().finally(() => {
      this.state = 'idle'
    })
    return this.transition
  }

  /**
   * Resolves once every subscriber reachable now has accepted the message (unreachable ones get
   * it from the backlog later); rejects with a subscriber's error when one refused it, and with a
   * 413 when the message is over `maxBodySize`.
   */
  async publish(topic: string, message: BrokerMessage, options: PublishOptions = {}): Promise<void> {
    if (this.state !== 'connected') throw notConnected(this.name, 'publish')
    checkTopic(topic)
    checkMessage(message)
    checkSignal(options.signal)
    const payload = encodeBrokerEnvelope(message, { [TOPIC_HEADER]: topic })
    if (payload.length > this.maxBodySize) {
      throw brokerError(
        413,
        `http broker: message too large: its envelope is ${payload.length} bytes, the limit (maxBodySize) is ${this.maxBodySize}`,
      )
    }
    try {
      await this.sender.publish(topic, payload, options.signal)
    } catch (err) {
      checkSignal(options.signal)
      throw err
    }
  }

  async subscribe(
    topic: string,
    handler: BrokerHandler,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    if (this.state !== 'connected') throw notConnected(this.name, 'subscribe')
    checkTopic(topic)
    checkHandler(handler)
    const queue = options.queue || undefined
    const id = this.nodeId(topic)
    const service: Service = {
      name: HTTP_BROKER_SERVICE,
      version: queue ?? BROADCAST_VERSION,
      nodes: [{ id, address: this.advertised, metadata: { broker: 'http', topic, secure: 'false' } }],
    }
    const sub = { id, topic, queue, handler, service, active: true }
    this.subscribers.set(id, sub)
    try {
      await this.registry.register(service, { ttl: this.registerTtl })
    } catch (err) {
      this.subscribers.delete(id)
      throw brokerError(
        isMicroError(err) && err.code ? err.code : 500,
        `http broker: subscribe to ${topic}: registering with the ${this.registry.name} registry failed: ${errorText(err)}`,
        err,
      )
    }
    this.directory.invalidate()
    return { topic, queue, unsubscribe: () => this.unsubscribe(sub) }
  }

  private async start(): Promise<void> {
    const { host, port } = parseAddress(this.listenAddress, 'go.micro.broker')
    const bound = await this.receiver.listen(host, port, this.listenAddress)
    this.advertised = formatAddress(advertiseHost(host), bound)
    this.sender.start()
    if (this.registerInterval > 0) {
      this.refreshTimer = setInterval(() => this.refresh(), this.registerInterval)
      this.refreshTimer.unref()
    }
    this.directory.start()
    this.logger.debug({ address: this.advertised, id: this.id }, 'http broker listening')
  }

  private async stop(): Promise<void> {
    clearInterval(this.refreshTimer)
    this.refreshTimer = undefined
    this.directory.stop()
    await Promise.allSettled([...this.subscribers.values()].map((s) => this.unsubscribe(s)))
    await this.receiver.close()
    await this.sender.stop()
    this.directory.invalidate()
    this.advertised = ''
  }

  private refresh(): void {
    for (const sub of this.subscribers.values()) {
      if (!sub.active) continue
      this.registry.register(sub.service, { ttl: this.registerTtl }).catch((err: unknown) => {
        this.logger.warn(
          { topic: sub.topic, err: errorText(err) },
          'http broker: refreshing a subscription failed',
        )
      })
    }
  }

  private async unsubscribe(sub: LocalSubscriber & { service: Service }): Promise<void> {
    if (!sub.active) return
    sub.active = false
    this.subscribers.delete(sub.id)
    this.directory.invalidate()
    try {
      await this.registry.deregister(sub.service)
    } catch (err) {
      this.logger.warn(
        { topic: sub.topic, err: errorText(err) },
        'http broker: deregistering a subscription failed',
      )
    }
  }

  /** `<topic>-<brokerId>` like go-micro, with a counter when this broker already has a subscription to the topic. */
  private nodeId(topic: string): string {
    const base = `${topic}-${this.id}`
    if (!this.subscribers.has(base)) return base
    for (let n = 2; ; n++) if (!this.subscribers.has(`${base}-${n}`)) return `${base}-${n}`
  }
}

/** Create the HTTP broker (the default broker). */
export function createHttpBroker(options: HttpBrokerOptions): HttpBroker {
  return new HttpBroker(options)
}
