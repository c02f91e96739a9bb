/**
 * Load, and a record of it fine enough to tell which calls were in flight when a node died: a
 * call wrapper notes each attempt (the node it went to, a tick of one logical clock at its start
 * and end, its error), and closed-loop callers note each call.
 */
import type { CallOptions, CallWrapper, Client } from '@micro-ts/core'
import { MicroError } from '@micro-ts/core'

/** The header that ties an attempt to its call. */
const CALL_HEADER = 'X-Faults-Call'

export interface Attempt {
  /** The node's address. */
  node: string
  /** Clock ticks at the start and end of the attempt. */
  start: number
  end?: number
  error?: MicroError
}

export interface CallRecord {
  id: number
  idempotent: boolean
  /** performance.now() at the start and end. */
  t0: number
  t1?: number
  ok: boolean
  error?: MicroError
  attempts: Attempt[]
}

export class Recorder {
  /** One logical clock for every event: attempts starting and ending, marks set by the test. */
  private clock = 0
  readonly calls = new Map<number, CallRecord>()
  private nextId = 1

  /** The current tick, advanced: events noted with it are ordered against every attempt. */
  tick(): number {
    return ++this.clock
  }

  /** The call wrapper that notes attempts; give it to the client. */
  readonly wrapper: CallWrapper = (next) => async (node, req, options) => {
    const id = Number(req.headers[CALL_HEADER])
    const attempt: Attempt = { node: node.address, start: this.tick() }
    this.calls.get(id)?.attempts.push(attempt)
    try {
      const rsp = await next(node, req, options)
      attempt.end = this.tick()
      return rsp
    } catch (err) {
      attempt.end = this.tick()
      attempt.error = MicroError.from(err, 'faults')
      throw err
    }
  }

  /** Make one call, noted. */
  async call<T>(
    client: Client,
    service: string,
    endpoint: string,
    body: unknown,
    options: CallOptions = {},
  ): Promise<CallRecord & { rsp?: T }> {
    const id = this.nextId++
    const rec: CallRecord & { rsp?: T } = {
      id,
      idempotent: options.idempotent === true,
      t0: performance.now(),
      ok: false,
      attempts: [],
    }
    this.calls.set(id, rec)
    try {
      rec.rsp = await client.call<T>(service, endpoint, body, {
        ...options,
        headers: { ...options.headers, [CALL_HEADER]: String(id) },
      })
      rec.ok = true
    } catch (err) {
      rec.error = MicroError.from(err, 'faults')
    }
    rec.t1 = performance.now()
    return rec
  }

  /**
   * `callers` closed loops of `Work.Do` on `service` until `signal` aborts, half of them
   * idempotent when `mixed`. Resolves once every loop has finished its last call.
   */
  async loop(
    client: Client,
    service: string,
    options: { callers: number; ms: number; signal: AbortSignal; mixed?: boolean; call?: CallOptions },
  ): Promise<void> {
    const loops = Array.from({ length: options.callers }, async (_, i) => {
      const idempotent = options.mixed ? i % 2 === 1 : options.call?.idempotent === true
      while (!options.signal.aborted) {
        await this.call(client, service, 'Work.Do', { ms: options.ms }, { ...options.call, idempotent })
      }
    })
    await Promise.all(loops)
  }

  get all(): CallRecord[] {
    return [...this.calls.values()]
  }
}

/** Every attempt to `node`, with its call. */
export function attemptsTo(
  calls: readonly CallRecord[],
  node: string,
): { call: CallRecord; attempt: Attempt }[] {
  return calls.flatMap((call) =>
    call.attempts.filter((a) => a.node === node).map((attempt) => ({ call, attempt })),
  )
}

/** Calls per second over the calls' own span. */
export function rate(calls: readonly CallRecord[]): number {
  if (calls.length === 0) return 0
  let t0 = Number.POSITIVE_INFINITY
  let t1 = Number.NEGATIVE_INFINITY
  for (const c of calls) {
    t0 = Math.min(t0, c.t0)
    t1 = Math.max(t1, c.t1 ?? c.t0)
  }
  return t1 > t0 ? (calls.length * 1000) / (t1 - t0) : 0
}

/** The q-quantile (0..1) of `values`, nearest rank. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}
