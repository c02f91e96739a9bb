/**
 * Broker reconnect: `disconnect()` ends every subscription. After `connect()` again the old
 * handlers get nothing (a caller subscribes again), and the broker delivers to new ones.
 */
import { describe, expect, it } from 'vitest'
import { sleep, uniqueName } from '../util.js'
import { type BrokerSuite, msg } from './context.js'

export function brokerReconnect(t: BrokerSuite): void {
  const { connected, collect, ready, delivery, quiet } = t

  describe('reconnect', () => {
    it('after disconnect() and connect(), subscriptions made before get nothing; new ones get every message', async () => {
      const broker = await connected()
      const topic = uniqueName('reconnect')
      const old = await collect(broker, topic)
      await ready()
      await broker.publish(topic, msg('before'))
      await old.inbox.waitFor(1, delivery, 'messages')
      await broker.disconnect()
      await broker.connect()
      const fresh = await collect(broker, topic)
      await ready()
      await broker.publish(topic, msg('after'))
      await fresh.inbox.waitFor(1, delivery, 'messages')
      await sleep(quiet)
      expect(old.inbox.items.map((r) => r.text)).toEqual(['before'])
      expect(fresh.inbox.items.map((r) => r.text)).toEqual(['after'])
      // An old subscription's unsubscribe() is harmless.
      await old.sub.unsubscribe()
    })
  })
}
