/** Broker `shared`: instances from `create()` reach each other. */
import { describe, expect, it } from 'vitest'
import { eventually, header, sleep, uniqueName } from '../util.js'
import { type BrokerSuite, counts, msg, range } from './context.js'

export function brokerShared(t: BrokerSuite): void {
  const { h, connected, collect, ready, publishAll, delivery, quiet } = t

  describe('shared', () => {
    if (!t.has('shared')) {
      it('shared is not declared: instances do not exchange messages', async () => {
        const a = await connected()
        const b = await connected()
        const topic = uniqueName('not-shared')
        const { inbox } = await collect(a, topic)
        await ready()
        await b.publish(topic, msg('from-b'))
        await a.publish(topic, msg('from-a'))
        await inbox.waitFor(1, delivery, 'messages')
        await sleep(quiet)
        expect(inbox.items.map((r) => r.text)).toEqual(['from-a'])
      })
      return
    }

    it('a message published on one instance reaches subscribers on another', async () => {
      const a = await connected()
      const b = await connected()
      const topic = uniqueName('shared')
      const onA = await collect(a, topic)
      const onB = await collect(b, topic)
      await ready()
      await b.publish(topic, msg('from-b', { 'x-from': 'b' }))
      const [r] = await onA.inbox.waitFor(1, delivery, 'messages')
      expect(r.text).toBe('from-b')
      expect(header(r.headers, 'x-from')).toBe('b')
      await onB.inbox.waitFor(1, delivery, 'messages')
    })

    if (t.has('queue')) {
      it('a queue group spread over instances gets each message exactly once', async () => {
        const a = await connected()
        const b = await connected()
        const topic = uniqueName('shared-queue')
        const queue = uniqueName('q')
        const group = [await collect(a, topic, { queue }), await collect(b, topic, { queue })]
        await ready()
        const bodies = range(20)
        await publishAll(a, topic, bodies.slice(0, 10))
        await publishAll(b, topic, bodies.slice(10))
        const all = () => group.flatMap((m) => m.inbox.items)
        await eventually(() => expect(all().length).toBeGreaterThanOrEqual(20), delivery)
        await sleep(quiet)
        expect(all().length).toBe(20)
        expect(counts(all()).size).toBe(20)
      })
    }

    it('after an instance disconnects its handlers get nothing, and the others still get every message', async () => {
      const a = await connected()
      const b = await connected()
      const c = await connected()
      const topic = uniqueName('shared-leave')
      const onA = await collect(a, topic)
      const onC = await collect(c, topic)
      await ready()
      await h.close(a)
      await ready()
      await b.publish(topic, msg('after-a-left'))
      await onC.inbox.waitFor(1, delivery, 'messages')
      await sleep(quiet)
      expect(onA.inbox.length).toBe(0)
      expect(onC.inbox.items.map((r) => r.text)).toEqual(['after-a-left'])
    })
  })
}
