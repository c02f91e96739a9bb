/** Gating a suite on a reachable backend: skipped loudly on a laptop, failed under CI. */
import { describeError } from './util.js'

/**
 * Run `probe` (connect, ping, close) with a time limit. Resolves to `false` when the backend
 * answered, or to a reason to pass as the suite's `skip` (which fails the run when `CI` is set):
 *
 * ```ts
 * const skip = await probeBackend('redis at 127.0.0.1:6379', () => ping(url))
 * storeConformance({ name: 'redis', create, capabilities, skip })
 * ```
 */
export async function probeBackend(
  what: string,
  probe: () => Promise<unknown>,
  timeoutMs = 5_000,
): Promise<string | false> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
      }),
    ])
    return false
  } catch (e) {
    return `${what} is unreachable: ${describeError(e)}`
  } finally {
    clearTimeout(timer)
  }
}
