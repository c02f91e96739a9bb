import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createMemoryBroker, type MemoryBroker } from '../src/broker/index.js'
import type { BrokerEvent } from '../src/broker/types.js'
import { MicroError } from '../src/errors.js'
import type { Logger } from '../src/logger.js'

const enc = new TextEncoder()
const bytes = (s: string) => enc.encode(s)

/** Resolves when `check()` is true, polling; fails the test after `ms`. */
async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}

const settle = () => new Promise((r) => setTimeout(r, 50))

function capturingLogger(): Logger & { errors: unknown[] } {
  const errors: unknown[] = []
  const l: Logger & { errors: unknown[] } = {
    errors,
    debug() {},
    info() {},
    warn() {},
    error(obj) {
      errors.push(obj)
    },
    child: () => l,
  }
  return l
}

describe('MemoryBroker', () => {
  let b: MemoryBroker
  let logger: ReturnType<typeof capturingLogger>
  beforeEach(async () => {
    logger = capturingLogger()
    b = createMemoryBroker({ logger })
    await b.connect()
  })
  afterEach(async () => {
    await b.disconnect()
  })

  it('is named memory and has an address only while connected', async () => {
    expect(b.name).toBe('memory')
    expect(b.address()).not.toBe('')
    await b.disconnect()
    expect(b.address()).toBe('')
  })

  it('round-trips headers and a binary body, each delivery with its own copy', async () => {
    const got: BrokerEvent[] = []
    await b.subscribe('t', (e) => {
      got.push(e)
      e.message.body[0] = 99
      e.message.headers.a = 'changed'
    })
    await b.subscribe('t', (e) => {
      got.push(e)
    })
    const body = new Uint8Array([0, 1, 2, 255, 0])
    const headers = { a: 'b', 'Content-Type': 'application/octet-stream' }
    await b.publish('t', { headers, body })
    // The publisher may reuse its buffers right away.
    body[1] = 42
    headers.a = 'x'
    await until(() => got.length === 2)
    const second = got[1]
    expect(second.topic).toBe('t')
    expect(second.message.headers).toEqual({ a: 'b', 'Content-Type': 'application/octet-stream' })
    expect([...second.message.body]).toEqual([0, 1, 2, 255, 0])
    expect(got[0].message.body).not.toBe(second.message.body)
    await expect(second.ack()).resolves.toBeUndefined()
    await expect(second.nack()).resolves.toBeUndefined()
  })

  it('delivers asynchronously: publish resolves before handlers run', async () => {
    let ran = false
    await b.subscribe('t', () => {
      ran = true
    })
    await b.publish('t', { headers: {}, body: bytes('x') })
    expect(ran).toBe(false)
    await until(() => ran)
  })

  it('broadcasts to every subscriber without a queue', async () => {
    const counts = [0, 0, 0]
    for (let i = 0; i < 3; i++) await b.subscribe('t', () => void counts[i]++)
    for (let i = 0; i < 10; i++) await b.publish('t', { headers: {}, body: bytes(`${i}`) })
    await until(() => counts.every((c) => c === 10))
    await settle()
    expect(counts).toEqual([10, 10, 10])
  })

  it('queue groups: each message to exactly one member; each group gets its own copy', async () => {
    const groupA: string[][] = [[], [], []]
    const groupB: string[][] = [[], []]
    const broadcast: string[] = []
    const text = (e: BrokerEvent) => new TextDecoder().decode(e.message.body)
    for (const list of groupA) await b.subscribe('t', (e) => void list.push(text(e)), { queue: 'A' })
    for (const list of groupB) await b.subscribe('t', (e) => void list.push(text(e)), { queue: 'B' })
    await b.subscribe('t', (e) => void broadcast.push(text(e)))
    const n = 60
    for (let i = 0; i < n; i++) await b.publish('t', { headers: {}, body: bytes(`m${i}`) })
    await until(() => broadcast.length === n && groupA.flat().length === n && groupB.flat().length === n)
    await settle()
    const all = Array.from({ length: n }, (_, i) => `m${i}`)
    expect(groupA.flat().sort()).toEqual([...all].sort())
    expect(groupB.flat().sort()).toEqual([...all].sort())
    expect(broadcast).toEqual(all)
    // Every member takes part (round-robin).
    for (const list of [...groupA, ...groupB]) expect(list.length).toBeGreaterThan(0)
  })

  it('unsubscribe stops delivery, also of messages already published', async () => {
    let count = 0
    const sub = await b.subscribe('t', () => void count++)
    expect(sub.topic).toBe('t')
    expect(sub.queue).toBeUndefined()
    await b.publish('t', { headers: {}, body: bytes('1') })
    await until(() => count === 1)
    await b.publish('t', { headers: {}, body: bytes('2') })
    await sub.unsubscribe()
    await b.publish('t', { headers: {}, body: bytes('3') })
    await settle()
    expect(count).toBe(1)
    await sub.unsubscribe() // twice is fine
  })

  it('a queue member that leaves hands its share to the rest of the group', async () => {
    const a: number[] = []
    const c: number[] = []
    const subA = await b.subscribe('t', () => void a.push(1), { queue: 'q' })
    await b.subscribe('t', () => void c.push(1), { queue: 'q' })
    await subA.unsubscribe()
    for (let i = 0; i < 10; i++) await b.publish('t', { headers: {}, body: bytes('x') })
    await until(() => c.length === 10)
    expect(a).toHaveLength(0)
  })

  it('isolates topics', async () => {
    const got: string[] = []
    await b.subscribe('a', (e) => void got.push(`a:${e.topic}`))
    await b.subscribe('b', (e) => void got.push(`b:${e.topic}`))
    await b.publish('a', { headers: {}, body: bytes('x') })
    await b.publish('c', { headers: {}, body: bytes('x') })
    await until(() => got.length >= 1)
    await settle()
    expect(got).toEqual(['a:a'])
  })

  it('delivers 1,000 messages, none lost or duplicated', async () => {
    const seen = new Map<string, number>()
    await b.subscribe('t', (e) => {
      const id = e.message.headers.id
      seen.set(id, (seen.get(id) ?? 0) + 1)
    })
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        b.publish('t', { headers: { id: `${i}` }, body: bytes(`${i}`) }),
      ),
    )
    await until(() => seen.size === 1000)
    await settle()
    expect([...seen.values()].every((n) => n === 1)).toBe(true)
  })

  it('carries a 1 MiB message intact', async () => {
    const body = new Uint8Array(1024 * 1024)
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff
    let got: Uint8Array | undefined
    await b.subscribe('big', (e) => {
      got = e.message.body
    })
    await b.publish('big', { headers: {}, body })
    await until(() => got !== undefined)
    expect(Buffer.compare(Buffer.from(got!), Buffer.from(body))).toBe(0)
  })

  it('a throwing handler is logged and never crashes the process or stops other handlers', async () => {
    let ok = 0
    await b.subscribe('t', () => {
      throw new Error('sync boom')
    })
    await b.subscribe('t', async () => {
      throw new Error('async boom')
    })
    await b.subscribe('t', () => void ok++)
    await b.publish('t', { headers: {}, body: bytes('x') })
    await b.publish('t', { headers: {}, body: bytes('y') })
    await until(() => ok === 2 && logger.errors.length === 4)
    expect(JSON.stringify(logger.errors)).toContain('sync boom')
    expect(JSON.stringify(logger.errors)).toContain('async boom')
  })

  it('publish and subscribe before connect fail with a 503 MicroError', async () => {
    const fresh = createMemoryBroker({ logger })
    const err = await fresh.publish('t', { headers: {}, body: bytes('x') }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MicroError)
    expect((err as MicroError).toJSON()).toMatchObject({ id: 'go.micro.broker', code: 503 })
    expect((err as MicroError).detail).toContain('not connected; call connect() first')
    await expect(fresh.subscribe('t', () => {})).rejects.toMatchObject({ code: 503 })
    await fresh.connect()
    await fresh.publish('t', { headers: {}, body: bytes('x') })
    await fresh.disconnect()
    await expect(fresh.publish('t', { headers: {}, body: bytes('x') })).rejects.toMatchObject({ code: 503 })
  })

  it('disconnect ends subscriptions and waits for running handlers', async () => {
    let finished = false
    let started = false
    await b.subscribe('t', async () => {
      started = true
      await new Promise((r) => setTimeout(r, 100))
      finished = true
    })
    await b.publish('t', { headers: {}, body: bytes('x') })
    await until(() => started)
    await b.disconnect()
    expect(finished).toBe(true)
    await b.connect()
    let count = 0
    await b.subscribe('other', () => void count++)
    await b.publish('t', { headers: {}, body: bytes('x') })
    await settle()
    expect(finished).toBe(true)
    expect(count).toBe(0)
  })

  it('an aborted publish fails with a 499 MicroError and delivers nothing', async () => {
    let count = 0
    await b.subscribe('t', () => void count++)
    const controller = new AbortController()
    controller.abort()
    await expect(
      b.publish('t', { headers: {}, body: bytes('x') }, { signal: controller.signal }),
    ).rejects.toMatchObject({ id: 'go.micro.broker', code: 499 })
    await settle()
    expect(count).toBe(0)
  })

  it('rejects bad input with a 400 MicroError', async () => {
    const bad = [
      () => b.publish('', { headers: {}, body: bytes('x') }),
      () => b.publish('t', { headers: {}, body: 'x' as unknown as Uint8Array }),
      () => b.publish('t', { headers: { n: 1 as unknown as string }, body: bytes('x') }),
      () => b.publish('t', null as unknown as { headers: Record<string, string>; body: Uint8Array }),
      () => b.subscribe('t', 'nope' as unknown as () => void),
      () => b.subscribe(undefined as unknown as string, () => {}),
    ]
    for (const f of bad) {
      const err = await f().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(MicroError)
      expect((err as MicroError).code).toBe(400)
    }
  })
})
