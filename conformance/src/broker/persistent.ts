/** Broker persistence (`persistent`): a queue group keeps what is published while it has no member. */
import type { Broker } from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import { type Inbox, sleep, uniqueName } from '../util.js'
import { type BrokerSuite, msg, type Received } from './context.js'

export function brokerPersistent(t: BrokerSuite): void {
  const { connected, collect, ready, delivery, quiet } = t

  async function leaveThenRejoin(): Promise<{ broker: Broker; topic: string; rejoined: Inbox<Received> }> {
    const broker = await connected()
    const topic = uniqueName('persist')
    const queue = uniqueName('durable')
    const first = await collect(broker, topic, { queue })
    await ready()
    await first.sub.unsubscribe()
    await broker.publish(topic, msg('while-away'))
    await sleep(Math.min(quiet, 200))
    const { inbox } = await collect(broker, topic, { queue })
    await ready()
    return { broker, topic, rejoined: inbox }
  }

  describe('persistent', () => {
    if (!t.has('persistent')) {
      if (!t.has('queue')) return
      it('persistent is not declared: a message published while a queue group has no member is not delivered later', async () => {
        const { broker, topic, rejoined } = await leaveThenRejoin()
        await broker.publish(topic, msg('after-rejoin'))
        await rejoined.waitFor(1, delivery, 'messages')
        await sleep(quiet)
        expect(rejoined.items.map((r) => r.text)).toEqual(['after-rejoin'])
      })
      return
    }

    it('a queue group keeps messages published while it has no member', async () => {
      const { rejoined } = await leaveThenRejoin()
      const [r] = await rejoined.waitFor(1, delivery, 'messages')
      expect(r.text).toBe('while-away')
    })
  })
}
