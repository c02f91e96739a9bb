/**
 * The p2c strategy and outlier ejection, through the selector's begin()/end reports as the RPC
 * client makes them. Set-aside times run on a fake clock (Date only): back-off is checked as an
 * order of events, never as a measured duration.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  type CallOutcome,
  createMemoryRegistry,
  createSelector,
  type Node,
  readEnv,
  type Selector,
  type SelectorOptions,
} from '../src/index.js'

const cleanup: (() => Promise<void>)[] = []
afterEach(async () => {
  vi.useRealTimers()
  for (const c of cleanup.splice(0)) await c()
})

const nodes = (n: number): Node[] =>
  Array.from({ length: n }, (_, i) => ({ id: `n${i}`, address: `127.0.0.1:${3000 + i}`, metadata: {} }))

async function setup(n: number, options: Omit<SelectorOptions, 'registry'> = {}) {
  const registry = createMemoryRegistry()
  const selector = createSelector({ registry, ...options })
  cleanup.push(
    () => selector.close(),
    () => registry.close(),
  )
  await registry.register({ name: 's', version: '1', nodes: nodes(n) })
  await selector.select('s') // warm the cache
  return selector
}

/** One call through the selector as the client makes it: select, begin, wait `ms`, end. */
async function call(selector: Selector, outcome: CallOutcome = 'answered', ms = 0): Promise<string> {
  const node = await selector.select('s')
  const done = selector.begin!('s', node)
  if (ms > 0) await delay(ms)
  done(outcome)
  return node.id
}

/** One call made on `node` (not picked) that answers after `ms`: a latency sample of that node. */
async function time(selector: Selector, node: Node, ms: number): Promise<void> {
  const done = selector.begin!('s', node)
  await delay(ms)
  done('answered')
}

async function picks(selector: Selector, count: number): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (let i = 0; i < count; i++) {
    const id = (await selector.select('s')).id
    out.set(id, (out.get(id) ?? 0) + 1)
  }
  return out
}

describe('p2c', () => {
  it('is a strategy by name and by MICRO_SELECTOR; an unknown name lists it', async () => {
    expect((await setup(1, { strategy: 'p2c' })).name).toBe('p2c')
    expect(readEnv({ MICRO_SELECTOR: 'p2c' }).selector).toBe('p2c')
    expect(() => readEnv({ MICRO_SELECTOR: 'fastest' })).toThrow(/random, roundrobin, p2c/)
    expect(() => createSelector({ registry: createMemoryRegistry(), strategy: 'x' as 'p2c' })).toThrow(
      /use random, roundrobin, p2c/,
    )
  })

  it('sends new calls to the node with fewer calls in flight', async () => {
    const selector = await setup(2, { strategy: 'p2c' })
    // Five calls stuck on n0: with two nodes p2c compares both every time.
    const stuck = Array.from({ length: 5 }, () => selector.begin!('s', nodes(2)[0]))
    expect(await picks(selector, 20)).toEqual(new Map([['n1', 20]]))
    for (const done of stuck) done('answered')
  })

  it('prefers the faster node, and still tries the slow one once its latency has decayed', async () => {
    const selector = await setup(2, { strategy: 'p2c', decayMs: 20 })
    const [fast, slow] = nodes(2)
    await time(selector, slow, 60)
    await time(selector, fast, 0)
    // Right after the samples the fast node wins every comparison.
    expect(await picks(selector, 10)).toEqual(new Map([['n0', 10]]))
    // Keep calling: the fast node's latency stays fresh while the slow one's decays until it is
    // worth one more try.
    const seen = new Map<string, number>()
    const until = Date.now() + 2000
    while (Date.now() < until && !seen.has('n1')) {
      const id = await call(selector, 'answered', 1)
      seen.set(id, (seen.get(id) ?? 0) + 1)
    }
    expect(seen.get('n1')).toBe(1)
    expect(seen.get('n0')).toBeGreaterThan(1)
  })

  it('one slow answer of a fast node does not make it look slow (the EWMA is not peak-sensitive)', async () => {
    const selector = await setup(2, { strategy: 'p2c' })
    const [fast, steady] = nodes(2)
    await time(selector, steady, 10)
    await time(selector, fast, 1)
    await time(selector, fast, 60) // a pause: blended in by its share of the last second, not taken whole
    expect(await picks(selector, 10)).toEqual(new Map([['n0', 10]]))
  })

  it('calls in flight weigh less than latency: a queueing fast node still beats one 50 ms slower', async () => {
    const queueOnFast = async (slowMs: number) => {
      const selector = await setup(2, { strategy: 'p2c' })
      const [fast, slow] = nodes(2)
      await time(selector, slow, slowMs)
      await time(selector, fast, 5)
      // 30 calls waiting on the fast node: its latency samples already hold that queue, so it
      // is not counted again in full (Finagle's weight of 1 would send these to the slow node).
      const queued = Array.from({ length: 30 }, () => selector.begin!('s', fast))
      const seen = await picks(selector, 10)
      for (const done of queued) done('answered')
      return seen
    }
    expect(await queueOnFast(50)).toEqual(new Map([['n0', 10]]))
    // ...while a node only twice as slow takes them.
    expect(await queueOnFast(10)).toEqual(new Map([['n1', 10]]))
  })

  it('with three nodes, one much slower gets only the rare call', async () => {
    const selector = await setup(3, { strategy: 'p2c' })
    // Each node answers once at its own speed, then the calls go on.
    const speed: Record<string, number> = { n0: 1, n1: 1, n2: 40 }
    for (const n of nodes(3)) {
      const done = selector.begin!('s', n)
      await delay(speed[n.id])
      done('answered')
    }
    const seen = new Map<string, number>()
    for (let i = 0; i < 60; i++) {
      const node = await selector.select('s')
      seen.set(node.id, (seen.get(node.id) ?? 0) + 1)
      const done = selector.begin!('s', node)
      await delay(speed[node.id])
      done('answered')
    }
    expect((seen.get('n0') ?? 0) + (seen.get('n1') ?? 0)).toBeGreaterThanOrEqual(58)
  })
})

