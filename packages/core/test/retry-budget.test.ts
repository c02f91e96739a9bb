/**
 * The client's retry budget: with one node failing every call, retries add at most the budget's
 * share of the calls made, and without a budget every failed call is retried.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  createSelector,
  errors,
  MicroError,
  type MicroService,
  RetryBudget,
  type RetryBudgetOptions,
  RpcClient,
} from '../src/index.js'
import { clientService, createMemoryRegistry, startService } from './helpers.js'

const open: { stop(): Promise<void> }[] = []
afterEach(async () => {
  vi.useRealTimers()
  for (const s of open.splice(0)) await s.stop()
})

/** Two nodes of `flaky`: one answers every call with a 503, the other answers. */
async function twoNodes() {
  const registry = createMemoryRegistry()
  const hits = { bad: 0, good: 0 }
  const bad = await startService(registry, { name: 'flaky' })
  bad.handle(
    {
      Work: async () => {
        hits.bad++
        throw errors.serviceUnavailable('flaky', 'backend gone')
      },
    },
    { name: 'Flaky' },
  )
  const good = await startService(registry, { name: 'flaky' })
  good.handle(
    {
      Work: async () => {
        hits.good++
        return { ok: true }
      },
    },
    { name: 'Flaky' },
  )
  const host: MicroService = await clientService(registry)
  open.push(bad, good, host)
  // Round robin without ejection: the failing node keeps its share, so only the budget acts.
  const selector = createSelector({ registry, strategy: 'roundrobin', ejection: false })
  open.push({ stop: () => selector.close() })
  const client = (retryBudget: RetryBudgetOptions | false) =>
    new RpcClient({ transport: host.transport, selector, retries: 1, backoff: () => 0, retryBudget })
  return { hits, client }
}

async function run(client: RpcClient, calls: number) {
  let failed = 0
  for (let i = 0; i < calls; i++) {
    await client.call('flaky', 'Flaky.Work', {}, { idempotent: true }).catch((e: unknown) => {
      expect(e).toBeInstanceOf(MicroError)
      expect((e as MicroError).code).toBe(503)
      failed++
    })
  }
  return failed
}

describe('retry budget', () => {
  it('with one node failing every call, retries stay within 20 % of the calls', async () => {
    const { hits, client } = await twoNodes()
    const failed = await run(client({ ratio: 0.2, minPerSecond: 0 }), 200)
    const retries = hits.bad + hits.good - 200
    expect(retries).toBeGreaterThan(0)
    expect(retries).toBeLessThanOrEqual(40)
    // Every call whose first node failed and that had no retry left failed with the node's 503.
    expect(failed).toBeGreaterThan(0)
    expect(hits.good).toBe(200 - failed)
  })

  it('without a budget every failed call is retried', async () => {
    const { hits, client } = await twoNodes()
    const failed = await run(client(false), 100)
    expect(failed).toBe(0)
    expect(hits.good).toBe(100)
    expect(hits.bad + hits.good - 100).toBe(hits.bad)
  })

  it('the floor lets a quiet client retry, and the window slides', () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 1, windowMs: 10_000 })
    let allowed = 0
    for (let i = 0; i < 20; i++) if (budget.retry()) allowed++
    expect(allowed).toBe(10)
    vi.advanceTimersByTime(10_000)
    expect(budget.retry()).toBe(true)
  })

  it('the floor is a minimum, not an addition: a busy client retries at most the ratio', () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 1, windowMs: 10_000 })
    for (let i = 0; i < 1000; i++) budget.call()
    let allowed = 0
    for (let i = 0; i < 1000; i++) if (budget.retry()) allowed++
    expect(allowed).toBe(200)
  })

  it('retries earned by calls lapse with them', () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const budget = new RetryBudget({ ratio: 0.5, minPerSecond: 0, windowMs: 1000 })
    for (let i = 0; i < 10; i++) budget.call()
    let allowed = 0
    for (let i = 0; i < 10; i++) if (budget.retry()) allowed++
    expect(allowed).toBe(5)
    vi.advanceTimersByTime(1000)
    expect(budget.window).toEqual({ calls: 0, retries: 0 })
    expect(budget.retry()).toBe(false)
  })
})
