/** Broker ordering (`ordered`): one publisher's messages arrive in publish order. */
import { describe, expect, it } from 'vitest'
import { uniqueName } from '../util.js'
import { type BrokerSuite, range } from './context.js'

export function brokerOrdering(t: BrokerSuite): void {
  const { connected, collect, ready, publishAll, delivery } = t
  // Absence is not checked: a broker may keep order by chance, so it cannot be shown honestly.
  if (!t.has('ordered')) return

  describe('ordered', () => {
    it('messages from one publisher arrive in publish order', async () => {
      const broker = await connected()
      const topic = uniqueName('ordered')
      const { inbox } = await collect(broker, topic)
      await ready()
      const bodies = range(200)
      await publishAll(broker, topic, bodies)
      await inbox.waitFor(200, delivery * 2, 'messages')
      expect(inbox.items.map((r) => r.text)).toEqual(bodies)
    })
  })
}