describe('outlier ejection', () => {
  it('a node that fails several calls in a row is set aside; an answer in between resets the count', async () => {
    const selector = await setup(2, { strategy: 'roundrobin', ejection: { failures: 3 } })
    const [bad] = nodes(2)
    const report = (outcome: CallOutcome) => selector.begin!('s', bad)(outcome)
    report('failed')
    report('failed')
    report('answered')
    report('failed')
    report('failed')
    expect((await picks(selector, 10)).get('n0')).toBe(5)
    report('failed') // the third in a row
    expect(await picks(selector, 10)).toEqual(new Map([['n1', 10]]))
  })

  it('a node that went down is set aside at once; a cancelled call says nothing', async () => {
    const selector = await setup(2, { strategy: 'roundrobin' })
    for (let i = 0; i < 10; i++) selector.begin!('s', nodes(2)[0])('cancelled')
    expect((await picks(selector, 10)).get('n0')).toBe(5)
    selector.begin!('s', nodes(2)[0])('down')
    expect(await picks(selector, 10)).toEqual(new Map([['n1', 10]]))
  })

  it('probes a node back when its time is up: a failed probe sets it aside twice as long, an answer restores it', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const selector = await setup(2, { strategy: 'roundrobin', ejection: { baseMs: 1000, maxMs: 3000 } })
    const bad = nodes(2)[0]
    const isAside = async () => !(await picks(selector, 4)).has('n0')

    selector.begin!('s', bad)('down')
    vi.advanceTimersByTime(999)
    expect(await isAside()).toBe(true)
    vi.advanceTimersByTime(2)
    expect(await isAside()).toBe(false) // on probation: picked again
    selector.begin!('s', bad)('failed') // one failure on probation is enough
    vi.advanceTimersByTime(1999)
    expect(await isAside()).toBe(true)
    vi.advanceTimersByTime(2)
    expect(await isAside()).toBe(false)
    selector.begin!('s', bad)('failed')
    vi.advanceTimersByTime(2999) // 4000 would exceed maxMs: 3000
    expect(await isAside()).toBe(true)
    vi.advanceTimersByTime(2)
    expect(await isAside()).toBe(false)
    selector.begin!('s', bad)('answered') // the probe answered: back for good, back-off forgotten
    selector.begin!('s', bad)('down')
    vi.advanceTimersByTime(1001)
    expect(await isAside()).toBe(false)
  })

  it('an answer to a call sent before the node was set aside does not bring it back early', async () => {
    const selector = await setup(2, { strategy: 'roundrobin' })
    const bad = nodes(2)[0]
    const early = selector.begin!('s', bad)
    selector.begin!('s', bad)('down')
    early('answered')
    expect(await picks(selector, 10)).toEqual(new Map([['n1', 10]]))
    // mark() without an error is the explicit "it works again".
    selector.mark('s', bad)
    expect((await picks(selector, 10)).get('n0')).toBe(5)
  })

  it('ejection: false never sets a node aside', async () => {
    const selector = await setup(2, { strategy: 'roundrobin', ejection: false })
    for (let i = 0; i < 10; i++) selector.begin!('s', nodes(2)[0])('down')
    selector.mark('s', nodes(2)[0], new Error('refused'))
    expect((await picks(selector, 10)).get('n0')).toBe(5)
  })

  it('every node set aside: picks go on among them rather than failing', async () => {
    const selector = await setup(2, { strategy: 'random' })
    for (const n of nodes(2)) selector.begin!('s', n)('down')
    expect([...(await picks(selector, 20)).keys()].sort()).toEqual(['n0', 'n1'])
  })

  it('the end of a call is reported once, however often its function is called', async () => {
    const selector = await setup(2, { strategy: 'p2c' })
    const done = selector.begin!('s', nodes(2)[0])
    selector.begin!('s', nodes(2)[1]) // one in flight on n1
    done('answered')
    done('answered') // must not take n0 below zero in flight
    selector.begin!('s', nodes(2)[0])
    // One in flight each: both are picked.
    expect((await picks(selector, 40)).size).toBe(2)
  })
})
