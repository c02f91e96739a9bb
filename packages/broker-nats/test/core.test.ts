/**
 * Core NATS against the shared server: go-micro's wire JSON in both directions, queue groups,
 * wildcards, order, at-most-once delivery, bad input, unsubscribe and disconnect; and what a
 * missing or silent server gives.
 */
import { deadAddress, eventually, expectMicroError, silentServer } from '@micro-ts/conformance/testing'
import { type BrokerEvent, silentLogger } from '@micro-ts/core'
import { connect, type NatsConnection, headers as natsHeaders } from 'nats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNatsBroker, type NatsBroker } from '../src/index.js'
import { msg, pause, SHARED_ADDRESS, sharedNats, text, topic } from './helpers.js'

const sharedUp = await sharedNats()

describe('bad addresses and use before connect', () => {
  it('publish and subscribe before connect are a 503 MicroError', async () => {
    const b = createNatsBroker({ addresses: [SHARED_ADDRESS] })
    expect(b.address()).toBe('')
    const err = await expectMicroError(b.publish('x', msg('a')))
    expect(err.code).toBe(503)
    expect(err.id).toBe('go.micro.broker')
    expect(err.detail).toMatch(/not connected/)
    expect((await expectMicroError(b.subscribe('x', () => {}))).code).toBe(503)
  })

  it('a server that refuses connections is a 503 naming it', async () => {
    const address = await deadAddress()
    const b = createNatsBroker({ addresses: [address], connectTimeout: 1000 })
    const err = await expectMicroError(b.connect(), 503)
    expect(err.detail).toContain(address)
    await b.disconnect() // nothing to do, must not throw
  })

  it('a server that accepts and never answers is an error once connectTimeout passes, not a hang', async () => {
    const silent = await silentServer()
    try {
      const b = createNatsBroker({ addresses: [silent.address], connectTimeout: 500 })
      const err = await expectMicroError(b.connect())
      expect([408, 503]).toContain(err.code)
      expect(err.detail).toContain(silent.address)
    } finally {
      await silent.close()
    }
  })

  it('a name that does not resolve is an error, not a hang', async () => {
    const b = createNatsBroker({ addresses: ['nats.invalid:4222'], connectTimeout: 2000 })
    const err = await expectMicroError(b.connect())
    expect([503, 408]).toContain(err.code)
  })
})

