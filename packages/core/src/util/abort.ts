import { MicroError } from '../errors.js'
import { deadlines, type Expiring, setLongTimeout } from './time.js'

/**
 * One signal that fires on the first of `signals` or after `timeoutMs`.
 * The reason is a MicroError: 408 for the timeout, 499 for a cancellation without a MicroError reason.
 */
export function deadlineSignal(
  timeoutMs: number | undefined,
  signals: (AbortSignal | undefined)[] = [],
  id = 'go.micro.client',
): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController()
  const cleanups: (() => void)[] = []
  const fire = (reason: unknown) => {
    if (!controller.signal.aborted) controller.abort(reason)
    dispose()
  }
  const dispose = () => {
    for (const c of cleanups.splice(0)) c()
  }
  for (const s of signals) {
    if (!s) continue
    if (s.aborted) {
      fire(abortReason(s, id))
      break
    }
    const onAbort = () => fire(abortReason(s, id))
    s.addEventListener('abort', onAbort, { once: true })
    cleanups.push(() => s.removeEventListener('abort', onAbort))
  }
  if (!controller.signal.aborted && timeoutMs !== undefined && timeoutMs > 0 && Number.isFinite(timeoutMs)) {
    const t = setLongTimeout(
      () => fire(new MicroError(id, 408, `request timed out after ${timeoutMs}ms`)),
      timeoutMs,
    )
    cleanups.push(() => t.clear())
  }
  return { signal: controller.signal, dispose }
}

/** The MicroError an aborted signal stands for. */
export function abortReason(signal: AbortSignal, id = 'go.micro.client'): MicroError {
  const r: unknown = signal.reason
  if (r instanceof MicroError) return r
  if (r instanceof Error && r.name === 'TimeoutError')
    return new MicroError(id, 408, r.message || 'request timed out')
  return new MicroError(id, 499, r instanceof Error ? r.message || 'request canceled' : 'request canceled')
}

/** A LazyAbort's deadline in the shared DeadlineSet (one object per deadline, no closure). */
class AbortDeadline implements Expiring {
  constructor(
    readonly expiresAt: number,
    private readonly target: LazyAbort,
    private readonly reason: () => MicroError,
  ) {}

  expire(): void {
    this.target.abort(this.reason())
  }
}

/**
 * An abort that costs nothing until someone asks for its AbortSignal: most requests finish
 * without anyone listening, and Node's AbortController/AbortSignal.any are among the largest
 * per-request costs of a small RPC. An abort before the signal is made is remembered.
 * It can carry a deadline (`abortAt`): all of them share one timer.
 */
export class LazyAbort {
  private controller?: AbortController
  private listeners?: ((reason: MicroError) => void)[]
  private _reason?: MicroError
  private expiry?: AbortDeadline

  /** The MicroError it was aborted with, if it was. */
  get reason(): MicroError | undefined {
    return this._reason
  }

  get aborted(): boolean {
    return this._reason !== undefined
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController()
      if (this._reason) this.controller.abort(this._reason)
    }
    return this.controller.signal
  }

  /** Calls `listener` once on abort (at once if already aborted); returns an unsubscribe. */
  onAbort(listener: (reason: MicroError) => void): () => void {
    if (this._reason) {
      listener(this._reason)
      return noop
    }
    if (this.listeners) this.listeners.push(listener)
    else this.listeners = [listener]
    return () => {
      const list = this.listeners
      if (!list) return
      const i = list.indexOf(listener)
      if (i >= 0) list.splice(i, 1)
    }
  }

  /**
   * Abort with `reason()` at `deadline` (ms since the epoch) unless aborted before; a later call
   * replaces the deadline. Whoever owns the work calls `clearDeadline()` when it is done, so a
   * finished request holds no timer. A deadline days away neither fires at once nor spins.
   */
  abortAt(deadline: number, reason: () => MicroError): void {
    if (this._reason) return
    if (this.expiry) deadlines.delete(this.expiry)
    this.expiry = new AbortDeadline(deadline, this, reason)
    deadlines.add(this.expiry)
  }

  /** Drop the deadline set by abortAt (the work finished). */
  clearDeadline(): void {
    if (!this.expiry) return
    deadlines.delete(this.expiry)
    this.expiry = undefined
  }

  /** First call wins; later ones are ignored. */
  abort(reason: MicroError): void {
    if (this._reason) return
    this._reason = reason
    this.clearDeadline()
    const list = this.listeners
    this.listeners = undefined
    if (list) for (const l of list) l(reason)
    this.controller?.abort(reason)
  }
}

const noop = (): void => {}
