/** Broker queue groups (`queue`): each message to one member of a group, a copy per group. */
import { describe, expect, it } from 'vitest'
import { eventually, expectMicroError, sleep, uniqueName } from '../util.js'
import { type BrokerSuite, counts, range } from './context.js'

export function brokerQueue(t: BrokerSuite): void {
  const { connected, collect, ready, publishAll, delivery, quiet } = t

  describe('queue', () => {
    if (!t.has('queue')) {
      it('queue is not declared: subscribing with a queue rejects with a MicroError', async () => {
        const broker = await connected()
        await expectMicroError(
          broker.subscribe(uniqueName('queue'), () => {}, { queue: uniqueName('workers') }),
        )
      })
      return
    }

    it('a queue group gets each message exactly once, at one member', async () => {
      const broker = await connected()
      const topic = uniqueName('queue')
      const queue = uniqueName('workers')
      const members = [1, 2, 3].map(() => collect(broker, topic, { queue }))
      const group = await Promise.all(members)
      await ready()
      const bodies = range(30)
      await publishAll(broker, topic, bodies)
      const all = () => group.flatMap((m) => m.inbox.items)
      await eventually(() => expect(all().length).toBeGreaterThanOrEqual(30), delivery)
      await sleep(quiet)
      const seen = counts(all())
      expect(seen.size).toBe(30)
      expect(all().length).toBe(30)
      for (const m of group) expect(m.sub.queue).toBe(queue)
    })

    it('a queue group shares the load: with three members, thirty messages reach at least two of them', async () => {
      const broker = await connected()
      const topic = uniqueName('queue-share')
      const queue = uniqueName('workers')
      const group = [
        await collect(broker, topic, { queue }),
        await collect(broker, topic, { queue }),
        await collect(broker, topic, { queue }),
      ]
      await ready()
      await publishAll(broker, topic, range(30))
      const all = () => group.flatMap((m) => m.inbox.items)
      await eventually(() => expect(all().length).toBeGreaterThanOrEqual(30), delivery)
      await sleep(quiet)
      const shares = group.map((m) => m.inbox.length)
      expect(shares.reduce((a, b) => a + b, 0)).toBe(30)
      expect(
        shares.filter((n) => n > 0).length,
        `messages per member: ${shares.join(', ')}`,
      ).toBeGreaterThanOrEqual(2)
    })

    it('two queue groups and a plain subscriber each get every message', async () => {
      const broker = await connected()
      const topic = uniqueName('groups')
      const [qa, qb] = [uniqueName('group-a'), uniqueName('group-b')]
      const a = [await collect(broker, topic, { queue: qa }), await collect(broker, topic, { queue: qa })]
      const b = [await collect(broker, topic, { queue: qb }), await collect(broker, topic, { queue: qb })]
      const plain = await collect(broker, topic)
      await ready()
      const bodies = range(10)
      await publishAll(broker, topic, bodies)
      const items = (g: typeof a) => g.flatMap((m) => m.inbox.items)
      await eventually(() => {
        expect(items(a).length).toBeGreaterThanOrEqual(10)
        expect(items(b).length).toBeGreaterThanOrEqual(10)
        expect(plain.inbox.length).toBeGreaterThanOrEqual(10)
      }, delivery)
      await sleep(quiet)
      for (const got of [items(a), items(b), plain.inbox.items]) {
        expect(got.length).toBe(10)
        expect(counts(got).size).toBe(10)
      }
    })

    it('after a member unsubscribes, the rest of the group gets every message', async () => {
      const broker = await connected()
      const topic = uniqueName('queue-leave')
      const queue = uniqueName('workers')
      const leaving = await collect(broker, topic, { queue })
      const staying = await collect(broker, topic, { queue })
      await ready()
      await leaving.sub.unsubscribe()
      await ready()
      const bodies = range(10)
      await publishAll(broker, topic, bodies)
      await staying.inbox.waitFor(10, delivery, 'messages')
      await sleep(quiet)
      expect(leaving.inbox.length).toBe(0)
      expect(counts(staying.inbox.items).size).toBe(10)
      expect(staying.inbox.length).toBe(10)
    })
  })
}
