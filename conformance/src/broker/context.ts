/**
 * What every broker group shares: the resolved knobs, per-test instances (connected for the
 * test, disconnected after it), and helpers to collect deliveries and publish in order.
 */
import type {
  Broker,
  BrokerEvent,
  BrokerHandler,
  BrokerMessage,
  SubscribeOptions,
  Subscription,
} from '@micro-ts/core'
import { type Harness, harness, has } from '../suite.js'
import { Inbox, sleep, text, utf8 } from '../util.js'
import type { BrokerCapability, BrokerConformanceSpec } from './index.js'

/** What a test keeps of a delivery: a copy, because the event may be reused. */
export interface Received {
  topic: string
  headers: Record<string, string>
  body: Uint8Array
  text: string
  /** `Date.now()` when the handler was called. */
  at: number
}

export function received(event: BrokerEvent): Received {
  const body = new Uint8Array(event.message.body)
  return { topic: event.topic, headers: { ...event.message.headers }, body, text: text(body), at: Date.now() }
}

export function msg(body: string | Uint8Array, headers: Record<string, string> = {}): BrokerMessage {
  return { headers, body: typeof body === 'string' ? utf8(body) : body }
}

/** How many times each body arrived. */
export function counts(items: readonly Received[]): Map<string, number> {
  const out = new Map<string, number>()
  for (const r of items) out.set(r.text, (out.get(r.text) ?? 0) + 1)
  return out
}

/** `m-0`, `m-1`, ... */
export function range(n: number, label = 'm'): string[] {
  return Array.from({ length: n }, (_, i) => `${label}-${i}`)
}

export interface BrokerSuite {
  spec: BrokerConformanceSpec
  has(capability: BrokerCapability): boolean
  h: Harness<Broker>
  delivery: number
  quiet: number
  large: number
  volume: number
  maxDeliveries: number
  minRedeliveryDelay: number
  giveUpTimeout: number
  poisonCount: number
  /** A fresh instance, connected. */
  connected(): Promise<Broker>
  /** Subscribe with a handler that records every delivery (and may then throw); unsubscribed after the test. */
  collect(
    broker: Broker,
    topic: string,
    options?: SubscribeOptions,
    then?: BrokerHandler,
  ): Promise<{ inbox: Inbox<Received>; sub: Subscription }>
  /** The pause after subscribe() (`subscribeSettle`). */
  ready(): Promise<void>
  /** Publish `bodies` in order, `parallel` at a time. */
  publishAll(broker: Broker, topic: string, bodies: readonly string[], parallel?: number): Promise<void>
}

/** Must be called inside the suite's `describe` body (the harness registers an `afterEach`). */
export function brokerContext(spec: BrokerConformanceSpec): BrokerSuite {
  const o = spec.options ?? {}
  const settle = o.subscribeSettle ?? 0
  const h = harness('broker', spec, (b) => b.disconnect(), o.closeTimeout)
  const delivery = o.deliveryTimeout ?? 5_000
  return {
    spec,
    has: (capability) => has(spec, capability),
    h,
    delivery,
    quiet: o.quietPeriod ?? 500,
    large: o.largeMessageSize ?? 1024 * 1024,
    volume: o.messageCount ?? 1_000,
    maxDeliveries: o.maxDeliveries ?? 10,
    minRedeliveryDelay: o.minRedeliveryDelay ?? 10,
    giveUpTimeout: o.giveUpTimeout ?? 30_000,
    poisonCount: o.poisonCount ?? 40,
    async connected() {
      const broker = await h.fresh()
      await broker.connect()
      return broker
    },
    async collect(broker, topic, options = {}, then) {
      const inbox = new Inbox<Received>()
      const sub = await broker.subscribe(
        topic,
        async (event) => {
          inbox.push(received(event))
          await then?.(event)
        },
        options,
      )
      // Hygiene only: a test may already have unsubscribed or disconnected (a hang still fails).
      h.defer(`unsubscribe ${topic}`, () => sub.unsubscribe().catch(() => {}))
      return { inbox, sub }
    },
    async ready() {
      if (settle > 0) await sleep(settle)
    },
    async publishAll(broker, topic, bodies, parallel = 1) {
      for (let i = 0; i < bodies.length; i += parallel) {
        await Promise.all(bodies.slice(i, i + parallel).map((b) => broker.publish(topic, msg(b))))
      }
    },
  }
}
