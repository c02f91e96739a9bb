/**
 * NATS-specific behaviour against real servers: go-micro's wire JSON in both directions, queue
 * groups, wildcards, bad input, credentials, bad addresses, reconnects after a server restart,
 * and the JetStream mode (ack/nak/redelivery, durable queue groups, nothing acknowledged lost).
 */
import { randomUUID } from 'node:crypto'
import { type BrokerEvent, isMicroError, type MicroError, silentLogger } from '@micro-ts/core'
import { connect, type NatsConnection, headers as natsHeaders } from 'nats'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import plugin, { createNatsBroker, type NatsBroker, type NatsBrokerOptions } from '../src/index.js'
import { checkTopic, decodeMessage, encodeMessage } from '../src/message.js'
import { parseAddress, resolveOptions } from '../src/options.js'
import {
  canConnect,
  eventually,
  hasNatsServer,
  NatsServer,
  type NatsServerOptions,
  requireBackend,
  SHARED_ADDRESS,
  tlsFile,
} from './nats-server.js'

const sharedUp = requireBackend(
  await canConnect(SHARED_ADDRESS),
  `NATS is not reachable at ${SHARED_ADDRESS}`,
)
const binary = requireBackend(hasNatsServer(), 'the nats-server binary is not installed')

/** Streams created by this run start with this prefix; they are deleted afterwards. */
const STREAM_PREFIX = `TEST_${randomUUID().slice(0, 8)}`

function topic(tag: string): string {
  return `t${randomUUID().slice(0, 8)}.${tag}`
}

const text = (e: BrokerEvent) => Buffer.from(e.message.body).toString()
const msg = (body: string, headers: Record<string, string> = {}) => ({ headers, body: Buffer.from(body) })
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

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

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<MicroError> {
  try {
    await (typeof p === 'function' ? p() : p)
  } catch (err) {
    expect(isMicroError(err), `expected a MicroError, got ${String(err)}`).toBe(true)
    return err as MicroError
  }
  throw new Error('expected a rejection')
}

