/**
 * The stalled-round re-run: a round is run again only when this process's own timer fired far
 * late (the whole machine held up), never because the contender was slow to answer.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { interleave, logRerun, MAX_RERUNS, STALL_MS, unstalled } from '../src/rounds.js'

/** Holds this process's event loop, as a machine-wide stall holds every process. */
function hold(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) {}
}

describe('unstalled', () => {
  it('runs a round again when the event loop was held past STALL_MS, and keeps the next one', async () => {
    const stalls: number[] = []
    let tries = 0
    const r = await unstalled(
      async () => {
        tries++
        await delay(30)
        if (tries === 1) hold(STALL_MS + 150)
        await delay(30)
        return tries
      },
      (ms) => stalls.push(ms),
    )
    expect(r).toBe(2)
    expect(stalls).toHaveLength(1)
    expect(stalls[0]).toBeGreaterThanOrEqual(STALL_MS)
  })

  // A real stall of the machine during this test would re-run it, rightly; retried for that,
  // while a watch that took waiting for a stall would fail every try.
  it('does not re-run a round that was only slow: waiting is not a stall', { retry: 2 }, async () => {
    let tries = 0
    const r = await unstalled(async () => {
      tries++
      await delay(STALL_MS * 2)
      return 'slow'
    })
    expect(r).toBe('slow')
    expect(tries).toBe(1)
  })

  it('gives up after MAX_RERUNS and keeps the last try', async () => {
    let tries = 0
    const r = await unstalled(async () => {
      tries++
      await delay(5)
      hold(STALL_MS + 100)
      return tries
    })
    expect(r).toBe(MAX_RERUNS + 1)
  })

  it('interleave runs a stalled round again and logs it, naming scenario, contender and round', async () => {
    const lines: string[] = []
    let tries = 0
    const results = await interleave({
      contenders: [{ name: 'pg' }],
      rounds: 1,
      round: async () => {
        tries++
        await delay(5)
        if (tries === 1) hold(STALL_MS + 100)
        return tries
      },
      onFailed: () => {},
      onRerun: logRerun((line) => lines.push(line), 'store read'),
    })
    expect([...results.values()]).toEqual([[2]])
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^store read pg: round 1 again, the machine stalled \d+ ms$/)
  })

  it('a round that throws is not retried: the error goes to interleave, which leaves the contender out', async () => {
    const failed: string[] = []
    const results = await interleave({
      contenders: ['a', 'b'],
      rounds: 2,
      round: async (c) => {
        if (c === 'a') throw new Error('a broke')
        return 1
      },
      onFailed: (c, why) => {
        failed.push(`${c}: ${why}`)
      },
    })
    expect(failed).toEqual(['a: a broke'])
    expect(results.get('b')).toEqual([1, 1])
    expect(results.has('a')).toBe(false)
  })
})
