import { MicroError } from '../errors.js'

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
    const t = setTimeout(
      () => fire(new MicroError(id, 408, `request timed out after ${timeoutMs}ms`)),
      timeoutMs,
    )
    t.unref?.()
    cleanups.push(() => clearTimeout(t))
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
