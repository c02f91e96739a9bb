/**
 * JetStream mode against the shared server: storage, ack/nak and redelivery, durable queue
 * groups, provisioned streams, and the delivery limit: a message whose handler keeps failing
 * (an undecodable one among them) is delivered at most `maxDeliver` times with a growing delay,
 * then dropped with an error log, while the messages behind it keep flowing.
 */
import {
  eventually,
  expectMicroError,
  RUN_ID,
  recordingLogger,
  uniqueName,
} from '@micro-ts/conformance/testing'
import { type Logger, silentLogger } from '@micro-ts/core'
import { connect } from 'nats'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createNatsBroker, type JetStreamOptions, type NatsBroker } from '../src/index.js'
import { msg, pause, SHARED_ADDRESS, sharedNats, text, topic } from './helpers.js'

const sharedUp = await sharedNats()

/** Streams created by this run start with this prefix; they are deleted afterwards. */
const STREAM_PREFIX = `TEST_${RUN_ID}`

/** Fails (instead of hanging the test) when `p` does not settle within `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not return within ${ms}ms`)), ms)
  })
  try {
    return await Promise.race([p, hang])
  } finally {
    clearTimeout(timer)
  }
}

describe.skipIf(!sharedUp)('JetStream mode (shared server)', () => {
  const created: NatsBroker[] = []
  async function open(options: JetStreamOptions = {}, logger: Logger = silentLogger): Promise<NatsBroker> {
    const b = createNatsBroker({
      addresses: [SHARED_ADDRESS],
      logger,
      jetstream: { streamPrefix: STREAM_PREFIX, nakDelay: 50, ...options },
    })
    await b.connect()
    created.push(b)
    return b
  }

  afterEach(async () => {
    for (const b of created.splice(0)) await b.disconnect()
  })
  afterAll(async () => {
    const nc = await connect({ servers: SHARED_ADDRESS })
    const jsm = await nc.jetstreamManager()
    for await (const s of jsm.streams.list()) {
      if (s.config.name.startsWith(STREAM_PREFIX) || s.config.name.startsWith(`${STREAM_PREFIX}C`)) {
        await jsm.streams.delete(s.config.name)
      }
    }
    await nc.close()
  })

  it('has the ack capability and stores messages in a stream per topic space', async () => {
    const b = await open()
    expect(b.capabilities).toContain('ack')
    const t = topic('stored')
    const got: string[] = []
    const sub = await b.subscribe(t, (e) => void got.push(text(e)), { queue: 'q' })
    await b.publish(t, msg('one'))
    await eventually(() => expect(got).toHaveLength(1), 10_000)
    const nc = await connect({ servers: SHARED_ADDRESS })
    const jsm = await nc.jetstreamManager()
    const name = `${STREAM_PREFIX}_${t.split('.')[0]}`
    const info = await jsm.streams.info(name)
    expect(info.config.subjects).toEqual([t.split('.')[0], `${t.split('.')[0]}.>`])
    expect(info.state.messages).toBe(0) // interest retention: acknowledged by the only consumer
    await nc.close()
    await sub.unsubscribe()
  })

  it('redelivers when the handler throws, until it succeeds', async () => {
    const b = await open()
    const t = topic('retry')
    const deliveries: string[] = []
    let done = false
    const sub = await b.subscribe(
      t,
      async (e) => {
        deliveries.push(text(e))
        if (deliveries.length < 3) throw new Error('not yet')
        done = true
      },
      { queue: 'retry' },
    )
    await b.publish(t, msg('job'))
    await eventually(() => expect(done).toBe(true), 10_000)
    await pause(300)
    expect(deliveries).toEqual(['job', 'job', 'job'])
    await sub.unsubscribe()
  })

  it('with autoAck off: nack() redelivers, ack() settles, no answer redelivers after ackWait', async () => {
    const b = await open({ ackWait: 1000 })
    const t = topic('manual')
    const seen: string[] = []
    const sub = await b.subscribe(
      t,
      async (e) => {
        const body = text(e)
        seen.push(body)
        const n = seen.filter((s) => s === body).length
        if (body === 'nack' && n === 1) await e.nack()
        else if (body === 'silent' && n === 1) {
          // neither ack nor nack: JetStream redelivers after ackWait
        } else await e.ack()
      },
      { queue: 'manual', autoAck: false },
    )
    await b.publish(t, msg('nack'))
    await b.publish(t, msg('ok'))
    await b.publish(t, msg('silent'))
    await eventually(() => expect(seen.filter((s) => s === 'silent')).toHaveLength(2), 8000)
    await pause(1500)
    expect(seen.filter((s) => s === 'nack')).toHaveLength(2)
    expect(seen.filter((s) => s === 'ok')).toHaveLength(1)
    expect(seen.filter((s) => s === 'silent')).toHaveLength(2)
    await sub.unsubscribe()
  })

  it('a queue group is durable: messages published while no member listens wait for the next one', async () => {
    const b = await open()
    const t = topic('durable')
    const first: string[] = []
    const sub = await b.subscribe(t, (e) => void first.push(text(e)), { queue: 'keep' })
    await b.publish(t, msg('1'))
    await eventually(() => expect(first).toHaveLength(1), 10_000)
    await sub.unsubscribe()
    await b.publish(t, msg('2'))
    await b.publish(t, msg('3'))
    const later: string[] = []
    const again = await b.subscribe(t, (e) => void later.push(text(e)), { queue: 'keep' })
    await eventually(() => expect(later).toHaveLength(2), 10_000)
    expect(later).toEqual(['2', '3'])
    await again.unsubscribe()
  })

  it('splits a queue group between members exactly once and gives plain subscribers everything', async () => {
    const b1 = await open()
    const b2 = await open()
    const t = topic('group')
    const a: string[] = []
    const c: string[] = []
    const all: string[] = []
    const subs = [
      await b1.subscribe(t, (e) => void a.push(text(e)), { queue: 'g' }),
      await b2.subscribe(t, (e) => void c.push(text(e)), { queue: 'g' }),
      await b2.subscribe(t, (e) => void all.push(text(e))),
    ]
    const sent = Array.from({ length: 30 }, (_, i) => `m${i}`)
    for (const s of sent) await b1.publish(t, msg(s))
    await eventually(() => expect([a.length + c.length, all.length]).toEqual([30, 30]), 10_000)
    await pause(300)
    expect([...a, ...c].sort()).toEqual([...sent].sort())
    expect(all).toEqual(sent)
    for (const s of subs) await s.unsubscribe()
  })

  it('uses an existing stream that already captures the topic', async () => {
    const nc = await connect({ servers: SHARED_ADDRESS })
    const jsm = await nc.jetstreamManager()
    const space = uniqueName('c')
    const custom = `${STREAM_PREFIX}CUSTOM_${space}`
    await jsm.streams.add({ name: custom, subjects: [`${space}.>`] })
    const b = await open()
    const got: string[] = []
    const sub = await b.subscribe(`${space}.orders`, (e) => void got.push(text(e)), { queue: 'w' })
    await b.publish(`${space}.orders`, msg('o1'))
    await eventually(() => expect(got).toHaveLength(1), 10_000)
    expect((await jsm.streams.info(custom)).state.messages).toBeGreaterThanOrEqual(1)
    await sub.unsubscribe()
    await nc.close()
  })

  it('unsubscribe and disconnect return while messages are buffered and a handler runs', async () => {
    const b = await open()
    const t = topic('busy')
    let started = 0
    const sub = await b.subscribe(
      t,
      async () => {
        started++
        await pause(200)
      },
      { queue: 'busy' },
    )
    for (let i = 0; i < 10; i++) await b.publish(t, msg(String(i)))
    await eventually(() => expect(started).toBeGreaterThanOrEqual(1), 10_000)
    await within(sub.unsubscribe(), 10_000, 'unsubscribe')
    const handled = started
    await pause(500)
    expect(started).toBe(handled) // nothing more after unsubscribe resolved
    await b.subscribe(
      t,
      async () => {
        await pause(200)
      },
      { queue: 'busy' },
    )
    for (let i = 0; i < 5; i++) await b.publish(t, msg(`again-${i}`))
    await pause(100)
    await within(b.disconnect(), 10_000, 'disconnect')
  })

  it('rejects a wildcard first token', async () => {
    const b = await open()
    expect((await expectMicroError(b.subscribe('*.x', () => {}))).code).toBe(400)
  })

  describe('the delivery limit (poison messages)', () => {
    /** What JetStream still holds for the consumers of `t`'s stream: nothing pending, nothing unacknowledged. */
    async function consumerState(t: string) {
      const nc = await connect({ servers: SHARED_ADDRESS })
      try {
        const jsm = await nc.jetstreamManager()
        const stream = `${STREAM_PREFIX}_${t.split('.')[0]}`
        const consumers = await jsm.consumers.list(stream).next()
        return consumers.map((c) => ({ pending: c.num_pending, unacknowledged: c.num_ack_pending }))
      } finally {
        await nc.close()
      }
    }

    it('a handler that keeps failing gets maxDeliver deliveries (5 by default), then the message is dropped with an error log; the others keep flowing', async () => {
      const log = recordingLogger()
      // The default limit, short delays: before the limit existed this message looped for ever.
      const b = await open({ nakDelay: 20 }, log)
      const t = topic('poison')
      const deliveries = new Map<string, number>()
      const good: number[] = []
      const sub = await b.subscribe(
        t,
        (e) => {
          const body = text(e)
          deliveries.set(body, (deliveries.get(body) ?? 0) + 1)
          // What a JSON subscriber does with what it cannot decode: it throws.
          const value = JSON.parse(body) as { n: number }
          good.push(value.n)
        },
        { queue: 'poison' },
      )
      // An envelope whose body is not JSON, and bytes that are no envelope at all, among good messages.
      const raw = await connect({ servers: SHARED_ADDRESS })
      const js = raw.jetstream()
      for (let n = 0; n < 60; n++) {
        if (n % 20 === 5) await b.publish(t, msg(`not json ${n}`))
        if (n % 20 === 10) await js.publish(t, Buffer.from(`\u0000\u00ffgarbage ${n}`))
        await b.publish(t, msg(JSON.stringify({ n })))
      }
      await raw.close()
      await eventually(() => expect(good).toHaveLength(60), 20_000)
      expect(good).toEqual(Array.from({ length: 60 }, (_, n) => n))
      const poison = [...deliveries.keys()].filter((k) => !k.startsWith('{'))
      expect(poison).toHaveLength(6)
      await eventually(() => {
        expect(
          log.lines.filter((l) => l.level === 'error' && /dropped after 5 deliveries/.test(l.msg)),
        ).toHaveLength(6)
      }, 20_000)
      for (const p of poison) expect(deliveries.get(p), p).toBe(5)
      // And nothing comes back later: JetStream holds nothing for the consumer any more.
      await pause(600)
      for (const p of poison) expect(deliveries.get(p), p).toBe(5)
      expect(await consumerState(t)).toEqual([{ pending: 0, unacknowledged: 0 }])
      const dropped = log.lines.find((l) => /dropped after/.test(l.msg))!
      expect(dropped.fields).toMatchObject({ topic: t, queue: 'poison', deliveries: 5 })
      expect(String(dropped.fields.why)).toMatch(/JSON/)
      await sub.unsubscribe()
    })

    it('redeliveries back off: each wait is longer than the one before', async () => {
      const b = await open({ maxDeliver: 5, nakDelay: 100, nakDelayMax: 10_000 })
      const t = topic('backoff')
      const at: number[] = []
      const sub = await b.subscribe(
        t,
        () => {
          at.push(Date.now())
          throw new Error('always fails')
        },
        { queue: 'backoff' },
      )
      await b.publish(t, msg('x'))
      await eventually(() => expect(at).toHaveLength(5), 20_000)
      const gaps = at.slice(1).map((v, i) => v - at[i])
      // Lower bounds only (the server never redelivers before the delay it was given): 100 ms
      // doubling, less the back-off's 20% jitter.
      for (const [i, gap] of gaps.entries()) {
        expect(gap, `wait before delivery ${i + 2}`).toBeGreaterThanOrEqual(0.8 * 100 * 2 ** i - 5)
      }
      await pause(500)
      expect(at).toHaveLength(5)
      await sub.unsubscribe()
    })

    it('with autoAck off, nack() at the last allowed delivery drops the message too', async () => {
      const log = recordingLogger()
      const b = await open({ maxDeliver: 2, nakDelay: 20 }, log)
      const t = topic('nack-limit')
      let calls = 0
      const sub = await b.subscribe(
        t,
        async (e) => {
          calls++
          await e.nack()
        },
        { queue: 'nacks', autoAck: false },
      )
      await b.publish(t, msg('nacked'))
      await eventually(
        () => expect(log.lines.some((l) => /dropped after 2 deliveries/.test(l.msg))).toBe(true),
        10_000,
      )
      await pause(500)
      expect(calls).toBe(2)
      expect(await consumerState(t)).toEqual([{ pending: 0, unacknowledged: 0 }])
      await sub.unsubscribe()
    })

    it('a queue group consumer made without a limit (by an older version) gets the limit', async () => {
      const t = topic('old-consumer')
      const first = await open()
      const sub = await first.subscribe(t, () => {}, { queue: 'legacy' })
      await sub.unsubscribe()
      const nc = await connect({ servers: SHARED_ADDRESS })
      try {
        const jsm = await nc.jetstreamManager()
        const stream = `${STREAM_PREFIX}_${t.split('.')[0]}`
        const [consumer] = await jsm.consumers.list(stream).next()
        await jsm.consumers.update(stream, consumer.name, { max_deliver: -1 })
        expect((await jsm.consumers.info(stream, consumer.name)).config.max_deliver).toBe(-1)
        const again = await (await open({ maxDeliver: 3 })).subscribe(t, () => {}, { queue: 'legacy' })
        expect((await jsm.consumers.info(stream, consumer.name)).config.max_deliver).toBe(3)
        await again.unsubscribe()
      } finally {
        await nc.close()
      }
    })
  })
})
