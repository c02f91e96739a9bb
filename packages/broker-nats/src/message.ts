/**
 * What NATS adds to the kit's broker messages: a payload that is not go-micro's envelope (a plain
 * NATS publisher) is delivered as it is, and topics follow NATS's subject rules.
 */
import type { BrokerMessage } from '@micro-ts/core'
import { checkTopic as checkNonEmptyTopic, parseBrokerEnvelope } from '@micro-ts/core/plugin'
import { errors } from './errors.js'

/**
 * The go-micro envelope in `data`; anything else is delivered as it is: the bytes become the
 * body and the NATS headers, if any, the headers. Nothing is dropped.
 */
export function decodeMessage(
  data: Uint8Array,
  natsHeaders?: () => Iterable<[string, string[]]> | undefined,
): BrokerMessage {
  return parseBrokerEnvelope(data) ?? plainMessage(data, natsHeaders?.())
}

/** A message from a plain NATS publisher: its bytes (copied) and its NATS headers, if any. */
export function plainMessage(data: Uint8Array, natsHeaders?: Iterable<[string, string[]]>): BrokerMessage {
  const headers: Record<string, string> = {}
  if (natsHeaders) for (const [k, v] of natsHeaders) headers[k] = v.join(',')
  return { headers, body: new Uint8Array(data) }
}

/**
 * A NATS subject: non-empty dot-separated tokens without whitespace. Wildcards (`*`, `>` as a
 * whole token, `>` last) are allowed where `wildcards` is true (subscribe), not for publish.
 */
export function checkTopic(topic: unknown, wildcards: boolean): asserts topic is string {
  checkNonEmptyTopic(topic)
  if (/\s/.test(topic))
    throw errors.badRequest(`invalid topic ${JSON.stringify(topic)}: NATS subjects have no whitespace`)
  const tokens = topic.split('.')
  tokens.forEach((t, i) => {
    if (t === '') throw errors.badRequest(`invalid topic ${JSON.stringify(topic)}: empty token between dots`)
    const wild = t === '*' || (t === '>' && i === tokens.length - 1)
    if (t.includes('*') || t.includes('>')) {
      if (!wild) throw errors.badRequest(`invalid topic ${JSON.stringify(topic)}: misplaced wildcard`)
      if (!wildcards)
        throw errors.badRequest(`cannot publish to ${JSON.stringify(topic)}: wildcards only subscribe`)
    }
  })
}

/** A queue group name: a string without whitespace (empty means none). */
export function checkQueue(queue: unknown): string | undefined {
  if (queue === undefined || queue === '') return undefined
  if (typeof queue !== 'string' || /\s/.test(queue)) {
    throw errors.badRequest(`invalid queue ${JSON.stringify(queue)}: a non-empty string without whitespace`)
  }
  return queue
}
