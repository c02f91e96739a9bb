/**
 * The broker hands out copies: a publisher may reuse its body and headers as soon as
 * `publish()` resolves, and a handler may change what it was given, without anyone else seeing.
 */
import { describe, expect, it } from 'vitest'
import { header, sleep, uniqueName, utf8 } from '../util.js'
import type { BrokerSuite } from './context.js'

export function brokerCopies(t: BrokerSuite): void {
  const { connected, collect, ready, delivery, quiet } = t

  describe('copies', () => {
    it('reusing the published body and headers, or changing a delivered message, changes no one else’s copy', async () => {
      const broker = await connected()
      const topic = uniqueName('copies')
      // Each subscriber records its copy, then changes what it was given in place.
      const vandal = (event: { message: { headers: Record<string, string>; body: Uint8Array } }) => {
        event.message.body.fill(0x21)
        event.message.headers['x-k'] = 'changed by a handler'
        event.message.headers['x-added'] = 'by a handler'
      }
      const subs = [await collect(broker, topic, {}, vandal), await collect(broker, topic, {}, vandal)]
      await ready()
      const body = utf8('original body')
      const headers: Record<string, string> = { 'x-k': 'original' }
      await broker.publish(topic, { headers, body })
      body.fill(0x3f)
      headers['x-k'] = 'reused by the publisher'
      headers['x-added'] = 'by the publisher'
      for (const { inbox } of subs) await inbox.waitFor(1, delivery, 'messages')
      await sleep(quiet)
      for (const { inbox } of subs) {
        expect(inbox.items.map((r) => r.text)).toEqual(['original body'])
        expect(header(inbox.items[0].headers, 'x-k')).toBe('original')
        expect(header(inbox.items[0].headers, 'x-added')).toBeUndefined()
      }
    })
  })
}
