/**
 * Core NATS subscriptions (no JetStream): at most once, as go-micro's NATS broker. One NATS
 * subscription per `subscribe()`, the queue as the NATS queue group, messages handled one at a
 * time in arrival order, nothing redelivered.
 */
import type { BrokerHandler, Logger } from '@micro-ts/core'
import { simpleEvent } from '@micro-ts/core/plugin'
import type { Msg, NatsConnection, Subscription as NatsSubscription } from 'nats'
import { errorText, publishError } from './errors.js'
import { decodeMessage } from './message.js'

/** A subscription the broker keeps, for disconnect() to end. */
export interface ActiveSubscription {
  /** Stop receiving; resolves once the handlers of messages already received have run. */
  stop(): Promise<void>
}

/**
 * A callback subscription rather than the async iterator: the iterator costs a few promises per
 * message, and a handler that finishes synchronously runs right inside the delivery here.
 */
export function subscribeCore(
  nc: NatsConnection,
  topic: string,
  queue: string | undefined,
  handler: BrokerHandler,
  logger: Logger,
): ActiveSubscription {
  // Messages that arrive while a handler is still running wait here, in order.
  const waiting = new MessageQueue()
  let busy = false
  let idle: (() => void) | undefined
  const onError = (err: unknown, subject: string) =>
    logger.error({ topic: subject, queue, err: errorText(err) }, 'nats broker: handler failed')
  // Handle `m` and then everything queued behind it, until the queue is empty or a handler
  // returns a promise; then the promise's settlement carries on.
  const drain = (m: Msg | undefined): void => {
    busy = true
    while (m) {
      const subject = m.subject
      let pending: unknown
      try {
        const msg = m
        pending = handler(
          simpleEvent(
            subject,
            decodeMessage(msg.data, () => msg.headers),
          ),
        )
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
          logger.error({ topic, err: errorText(err) }, 'nats broker: subscription ended')
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
    // Messages already received are still handled, new ones are not.
    stop: async () => {
      if (!sub.isClosed()) sub.unsubscribe()
      if (busy) await new Promise<void>((resolve) => (idle = resolve))
    },
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