describe.skipIf(!sharedUp)('core NATS (shared server)', () => {
  let broker: NatsBroker
  let raw: NatsConnection

  beforeAll(async () => {
    broker = createNatsBroker({ addresses: [SHARED_ADDRESS], logger: silentLogger })
    await broker.connect()
    raw = await connect({ servers: SHARED_ADDRESS })
  })
  afterAll(async () => {
    await broker?.disconnect()
    await raw?.close()
  })

  it('connects, reports its server and has no ack capability', () => {
    expect(broker.address()).toBe(`nats://${SHARED_ADDRESS}`)
    expect(broker.capabilities).not.toContain('ack')
  })

  it('delivers headers and body unchanged, on the subject named by the topic', async () => {
    const t = topic('roundtrip')
    const got: BrokerEvent[] = []
    const sub = await broker.subscribe(t, (e) => {
      got.push(e)
    })
    const body = new Uint8Array([0, 255, 1, 2, 128])
    await broker.publish(t, { headers: { 'Micro-Topic': t, 'Content-Type': 'application/json' }, body })
    await eventually(() => expect(got).toHaveLength(1), 10_000)
    expect(got[0].topic).toBe(t)
    expect(got[0].message.headers).toEqual({ 'Micro-Topic': t, 'Content-Type': 'application/json' })
    expect([...got[0].message.body]).toEqual([...body])
    await sub.unsubscribe()
  })

  it("puts go-micro's JSON on the wire and reads what a go-micro publisher sends", async () => {
    const t = topic('wire')
    const seen: string[] = []
    const rawSub = raw.subscribe(t)
    ;(async () => {
      for await (const m of rawSub) seen.push(m.string())
    })()
    await raw.flush()
    await broker.publish(t, msg('{"name":"John"}', { 'Micro-Id': 'abc' }))
    await eventually(() => expect(seen).toHaveLength(1), 10_000)
    expect(JSON.parse(seen[0])).toEqual({
      Header: { 'Micro-Id': 'abc' },
      Body: Buffer.from('{"name":"John"}').toString('base64'),
    })
    rawSub.unsubscribe()

    const got: BrokerEvent[] = []
    const sub = await broker.subscribe(t, (e) => {
      got.push(e)
    })
    // Exactly what Go's json.Marshal(&broker.Message{...}) produces.
    raw.publish(t, Buffer.from('{"Header":{"Micro-Topic":"x"},"Body":"eyJhIjoxfQ=="}'))
    // A plain NATS publisher (not go-micro): delivered as is, NATS headers included.
    const h = natsHeaders()
    h.set('X-Source', 'plain')
    raw.publish(t, Buffer.from('raw bytes'), { headers: h })
    await eventually(() => expect(got).toHaveLength(2), 10_000)
    expect(got[0].message.headers).toEqual({ 'Micro-Topic': 'x' })
    expect(text(got[0])).toBe('{"a":1}')
    expect(text(got[1])).toBe('raw bytes')
    expect(got[1].message.headers['X-Source']).toBe('plain')
    await sub.unsubscribe()
  })

  it('gives each message to one member of a queue group and to every plain subscriber', async () => {
    const t = topic('queue')
    const a: string[] = []
    const b: string[] = []
    const all1: string[] = []
    const all2: string[] = []
    const second = createNatsBroker({ addresses: [SHARED_ADDRESS] })
    await second.connect()
    const subs = [
      await broker.subscribe(t, (e) => void a.push(text(e)), { queue: 'workers' }),
      await second.subscribe(t, (e) => void b.push(text(e)), { queue: 'workers' }),
      await broker.subscribe(t, (e) => void all1.push(text(e))),
      await second.subscribe(t, (e) => void all2.push(text(e))),
    ]
    const sent = Array.from({ length: 40 }, (_, i) => String(i))
    for (const s of sent) await broker.publish(t, msg(s))
    await eventually(
      () => expect([a.length + b.length, all1.length, all2.length]).toEqual([40, 40, 40]),
      10_000,
    )
    await pause(200)
    expect([...a, ...b].sort()).toEqual([...sent].sort())
    expect(a.length).toBeGreaterThan(0)
    expect(b.length).toBeGreaterThan(0)
    expect(all1).toEqual(sent)
    expect(all2).toEqual(sent)
    for (const s of subs) await s.unsubscribe()
    await second.disconnect()
  })

  it('subscribes with wildcards; the event names the concrete topic', async () => {
    const base = topic('wild')
    const got: string[] = []
    const sub = await broker.subscribe(`${base}.*`, (e) => void got.push(e.topic))
    await broker.publish(`${base}.a`, msg('1'))
    await broker.publish(`${base}.b`, msg('2'))
    await broker.publish(`${base}.a.deep`, msg('3'))
    await eventually(() => expect(got).toHaveLength(2), 10_000)
    await pause(100)
    expect(got).toEqual([`${base}.a`, `${base}.b`])
    await sub.unsubscribe()
  })

  it('does not redeliver when a handler fails (no ack capability); ack and nack are no-ops', async () => {
    const t = topic('noack')
    let calls = 0
    const sub = await broker.subscribe(
      t,
      async (e) => {
        calls++
        await e.nack()
        throw new Error('handler failure')
      },
      { autoAck: false },
    )
    await broker.publish(t, msg('once'))
    await eventually(() => expect(calls).toBe(1), 10_000)
    await pause(500)
    expect(calls).toBe(1)
    await sub.unsubscribe()
  })

  it('handles messages one at a time, in order, whether handlers are synchronous or not', async () => {
    const t = topic('order')
    const log: string[] = []
    let running = 0
    let overlap = false
    const sub = await broker.subscribe(t, (e) => {
      const n = Number(text(e))
      if (running++ > 0) overlap = true
      log.push(`start ${n}`)
      // Every third handler is asynchronous and slow; the others finish synchronously.
      if (n % 3 !== 0) {
        running--
        return
      }
      return pause(5).then(() => {
        log.push(`end ${n}`)
        running--
        if (n === 9) throw new Error('a failing handler does not stop the ones behind it')
      })
    })
    for (let i = 0; i < 30; i++) broker.publish(t, msg(String(i)))
    await eventually(() => expect(log.filter((l) => l.startsWith('start'))).toHaveLength(30), 10_000)
    await eventually(() => expect(running).toBe(0), 10_000)
    expect(overlap).toBe(false)
    expect(log.filter((l) => l.startsWith('start'))).toEqual(
      Array.from({ length: 30 }, (_, i) => `start ${i}`),
    )
    expect(log.indexOf('end 3')).toBe(log.indexOf('start 3') + 1)
    await sub.unsubscribe()
  })

  it('unsubscribe lets the running handler and the messages already received finish', async () => {
    const t = topic('unsub-drain')
    const done: string[] = []
    let started = 0
    const sub = await broker.subscribe(t, async (e) => {
      started++
      await pause(50)
      done.push(text(e))
    })
    for (let i = 0; i < 5; i++) await broker.publish(t, msg(String(i)))
    await eventually(() => expect(started).toBeGreaterThan(0), 10_000)
    expect(done.length).toBeLessThan(5)
    await sub.unsubscribe()
    expect(done).toEqual(['0', '1', '2', '3', '4'])
    await broker.publish(t, msg('late'))
    await pause(100)
    expect(done).toHaveLength(5)
  })

  it('stops delivering after unsubscribe', async () => {
    const t = topic('unsub')
    const got: string[] = []
    const sub = await broker.subscribe(t, (e) => void got.push(text(e)))
    await broker.publish(t, msg('1'))
    await eventually(() => expect(got).toHaveLength(1), 10_000)
    await sub.unsubscribe()
    await sub.unsubscribe() // twice is harmless
    await broker.publish(t, msg('2'))
    await pause(200)
    expect(got).toEqual(['1'])
  })

  it('rejects bad input with 400/413 and keeps working', async () => {
    expect((await expectMicroError(broker.publish('a b', msg('x')))).code).toBe(400)
    expect((await expectMicroError(broker.publish('a.*', msg('x')))).code).toBe(400)
    expect((await expectMicroError(broker.publish('', msg('x')))).code).toBe(400)
    expect(
      (await expectMicroError(broker.publish('a', { headers: {}, body: 'str' as unknown as Uint8Array })))
        .code,
    ).toBe(400)
    expect(
      (
        await expectMicroError(
          broker.publish('a', { headers: { n: 1 as unknown as string }, body: new Uint8Array() }),
        )
      ).code,
    ).toBe(400)
    expect((await expectMicroError(broker.subscribe('a..b', () => {}))).code).toBe(400)
    expect((await expectMicroError(broker.subscribe('a', () => {}, { queue: 'has space' }))).code).toBe(400)
    const huge = new Uint8Array(2 * 1024 * 1024)
    expect((await expectMicroError(broker.publish(topic('huge'), { headers: {}, body: huge }))).code).toBe(
      413,
    )
    const t = topic('after')
    const got: string[] = []
    const sub = await broker.subscribe(t, (e) => void got.push(text(e)))
    await broker.publish(t, msg('fine'))
    await eventually(() => expect(got).toHaveLength(1), 10_000)
    await sub.unsubscribe()
  })

  it('disconnect waits for running handlers and then refuses to publish', async () => {
    const b = createNatsBroker({ addresses: [SHARED_ADDRESS] })
    await b.connect()
    const t = topic('drain')
    let finished = false
    let started = false
    await b.subscribe(t, async () => {
      started = true
      await pause(300)
      finished = true
    })
    await b.publish(t, msg('slow'))
    await eventually(() => expect(started).toBe(true), 10_000)
    await b.disconnect()
    expect(finished).toBe(true)
    expect(b.address()).toBe('')
    expect((await expectMicroError(b.publish(t, msg('late')))).code).toBe(503)
    await b.connect() // and it can connect again
    await b.publish(t, msg('again'))
    await b.disconnect()
  })
})
