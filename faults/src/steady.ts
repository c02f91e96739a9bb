/**
 * A steady loop of operations against a backend (one after the other, a short pause between),
 * noted one by one, and what a restart in the middle of it did: which errors, for how long,
 * how soon it worked again.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { MicroError } from '@micro-ts/core'

export interface Op {
  seq: number
  /** performance.now() at the start and end. */
  t0: number
  t1: number
  ok: boolean
  /** The MicroError it failed with; `raw` when it failed with anything else. */
  error?: MicroError
  raw?: string
}

/**
 * Run `op(seq)` for seq = 1, 2, ... until `signal` aborts; resolves with every op noted (each is
 * also pushed to `ops` as it ends, for a caller watching the loop).
 */
export async function steady(
  op: (seq: number) => Promise<void>,
  signal: AbortSignal,
  gapMs = 5,
  ops: Op[] = [],
): Promise<Op[]> {
  for (let seq = 1; !signal.aborted; seq++) {
    const t0 = performance.now()
    try {
      await op(seq)
      ops.push({ seq, t0, t1: performance.now(), ok: true })
    } catch (err) {
      const t1 = performance.now()
      if (err instanceof MicroError) ops.push({ seq, t0, t1, ok: false, error: err })
      else ops.push({ seq, t0, t1, ok: false, raw: String((err as Error)?.stack ?? err) })
    }
    await sleep(gapMs)
  }
  return ops
}

export interface Outage {
  ops: number
  failed: number
  /** Failures that are not a MicroError of `id` with a detail. */
  unclear: Op[]
  /** `503 ×12, 504 ×1`. */
  codes: string
  /** From the server answering again to the end of the first op that worked after the kill, ms. */
  recoveryMs: number
  /** The longest op during the outage, ms. */
  longestMs: number
}

/** What the ops between `downAt` (kill) and the end show, the server being ready again at `upAt`. */
export function outage(ops: readonly Op[], id: string, downAt: number, upAt: number): Outage {
  const during = ops.filter((o) => o.t1 >= downAt)
  const failed = during.filter((o) => !o.ok)
  const unclear = failed.filter((o) => !o.error || o.error.id !== id || !o.error.detail)
  const counts = new Map<number, number>()
  for (const o of failed) if (o.error) counts.set(o.error.code, (counts.get(o.error.code) ?? 0) + 1)
  const codes = [...counts]
    .sort(([a], [b]) => a - b)
    .map(([code, n]) => `${code} ×${n}`)
    .join(', ')
  const firstOk = during.find((o) => o.ok && o.t0 >= downAt)
  const longest = during.filter((o) => o.t0 < upAt).reduce((m, o) => Math.max(m, o.t1 - o.t0), 0)
  return {
    ops: during.length,
    failed: failed.length,
    unclear,
    codes: codes || 'none',
    recoveryMs: firstOk ? Math.max(0, firstOk.t1 - upAt) : Number.NaN,
    longestMs: longest,
  }
}