describe('options and wire format', () => {
  it('parses addresses and takes credentials from the URL', () => {
    expect(parseAddress('127.0.0.1')).toEqual({ server: '127.0.0.1:4222', tls: false })
    expect(parseAddress('nats://n1:4333')).toEqual({ server: 'n1:4333', tls: false })
    expect(parseAddress('nats://bob:s%40cret@n1:4222')).toEqual({
      server: 'n1:4222',
      tls: false,
      user: 'bob',
      pass: 's@cret',
    })
    expect(parseAddress('nats://tok3n@n1')).toEqual({ server: 'n1:4222', tls: false, token: 'tok3n' })
    expect(parseAddress('tls://n1:4443').tls).toBe(true)
    for (const bad of ['http://n1:4222', 'nats://', 'nats://n1:4222/path', 'n1:port']) {
      expect(() => parseAddress(bad), bad).toThrow(/nats broker/)
    }
  })

  it('reads MICRO_BROKER_ADDRESS, defaults to nats://127.0.0.1:4222 and validates options', () => {
    expect(resolveOptions({}, {}).servers).toEqual(['127.0.0.1:4222'])
    expect(resolveOptions({}, { MICRO_BROKER_ADDRESS: 'a:1,nats://u:p@b:2' })).toMatchObject({
      servers: ['a:1', 'b:2'],
      user: 'u',
      pass: 'p',
    })
    expect(resolveOptions({ addresses: ['c:3'] }, { MICRO_BROKER_ADDRESS: 'a:1' }).servers).toEqual(['c:3'])
    expect(resolveOptions({ jetstream: true }, {}).jetstream).toMatchObject({
      streamPrefix: 'MICRO',
      storage: 'file',
    })
    expect(() => resolveOptions({ connectTimeout: 0 }, {})).toThrow(/connectTimeout/)
    expect(() => resolveOptions({ jetstream: { streamPrefix: 'a.b' } }, {})).toThrow(/streamPrefix/)
    expect(() => resolveOptions({ jetstream: { maxDeliver: 0 } }, {})).toThrow(/maxDeliver/)
  })

  it('encodes go-micro JSON: {"Header":{...},"Body":"<base64>"}', () => {
    const bytes = encodeMessage({ headers: { 'Micro-Topic': 'events', a: 'b' }, body: Buffer.from('hi') })
    expect(Buffer.from(bytes).toString()).toBe('{"Header":{"Micro-Topic":"events","a":"b"},"Body":"aGk="}')
    // Small and large bodies (built differently), headers that JSON must escape: what Go writes.
    for (const size of [0, 700, 5000]) {
      const headers = { ünï: 'cødé ✓ 😀', q: 'x"\\\n' }
      const body = Buffer.alloc(size).map((_, i) => (i * 7) & 255)
      expect(Buffer.from(encodeMessage({ headers, body })).toString()).toBe(
        JSON.stringify({ Header: headers, Body: Buffer.from(body).toString('base64') }),
      )
    }
  })

  it('decodes what Go writes (any key case, null header/body) and passes other payloads through', () => {
    const go = decodeMessage(Buffer.from('{"Header":null,"Body":null}'))
    expect(go).toEqual({ headers: {}, body: new Uint8Array() })
    const lower = decodeMessage(Buffer.from('{"header":{"k":"v"},"body":"AAEC"}'))
    expect(lower).toEqual({ headers: { k: 'v' }, body: new Uint8Array([0, 1, 2]) })
    const plain = decodeMessage(Buffer.from('{"name":"John"}'), [['X-Trace', ['1']]])
    expect(plain.headers).toEqual({ 'X-Trace': '1' })
    expect(Buffer.from(plain.body).toString()).toBe('{"name":"John"}')
    const notBase64 = decodeMessage(Buffer.from('{"Body":"not base64!"}'))
    expect(Buffer.from(notBase64.body).toString()).toBe('{"Body":"not base64!"}')
  })

  it('takes a Body as base64 exactly when it is standard base64 (what Go writes)', () => {
    const body = (b: string) => decodeMessage(Buffer.from(JSON.stringify({ Header: {}, Body: b })))
    const isEnvelope = (b: string) =>
      Buffer.from(body(b).body).toString() !== JSON.stringify({ Header: {}, Body: b })
    for (const good of ['', 'AAEC', 'AA==', 'AAE=', 'YQ', 'YWI', '+/+/'])
      expect(isEnvelope(good), JSON.stringify(good)).toBe(true)
    // Node's decoder would skip, cut short or misread all of these; none is an envelope.
    for (const bad of ['AA-_', 'AA_=', 'AB!D', 'AA A', 'AA\nA', 'AA=A', 'A===', 'AAīA', 'AAéA', 'YQ==YQ=='])
      expect(isEnvelope(bad), JSON.stringify(bad)).toBe(false)
    expect([...body('AAEC').body]).toEqual([0, 1, 2])
    expect([...body('YQ').body]).toEqual([0x61])
    const big = Buffer.alloc(30_000).map((_, i) => i % 251)
    expect(Buffer.from(body(Buffer.from(big).toString('base64')).body).equals(big)).toBe(true)
  })

  it('checks topics: no whitespace, no empty tokens, wildcards only to subscribe', () => {
    expect(() => checkTopic('a.b', false)).not.toThrow()
    expect(() => checkTopic('a.*.c', true)).not.toThrow()
    expect(() => checkTopic('a.>', true)).not.toThrow()
    for (const bad of ['', 'a b', 'a..b', '.a', 'a.', 'a.>.b', 'a*'])
      expect(() => checkTopic(bad, true), bad).toThrow()
    expect(() => checkTopic('a.*', false)).toThrow(/wildcards/)
  })

  it('the plugin rejects unknown options and turns JetStream on from MICRO_NATS_JETSTREAM', async () => {
    expect(plugin.kind).toBe('broker')
    expect(plugin.name).toBe('nats')
    expect(() => plugin.create({ addresses: [], options: { bogus: true }, logger: silentLogger })).toThrow(
      /unknown option/,
    )
    const core = (await plugin.create({ addresses: [], options: {}, logger: silentLogger })) as NatsBroker
    expect(core.capabilities).toEqual([])
    process.env.MICRO_NATS_JETSTREAM = 'true'
    try {
      const js = (await plugin.create({
        addresses: ['nats://127.0.0.1:1'],
        options: {},
        logger: silentLogger,
      })) as NatsBroker
      expect(js.capabilities).toEqual(['ack'])
      expect(js.jetstream).toBe(true)
    } finally {
      delete process.env.MICRO_NATS_JETSTREAM
    }
  })
})

