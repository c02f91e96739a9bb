/** Helpers shared by the embedded brokers: validation, copies, errors, the default logger. */
import { MicroError } from '../errors.js'
import { createLogger, type Logger } from '../logger.js'
import { abortReason } from '../util/abort.js'
import type { BrokerEvent, BrokerHandler, BrokerMessage } from './types.js'

/** The error id every broker error carries (go-micro's broker package). */
export const BROKER_ERROR_ID = 'go.micro.broker'

/** go-micro's header naming the topic of a message (transport/headers.Message). */
export const TOPIC_HEADER = 'Micro-Topic'

export function brokerError(code: number, detail: string, cause?: unknown): MicroError {
  return new MicroError(BROKER_ERROR_ID, code, detail, undefined, cause === undefined ? undefined : { cause })
}

export function notConnected(name: string, op: string): MicroError {
  return brokerError(503, `${name} broker: cannot ${op}: not connected; call connect() first`)
}

export function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || topic.length === 0)
    throw brokerError(400, 'topic must be a non-empty string')
}

export function checkHandler(handler: unknown): asserts handler is BrokerHandler {
  if (typeof handler !== 'function') throw brokerError(400, 'handler must be a function')
}

/** go-micro's Message is `map[string]string` + `[]byte`: anything else cannot cross the wire. */
export function checkMessage(message: unknown): asserts message is BrokerMessage {
  if (!message || typeof message !== 'object')
    throw brokerError(400, 'message must be an object {headers, body}')
  const { headers, body } = message as Partial<BrokerMessage>
  if (!(body instanceof Uint8Array)) throw brokerError(400, 'message body must be a Uint8Array')
  if (headers === undefined) return
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) {
    throw brokerError(400, 'message headers must be an object of strings')
  }
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v !== 'string') throw brokerError(400, `message header ${JSON.stringify(k)} must be a string`)
  }
}

/** An aborted publish fails with a MicroError (408 for a deadline, 499 for a cancellation). */
export function checkSignal(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal, BROKER_ERROR_ID)
}

/** A private copy: handlers may mutate what they get without affecting the publisher or each other. */
export function copyMessage(message: BrokerMessage): BrokerMessage {
  return { headers: { ...message.headers }, body: new Uint8Array(message.body) }
}

/** An event of a broker without the `ack` capability: ack and nack do nothing. */
export function simpleEvent(topic: string, message: BrokerMessage): BrokerEvent {
  return {
    topic,
    message,
    ack: async () => {},
    nack: async () => {},
  }
}

let fallbackLogger: Logger | undefined

/** Used when the caller gives no logger: handler failures must be visible somewhere. */
export function defaultLogger(): Logger {
  fallbackLogger ??= createLogger('warn', 'micro')
  return fallbackLogger
}
