/**
 * Poison messages (`ack`), the rule every broker with acknowledgements is held to: a message
 * whose handler keeps failing is redelivered a bounded number of times (at most
 * `maxDeliveries` deliveries in all), each redelivery at least `minRedeliveryDelay` after the one
 * before (back-off, never a hot loop), and is then dead-lettered or dropped: the broker stops
 * delivering it. Meanwhile and afterwards the other messages keep flowing: failing messages never
 * stall a subscriber, not even more of them than its prefetch window.
 */
import { describe, expect, it } from 'vitest'
import { type Inbox, sleep, text, uniqueName } from '../util.js'
import { type BrokerSuite, counts, msg, type Received } from './context.js'

export function brokerPoison(t: BrokerSuite): void {
  const { connected, collect, ready, delivery, quiet, maxDeliveries, minRedeliveryDelay, giveUpTimeout } = t
  if (!t.has('ack')) return

  const poisoned = (r: Received) => r.text.startsWith('poison')

  /**
   * Wait until the broker has given up on every failing message: no delivery of one for three
   * times the last gap between its deliveries (back-off grows, so the next would have come), and
   * at least `quietPeriod`, all within `giveUpTimeout` of `since`. Returns each one's deliveries.
   */
  async function givenUp(inbox: Inbox<Received>, since: number): Promise<Map<string, Received[]>> {
    const byBody = () => {
      const out = new Map<string, Received[]>()
      for (const r of inbox.items.filter(poisoned)) out.set(r.text, [...(out.get(r.text) ?? []), r])
      return out
    }
    for (;;) {
      const now = Date.now()
      const last = [...byBody().values()].map((rs) => {
        const gap = rs.length > 1 ? rs[rs.length - 1].at - rs[rs.length - 2].at : 0
        return { at: rs[rs.length - 1].at, wait: Math.max(quiet, 3 * gap) }
      })
      if (last.length > 0 && last.every((l) => now - l.at >= l.wait)) return byBody()
      if (now - since > giveUpTimeout) {
        const seen = [...byBody()].map(([b, rs]) => `${b}: ${rs.length}`).join(', ')
        throw new Error(
          `failing messages were still being redelivered ${giveUpTimeout} ms after publishing (${seen})`,
        )
      }
      await sleep(Math.min(100, quiet))
    }
  }

  function expectBounded(deliveries: Map<string, Received[]>): void {
    for (const [body, rs] of deliveries) {
      expect(rs.length, `${body}: redelivered at least once`).toBeGreaterThanOrEqual(2)
      expect(rs.length, `${body}: at most maxDeliveries (${maxDeliveries}) deliveries`).toBeLessThanOrEqual(
        maxDeliveries,
      )
      const gaps = rs.slice(1).map((r, i) => r.at - rs[i].at)
      expect(
        Math.min(...gaps),
        `${body}: gaps between deliveries (ms) ${gaps.join(', ')}: none under minRedeliveryDelay`,
      ).toBeGreaterThanOrEqual(minRedeliveryDelay)
    }
  }

  describe('poison messages', () => {
    it('a message whose handler keeps failing is redelivered with back-off a bounded number of times, then given up, while the others keep arriving', async () => {
      const broker = await connected()
      const topic = uniqueName('poison')
      const { inbox } = await collect(broker, topic, {}, (event) => {
        if (text(event.message.body) === 'poison')
          throw new Error('handler always fails (expected by the test)')
      })
      await ready()
      const since = Date.now()
      await broker.publish(topic, msg('poison'))
      const good = Array.from({ length: 20 }, (_, i) => `good-${i}`)
      for (const body of good) await broker.publish(topic, msg(body))
      const arrived = () => inbox.items.filter((r) => !poisoned(r))
      await expect
        .poll(() => arrived().length, { timeout: delivery * 2, interval: 20 })
        .toBeGreaterThanOrEqual(good.length)
      const deliveries = await givenUp(inbox, since)
      expectBounded(deliveries)
      const total = inbox.items.filter(poisoned).length
      await broker.publish(topic, msg('after-giving-up'))
      await expect
        .poll(() => arrived().map((r) => r.text), { timeout: delivery, interval: 20 })
        .toContain('after-giving-up')
      await sleep(quiet)
      expect(inbox.items.filter(poisoned).length, 'no delivery of the message once given up').toBe(total)
      expect(
        [...counts(arrived()).values()].every((n) => n === 1),
        'the good messages once each',
      ).toBe(true)
    })

    it(`${t.poisonCount} failing messages, more than a prefetch window, do not stop the messages between them`, async () => {
      const broker = await connected()
      const topic = uniqueName('poison-many')
      const { inbox } = await collect(broker, topic, {}, (event) => {
        if (text(event.message.body).startsWith('poison'))
          throw new Error('handler always fails (expected by the test)')
      })
      await ready()
      const since = Date.now()
      const good: string[] = []
      for (let i = 0; i < t.poisonCount; i++) {
        await broker.publish(topic, msg(`poison-${i}`))
        good.push(`good-${i}`)
        await broker.publish(topic, msg(`good-${i}`))
      }
      const arrived = () => inbox.items.filter((r) => !poisoned(r)).map((r) => r.text)
      await expect
        .poll(() => new Set(arrived()).size, { timeout: delivery * 4, interval: 50 })
        .toBe(good.length)
      const deliveries = await givenUp(inbox, since)
      expect(deliveries.size, 'every failing message was delivered').toBe(t.poisonCount)
      expectBounded(deliveries)
      await broker.publish(topic, msg('after-giving-up'))
      await expect.poll(() => arrived(), { timeout: delivery, interval: 20 }).toContain('after-giving-up')
    })
  })
}
