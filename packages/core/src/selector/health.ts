/**
 * What the selector knows about each node it has called: calls in flight and a latency EWMA
 * (for p2c), and outlier ejection: a node that went down, or failed several calls in a row, is
 * set aside for a while; when that time is up it is on probation, where one more failure sets
 * it aside again for twice as long (up to a limit) and one answer brings it back for good.
 */
import type { Logger } from '../logger.js'
import type { CallOutcome } from './types.js'

export interface EjectionOptions {
  /** `failed` outcomes in a row (502, 503, 504, timeouts) that set a node aside (default 5); `down` sets it aside at once. */
  failures?: number
  /** How long a node is set aside the first time, ms (default 10 000). */
  baseMs?: number
  /** The longest a node is set aside, however often its probes fail, ms (default 300 000). */
  maxMs?: number
}

export interface NodeState {
  /** Calls begun and not yet ended. */
  inflight: number
  /** Latency EWMA in ms; 0 until the first sample. */
  ewma: number
  /** performance.now() of the last sample. */
  stamp: number
  /** `failed` outcomes in a row. */
  failures: number
  /** Times set aside without an answer in between: the back-off exponent. */
  level: number
  /** Epoch ms until which the node is set aside; 0 when it is not. */
  until: number
  /** Set aside before and its time is up: the next failure sets it aside again at once. */
  probation: boolean
}

/** Most nodes kept; past it idle ones go, oldest first. */
const MAX_NODES = 10_000

export class NodeHealth {
  private readonly states = new Map<string, NodeState>()
  private readonly failures: number
  private readonly baseMs: number
  private readonly maxMs: number
  /** States with `until > 0`: while none, select() skips the set-aside check. */
  private aside = 0

  constructor(
    options: EjectionOptions | false,
    /** p2c: how fast an idle node's latency is forgotten, ms. */
    private readonly decayMs: number,
    /** p2c: over how long newer samples replace older ones, ms. */
    private readonly smoothingMs: number,
    private readonly logger: Logger,
  ) {
    const o = options === false ? { baseMs: 0 } : options
    this.failures = Math.max(1, Math.floor(o.failures ?? 5))
    this.baseMs = Math.max(0, o.baseMs ?? 10_000)
    this.maxMs = Math.max(this.baseMs, o.maxMs ?? 300_000)
  }

  get anySetAside(): boolean {
    return this.aside > 0
  }

  get(service: string, id: string): NodeState | undefined {
    return this.states.get(`${service}\u0000${id}`)
  }

  private state(service: string, id: string): NodeState {
    const key = `${service}\u0000${id}`
    let s = this.states.get(key)
    if (!s) {
      s = { inflight: 0, ewma: 0, stamp: 0, failures: 0, level: 0, until: 0, probation: false }
      this.states.set(key, s)
      if (this.states.size > MAX_NODES) this.sweep()
    }
    return s
  }

  /** True while the node is set aside; a node whose time is up goes on probation here. */
  isSetAside(service: string, id: string, now: number): boolean {
    const s = this.get(service, id)
    if (!s || s.until === 0) return false
    if (s.until > now) return true
    s.until = 0
    s.probation = true
    this.aside--
    return false
  }

  /** A call starts: one more in flight. */
  begin(service: string, id: string): NodeState {
    const s = this.state(service, id)
    s.inflight++
    return s
  }

  /** The call begun on `s` ended after `ms` (undefined: not timed). */
  end(service: string, id: string, address: string, s: NodeState, outcome: CallOutcome, ms?: number): void {
    if (s.inflight > 0) s.inflight--
    if (outcome === 'cancelled') return
    // A failure never makes a node look faster (a refused connection answers in microseconds);
    // a slow one (a timeout) does count.
    if (ms !== undefined && (outcome === 'answered' || ms > s.ewma)) this.sample(s, ms)
    if (outcome === 'answered') {
      // An answer to a call sent before the node was set aside does not bring it back early.
      if (s.until <= Date.now()) this.answered(service, address, s)
    } else this.failed(service, id, address, s, outcome)
  }

  /** mark(): an error sets the node aside at once, success clears it. */
  mark(service: string, id: string, address: string, error: boolean): void {
    if (!error) {
      const s = this.get(service, id)
      if (s) this.answered(service, address, s)
      return
    }
    this.failed(service, id, address, this.state(service, id), 'down')
  }

  /** Latency EWMA decayed to `now` (performance.now()); 0 for a node never timed. */
  latency(s: NodeState | undefined, now: number): number {
    if (!s || s.ewma === 0) return 0
    return s.ewma * Math.exp(-Math.max(0, now - s.stamp) / this.decayMs)
  }

  /**
   * A time-weighted EWMA over `smoothingMs`: a sample that comes long after the last one counts
   * for more. Not peak-sensitive (Finagle's takes a slower sample at once): measured in the
   * balance bench, one pause of a fast node then made it look slow for seconds, and p2c sent
   * 3–5 % of calls to a node 50 ms slower.
   */
  private sample(s: NodeState, ms: number): void {
    const now = performance.now()
    const rtt = Math.max(ms, 0.001)
    if (s.ewma === 0) s.ewma = rtt
    else {
      const w = Math.exp(-Math.max(0, now - s.stamp) / this.smoothingMs)
      s.ewma = s.ewma * w + rtt * (1 - w)
    }
    s.stamp = now
  }

  private answered(service: string, address: string, s: NodeState): void {
    s.failures = 0
    if (s.until > 0) {
      s.until = 0
      this.aside--
    }
    if (s.probation || s.level > 0) {
      s.probation = false
      s.level = 0
      this.logger.info({ service, node: address }, 'node answered again: back in rotation')
    }
  }

  private failed(service: string, id: string, address: string, s: NodeState, outcome: CallOutcome): void {
    if (this.baseMs === 0) return
    s.failures++
    const now = Date.now()
    if (s.until > 0 && s.until <= now) {
      s.until = 0
      s.probation = true
      this.aside--
    }
    // Already set aside (calls that were in flight failing one after the other): nothing new learnt.
    if (s.until > 0) return
    if (outcome !== 'down' && !s.probation && s.failures < this.failures) return
    const ms = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(s.level, 30))
    this.aside++
    s.until = now + ms
    s.level++
    s.probation = false
    this.logger.warn(
      { service, node: address, id, outcome, failures: s.failures, ms },
      `node set aside for ${ms} ms`,
    )
  }

  /** Forget every node of `service`. */
  reset(service: string): void {
    const prefix = `${service}\u0000`
    for (const [key, s] of this.states) {
      if (!key.startsWith(prefix)) continue
      if (s.until > 0) this.aside--
      this.states.delete(key)
    }
  }

  clear(): void {
    this.states.clear()
    this.aside = 0
  }

  /** Past MAX_NODES: drop nodes with nothing in flight and not set aside, oldest first, then any. */
  private sweep(): void {
    const now = Date.now()
    for (const [key, s] of this.states) {
      if (this.states.size <= MAX_NODES) return
      if (s.inflight === 0 && s.until <= now) {
        if (s.until > 0) this.aside--
        this.states.delete(key)
      }
    }
    while (this.states.size > MAX_NODES) {
      const [key, s] = this.states.entries().next().value as [string, NodeState]
      if (s.until > 0) this.aside--
      this.states.delete(key)
    }
  }
}
