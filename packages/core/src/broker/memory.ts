import type { Logger } from '../logger.js'
import {
  checkHandler,
  checkMessage,
  checkSignal,
  checkTopic,
  copyMessage,
  defaultLogger,
  notConnected,
  simpleEvent,
} from './message.js'
import type {
  Broker,
  BrokerHandler,
  BrokerMessage,
  PublishOptions,
  SubscribeOptions,
  Subscription,
} from './types.js'

export interface MemoryBrokerOptions {
  /** Where handler failures are logged (default: a pino logger at `warn` on stderr). */
  logger?: Logger
}

interface MemorySubscriber {
  readonly topic: string
  readonly queue: string | undefined
  readonly handler: BrokerHandler
  active: boolean
}

/**
 * The embedded in-process broker (`MICRO_BROKER=memory`). Without a queue every subscriber gets
 * every message; each queue group gets one copy, handed to its members in turn. Delivery is
 * asynchronous: `publish()` resolves before handlers run, and a failing handler is logged, never
 * thrown at the publisher. Unlike go-micro's memory broker it honours queue groups.
 */
export class MemoryBroker implements Broker {
  readonly name = 'memory'
  private readonly logger: Logger
  private readonly topics = new Map<string, MemorySubscriber[]>()
  /** Round-robin position per `topic\0queue`. */
  private readonly turns = new Map<string, number>()
  private readonly inFlight = new Set<Promise<void>>()
  private connected = false
  private readonly id = Math.random().toString(36).slice(2, 10)

  constructor(options: MemoryBrokerOptions = {}) {
    this.logger = (options.logger ?? defaultLogger()).child({ broker: 'memory' })
  }

  /** Answers while connected. */
  async ping(): Promise<void> {
    if (!this.connected) throw notConnected(this.name, 'ping')
  }

  address(): string {
    return this.connected ? `memory:${this.id}` : ''
  }

  async connect(): Promise<void> {
    this.connected = true
  }

  /** Ends every subscription and waits for deliveries already running. */
  async disconnect(): Promise<void> {
    if (!this.connected) return
    this.connected = false
    for (const subs of this.topics.values()) for (const s of subs) s.active = false
    this.topics.clear()
    this.turns.clear()
    await Promise.allSettled([...this.inFlight])
  }

  async publish(topic: string, message: BrokerMessage, options: PublishOptions = {}): Promise<void> {
    if (!this.connected) throw notConnected(this.name, 'publish')
    checkTopic(topic)
    checkMessage(message)
    checkSignal(options.signal)
    // Snapshot now: the publisher may reuse its buffers as soon as publish() returns.
    const snapshot = copyMessage({ headers: message.headers ?? {}, body: message.body })
    const subs = this.topics.get(topic)
    if (!subs) return
    const queues = new Set<string>()
    for (const s of subs) {
      if (s.queue === undefined) this.deliver(s, topic, snapshot)
      else queues.add(s.queue)
    }
    for (const queue of queues) this.deliverToGroup(topic, queue, snapshot)
  }

  async subscribe(
    topic: string,
    handler: BrokerHandler,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    if (!this.connected) throw notConnected(this.name, 'subscribe')
    checkTopic(topic)
    checkHandler(handler)
    const queue = options.queue || undefined
    const sub: MemorySubscriber = { topic, queue, handler, active: true }
    const list = this.topics.get(topic) ?? []
    list.push(sub)
    this.topics.set(topic, list)
    return {
      topic,
      queue,
      unsubscribe: async () => this.remove(sub),
    }
  }

  private remove(sub: MemorySubscriber): void {
    if (!sub.active) return
    sub.active = false
    const list = this.topics.get(sub.topic)?.filter((s) => s !== sub)
    if (list && list.length > 0) this.topics.set(sub.topic, list)
    else this.topics.delete(sub.topic)
  }

  /** The member is chosen when the delivery runs, so a member that left in between is skipped. */
  private deliverToGroup(topic: string, queue: string, message: BrokerMessage): void {
    this.schedule(() => {
      const members = (this.topics.get(topic) ?? []).filter((s) => s.queue === queue)
      if (members.length === 0) return undefined
      const key = `${topic}\0${queue}`
      const turn = this.turns.get(key) ?? 0
      this.turns.set(key, turn + 1)
      return this.run(members[turn % members.length], topic, message)
    })
  }

  private deliver(sub: MemorySubscriber, topic: string, message: BrokerMessage): void {
    this.schedule(() => (sub.active ? this.run(sub, topic, message) : undefined))
  }

  private schedule(task: () => Promise<void> | undefined): void {
    const p = new Promise<void>((resolve) => {
      setImmediate(() => {
        const running = task()
        if (running) running.then(resolve)
        else resolve()
      })
    })
    this.inFlight.add(p)
    p.then(() => this.inFlight.delete(p))
  }

  private async run(sub: MemorySubscriber, topic: string, message: BrokerMessage): Promise<void> {
    try {
      await sub.handler(simpleEvent(topic, copyMessage(message)))
    } catch (err) {
      this.logger.error({ topic, queue: sub.queue, err: errorText(err) }, 'broker handler failed')
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Create the embedded in-process broker. */
export function createMemoryBroker(options: MemoryBrokerOptions = {}): MemoryBroker {
  return new MemoryBroker(options)
}