describe('bad addresses and use before connect', () => {
  it('publish and subscribe before connect are a 503 MicroError', async () => {
    const b = createNatsBroker({ addresses: [SHARED_ADDRESS] })
    expect(b.address()).toBe('')
    const err = await rejection(b.publish('x', msg('a')))
    expect(err.code).toBe(503)
    expect(err.id).toBe('go.micro.broker')
    expect(err.detail).toMatch(/not connected/)
    expect((await rejection(b.subscribe('x', () => {}))).code).toBe(503)
  })

  it('an unreachable server is a 503 within the connect timeout', async () => {
    const b = createNatsBroker({ addresses: ['127.0.0.1:1'], connectTimeout: 1000 })
    const started = Date.now()
    const err = await rejection(b.connect())
    expect(err.code).toBe(503)
    expect(err.detail).toContain('127.0.0.1:1')
    expect(Date.now() - started).toBeLessThan(1000 + 2000)
    await b.disconnect() // nothing to do, must not throw
  })

  it('a name that does not resolve is an error, not a hang', async () => {
    const b = createNatsBroker({ addresses: ['nats.invalid:4222'], connectTimeout: 2000 })
    const err = await rejection(b.connect())
    expect([503, 408]).toContain(err.code)
  })

  it('a malformed address is a 400 at construction', () => {
    expect(() => createNatsBroker({ addresses: ['http://x:1'] })).toThrow(/unsupported scheme/)
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

  it('connects, reports its server and declares no capabilities', () => {
    expect(broker.address()).toBe(`nats://${SHARED_ADDRESS}`)
    expect(broker.capabilities).toEqual([])
  })

  it('delivers headers and body unchanged, on the subject named by the topic', async () => {
    const t = topic('roundtrip')
    const got: BrokerEvent[] = []
    const sub = await broker.subscribe(t, (e) => {
      got.push(e)
    })
    const body = new Uint8Array([0, 255, 1, 2, 128])
    await broker.publish(t, { headers: { 'Micro-Topic': t, 'Content-Type': 'application/json' }, body })
    await eventually(async () => got.length === 1)
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
    await eventually(async () => seen.length === 1)
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
    await eventually(async () => got.length === 2)
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
    await eventually(async () => a.length + b.length === 40 && all1.length === 40 && all2.length === 40)
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
    await eventually(async () => got.length === 2)
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
    await eventually(async () => calls === 1)
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
    await eventually(async () => log.filter((l) => l.startsWith('start')).length === 30)
    await eventually(async () => running === 0)
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
    await eventually(async () => started > 0)
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
    await eventually(async () => got.length === 1)
    await sub.unsubscribe()
    await sub.unsubscribe() // twice is harmless
    await broker.publish(t, msg('2'))
    await pause(200)
    expect(got).toEqual(['1'])
  })

  it('rejects bad input with 400/413 and keeps working', async () => {
    expect((await rejection(broker.publish('a b', msg('x')))).code).toBe(400)
    expect((await rejection(broker.publish('a.*', msg('x')))).code).toBe(400)
    expect((await rejection(broker.publish('', msg('x')))).code).toBe(400)
    expect(
      (await rejection(broker.publish('a', { headers: {}, body: 'str' as unknown as Uint8Array }))).code,
    ).toBe(400)
    expect(
      (
        await rejection(
          broker.publish('a', { headers: { n: 1 as unknown as string }, body: new Uint8Array() }),
        )
      ).code,
    ).toBe(400)
    expect((await rejection(broker.subscribe('a..b', () => {}))).code).toBe(400)
    expect((await rejection(broker.subscribe('a', () => {}, { queue: 'has space' }))).code).toBe(400)
    const huge = new Uint8Array(2 * 1024 * 1024)
    expect((await rejection(broker.publish(topic('huge'), { headers: {}, body: huge }))).code).toBe(413)
    const t = topic('after')
    const got: string[] = []
    const sub = await broker.subscribe(t, (e) => void got.push(text(e)))
    await broker.publish(t, msg('fine'))
    await eventually(async () => got.length === 1)
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
    await eventually(async () => started)
    await b.disconnect()
    expect(finished).toBe(true)
    expect(b.address()).toBe('')
    expect((await rejection(b.publish(t, msg('late')))).code).toBe(503)
    await b.connect() // and it can connect again
    await b.publish(t, msg('again'))
    await b.disconnect()
  })
})

describe.skipIf(!sharedUp)('JetStream mode (shared server)', () => {
  const created: NatsBroker[] = []
  async function open(options: NatsBrokerOptions['jetstream'] = {}): Promise<NatsBroker> {
    const b = createNatsBroker({
      addresses: [SHARED_ADDRESS],
      jetstream: {
        streamPrefix: STREAM_PREFIX,
        nakDelay: 50,
        ...(typeof options === 'object' ? options : {}),
      },
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

  it('declares the ack capability and stores messages in a stream per topic space', async () => {
    const b = await open()
    expect(b.capabilities).toEqual(['ack'])
    const t = topic('stored')
    const got: string[] = []
    const sub = await b.subscribe(t, (e) => void got.push(text(e)), { queue: 'q' })
    await b.publish(t, msg('one'))
    await eventually(async () => got.length === 1)
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
    await eventually(async () => done)
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
    await eventually(async () => seen.filter((s) => s === 'silent').length === 2, 8000)
    await pause(1500)
    expect(seen.filter((s) => s === 'nack')).toHaveLength(2)
    expect(seen.filter((s) => s === 'ok')).toHaveLength(1)
    expect(seen.filter((s) => s === 'silent')).toHaveLength(2)
    await sub.unsubscribe()
  })

  it('gives up after maxDeliver deliveries', async () => {
    const b = await open({ maxDeliver: 2 })
    const t = topic('poison')
    let calls = 0
    const sub = await b.subscribe(
      t,
      () => {
        calls++
        throw new Error('always')
      },
      { queue: 'poison' },
    )
    await b.publish(t, msg('bad'))
    await eventually(async () => calls === 2)
    await pause(500)
    expect(calls).toBe(2)
    await sub.unsubscribe()
  })

  it('a queue group is durable: messages published while no member listens wait for the next one', async () => {
    const b = await open()
    const t = topic('durable')
    const first: string[] = []
    const sub = await b.subscribe(t, (e) => void first.push(text(e)), { queue: 'keep' })
    await b.publish(t, msg('1'))
    await eventually(async () => first.length === 1)
    await sub.unsubscribe()
    await b.publish(t, msg('2'))
    await b.publish(t, msg('3'))
    const later: string[] = []
    const again = await b.subscribe(t, (e) => void later.push(text(e)), { queue: 'keep' })
    await eventually(async () => later.length === 2)
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
    await eventually(async () => a.length + c.length === 30 && all.length === 30)
    await pause(300)
    expect([...a, ...c].sort()).toEqual([...sent].sort())
    expect(all).toEqual(sent)
    for (const s of subs) await s.unsubscribe()
  })

  it('uses an existing stream that already captures the topic', async () => {
    const nc = await connect({ servers: SHARED_ADDRESS })
    const jsm = await nc.jetstreamManager()
    const space = `c${randomUUID().slice(0, 8)}`
    const custom = `${STREAM_PREFIX}CUSTOM_${space}`
    await jsm.streams.add({ name: custom, subjects: [`${space}.>`] })
    const b = await open()
    const got: string[] = []
    const sub = await b.subscribe(`${space}.orders`, (e) => void got.push(text(e)), { queue: 'w' })
    await b.publish(`${space}.orders`, msg('o1'))
    await eventually(async () => got.length === 1)
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
    await eventually(async () => started >= 1)
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
    expect((await rejection(b.subscribe('*.x', () => {}))).code).toBe(400)
  })
})

describe.skipIf(!binary)('private servers: restarts, credentials, JetStream missing', () => {
  const servers: NatsServer[] = []
  const brokers: NatsBroker[] = []
  afterEach(async () => {
    for (const b of brokers.splice(0)) await b.disconnect()
    for (const s of servers.splice(0)) await s.stop()
  })
  async function server(options: NatsServerOptions = {}): Promise<NatsServer> {
    const s = await NatsServer.start(options)
    servers.push(s)
    return s
  }
  function broker(options: NatsBrokerOptions): NatsBroker {
    const b = createNatsBroker({ reconnectWait: 100, ...options })
    brokers.push(b)
    return b
  }

  it('takes user:pass from the address URL; wrong credentials are a 401', async () => {
    const s = await server({ user: 'micro', pass: 'p@ss', jetstream: false })
    const ok = broker({ addresses: [`nats://micro:p%40ss@${s.address}`] })
    await ok.connect()
    const got: string[] = []
    await ok.subscribe('auth.t', (e) => void got.push(text(e)))
    await ok.publish('auth.t', msg('in'))
    await eventually(async () => got.length === 1)
    const bad = broker({ addresses: [`nats://micro:wrong@${s.address}`] })
    expect((await rejection(bad.connect())).code).toBe(401)
    const none = broker({ addresses: [s.address] })
    expect((await rejection(none.connect())).code).toBe(401)
  })

  it('TLS: verifies the server with the given CA and presents a client certificate', async () => {
    const s = await server({ tls: true, tlsVerify: true, jetstream: false })
    const ok = broker({
      addresses: [`tls://${s.address}`],
      tls: { caFile: tlsFile('ca.pem'), certFile: tlsFile('client.pem'), keyFile: tlsFile('client-key.pem') },
    })
    await ok.connect()
    const got: string[] = []
    await ok.subscribe('tls.t', (e) => void got.push(text(e)))
    await ok.publish('tls.t', msg('secret'))
    await eventually(async () => got.length === 1)
    const noClientCert = broker({
      addresses: [s.address],
      tls: { caFile: tlsFile('ca.pem') },
      connectTimeout: 2000,
    })
    expect([503, 408]).toContain((await rejection(noClientCert.connect())).code)
    const unknownCa = broker({
      addresses: [s.address],
      tls: { certFile: tlsFile('client.pem'), keyFile: tlsFile('client-key.pem') },
      connectTimeout: 2000,
    })
    expect([503, 408]).toContain((await rejection(unknownCa.connect())).code)
  })

  it('JetStream mode against a server without JetStream is a clear 503', async () => {
    const s = await server({ jetstream: false })
    const b = broker({ addresses: [s.address], jetstream: true })
    const err = await rejection(b.connect())
    expect(err.code).toBe(503)
    expect(err.detail).toMatch(/JetStream is not available/)
  })

  it('core NATS: reconnects and resubscribes after a server restart', async () => {
    const s = await server({ jetstream: false })
    const b = broker({ addresses: [s.address] })
    await b.connect()
    const got: string[] = []
    await b.subscribe('restart.core', (e) => void got.push(text(e)), { queue: 'q' })
    await b.publish('restart.core', msg('before'))
    await eventually(async () => got.includes('before'))
    await s.restart(500)
    // After the reconnect the subscription is back: keep publishing until one arrives.
    await eventually(async () => {
      await b.publish('restart.core', msg('after'))
      await pause(100)
      return got.includes('after')
    }, 15_000)
    expect(b.address()).toBe(`nats://${s.address}`)
  })

  it('JetStream: nothing acknowledged is lost across a server restart under a steady publish loop', async () => {
    const s = await server()
    const pub = broker({ addresses: [s.address], jetstream: { nakDelay: 50 } })
    const sub = broker({ addresses: [s.address], jetstream: { nakDelay: 50 } })
    await pub.connect()
    await sub.connect()
    const received = new Set<string>()
    let failOnce = true
    await sub.subscribe(
      'orders.created',
      (e) => {
        // One handler failure on the way: redelivery must cover it too.
        if (failOnce && text(e) === '5') {
          failOnce = false
          throw new Error('transient')
        }
        received.add(text(e))
      },
      { queue: 'billing' },
    )
    const acknowledged: string[] = []
    const failed: string[] = []
    let restarted = false
    const loop = (async () => {
      for (let i = 0; i < 60; i++) {
        try {
          await pub.publish('orders.created', msg(String(i)))
          acknowledged.push(String(i))
        } catch {
          failed.push(String(i))
        }
        await pause(25)
      }
    })()
    await eventually(async () => acknowledged.length >= 15)
    await s.restart(700)
    restarted = true
    await loop
    expect(restarted).toBe(true)
    // Publishes ride out the restart (they retry until publishTimeout): all of them were stored.
    expect(failed).toEqual([])
    await eventually(async () => acknowledged.every((id) => received.has(id)), 30_000)
    expect(received.size).toBe(60)
  })

  it('JetStream: a subscriber recreates its consumer when the server comes back empty', async () => {
    const s = await server()
    const b = broker({ addresses: [s.address], jetstream: { nakDelay: 50 } })
    await b.connect()
    const got: string[] = []
    await b.subscribe('wiped.t', (e) => void got.push(text(e)), { queue: 'w' })
    await b.publish('wiped.t', msg('before'))
    await eventually(async () => got.includes('before'))
    await s.kill()
    const { rmSync } = await import('node:fs')
    rmSync(s.storeDir, { recursive: true, force: true })
    await s.spawn()
    await eventually(async () => {
      await b.publish('wiped.t', msg('after')).catch(() => {})
      await pause(200)
      return got.includes('after')
    }, 30_000)
  })
})
