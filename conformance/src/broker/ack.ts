/** Broker acknowledgements (`ack`): a failing handler or `nack()` gets a redelivery; `ack()` settles. */
import { describe, expect, it } from 'vitest'
import { eventually, header, sleep, text, uniqueName } from '../util.js'
import { type BrokerSuite, counts, msg, range } from './context.js'

export function brokerAck(t: BrokerSuite): void {
  const { connected, collect, ready, publishAll, delivery, quiet } = t

  describe('ack', () => {
    if (!t.has('ack')) {
      it('ack is not declared: a failing handler or nack() gets no redelivery', async () => {
        const broker = await connected()
        const topic = uniqueName('no-ack')
        const { inbox } = await collect(broker, topic, {}, (event) => {
          if (text(event.message.body) === 'fails') throw new Error('handler failure (expected by the test)')
        })
        const manual = await collect(broker, `${topic}-manual`, { autoAck: false }, (event) => event.nack())
        await ready()
        await broker.publish(topic, msg('fails'))
        await broker.publish(`${topic}-manual`, msg('nacked'))
        await broker.publish(topic, msg('barrier'))
        await inbox.waitFor(2, delivery, 'messages')
        await manual.inbox.waitFor(1, delivery, 'messages')
        await sleep(Math.max(quiet, 1_000))
        expect(counts(inbox.items).get('fails')).toBe(1)
        expect(manual.inbox.length).toBe(1)
      })
      return
    }

    it('a handler that throws gets the message redelivered until it succeeds', async () => {
      const broker = await connected()
      const topic = uniqueName('redeliver')
      let failures = 0
      let succeeded = false
      const { inbox } = await collect(broker, topic, {}, () => {
        if (failures < 2) {
          failures++
          throw new Error('handler failure (expected by the test)')
        }
        succeeded = true
      })
      await ready()
      await broker.publish(topic, msg('retry-me', { 'x-keep': 'header' }))
      await inbox.waitFor(3, delivery * 3, 'deliveries (two failures, then success)')
      expect(succeeded).toBe(true)
      for (const r of inbox.items) {
        expect(r.text).toBe('retry-me')
        expect(header(r.headers, 'x-keep')).toBe('header')
      }
      await sleep(quiet)
      expect(inbox.length).toBe(3)
    })

    it('with autoAck off, nack() redelivers and ack() settles the message', async () => {
      const broker = await connected()
      const topic = uniqueName('manual-ack')
      let deliveries = 0
      const { inbox } = await collect(broker, topic, { autoAck: false }, async (event) => {
        deliveries++
        if (deliveries === 1) await event.nack()
        else await event.ack()
      })
      await ready()
      await broker.publish(topic, msg('nack-then-ack'))
      await inbox.waitFor(2, delivery * 2, 'deliveries (nack, then ack)')
      await sleep(quiet)
      expect(inbox.items.map((r) => r.text)).toEqual(['nack-then-ack', 'nack-then-ack'])
    })

    it('with autoAck off the handler settles the message, even after it returned: a late nack(), then a late ack()', async () => {
      const broker = await connected()
      const topic = uniqueName('late-settle')
      const settled: Array<Promise<void>> = []
      let deliveries = 0
      const { inbox } = await collect(broker, topic, { autoAck: false }, (event) => {
        deliveries++
        const first = deliveries === 1
        // Settle 100 ms after the handler has returned: returning must not settle it.
        settled.push(sleep(100).then(() => (first ? event.nack() : event.ack())))
      })
      await ready()
      await broker.publish(topic, msg('settled-late'))
      await inbox.waitFor(2, delivery * 2, 'deliveries (late nack, then late ack)')
      await Promise.all(settled)
      await sleep(Math.max(quiet, 1_000))
      expect(inbox.items.map((r) => r.text)).toEqual(['settled-late', 'settled-late'])
    })

    if (t.has('queue')) {
      it('in a queue group, a handler that rejects after an await gets each message redelivered to the group until it succeeds once', async () => {
        const broker = await connected()
        const topic = uniqueName('redeliver-queue')
        const queue = uniqueName('workers')
        const failed = new Set<string>()
        const succeeded: string[] = []
        const handler = async (event: { message: { body: Uint8Array } }) => {
          await sleep(1)
          const body = text(event.message.body)
          if (!failed.has(body)) {
            failed.add(body)
            throw new Error('handler failure after an await (expected by the test)')
          }
          succeeded.push(body)
        }
        const group = [
          await collect(broker, topic, { queue }, handler),
          await collect(broker, topic, { queue }, handler),
        ]
        await ready()
        const bodies = range(5, 'job')
        await publishAll(broker, topic, bodies)
        await eventually(() => expect([...succeeded].sort()).toEqual([...bodies].sort()), delivery * 3)
        await sleep(quiet)
        expect([...succeeded].sort(), 'each message succeeds exactly once').toEqual([...bodies].sort())
        const deliveries = counts(group.flatMap((m) => m.inbox.items))
        for (const b of bodies) expect(deliveries.get(b), `deliveries of ${b}`).toBe(2)
      })
    }
  })
}
