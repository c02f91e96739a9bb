/** Broker ordering (`ordered`): one publisher's messages arrive in publish order. */
import { describe, expect, it } from 'vitest'
import { header, randomBytes, uniqueName } from '../util.js'
import { type BrokerSuite, msg, range } from './context.js'

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

    it('every subscriber sees one publisher’s order, with small and large messages mixed', async () => {
      const broker = await connected()
      const topic = uniqueName('ordered-mixed')
      const subs = [await collect(broker, topic), await collect(broker, topic)]
      await ready()
      const big = randomBytes(Math.min(64 * 1024, t.large))
      const seqs = range(60, 'seq')
      // A broker that takes a different path for large bodies (chunks, async encoding) may reorder them.
      for (const [i, seq] of seqs.entries())
        await broker.publish(topic, msg(i % 7 === 3 ? big : seq, { 'x-seq': seq }))
      for (const { inbox } of subs) {
        await inbox.waitFor(seqs.length, delivery * 2, 'messages')
        expect(inbox.items.map((r) => header(r.headers, 'x-seq'))).toEqual(seqs)
      }
    })
  })
}
