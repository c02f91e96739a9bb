/** Transport deadlines and cancellation: 408 at the deadline, 499 on abort, both reach the server. */
import { describe, expect, it } from 'vitest'
import { eventually, sleep } from '../util.js'
import { failure, hanging, message, type TransportSuite } from './context.js'

export function transportDeadline(t: TransportSuite): void {
  const { pair, deadline, failWithin } = t

  describe('deadline', () => {
    it('a deadline rejects with a 408 MicroError and aborts the server side (go-micro)', async () => {
      const hang = hanging()
      const { client, address } = await pair(hang.handler)
      const err = await failure(client.request(address, message('slow'), { timeout: deadline }), failWithin)
      expect(err.code).toBe(408)
      await eventually(() => expect(hang.aborted(), 'server signal aborted').toBe(true), failWithin)
    })

    it('aborting the signal rejects with a 499 MicroError and aborts the server side', async () => {
      const hang = hanging()
      const { client, address } = await pair(hang.handler)
      const abort = new AbortController()
      const pending = client.request(address, message('cancel me'), { signal: abort.signal })
      await eventually(() => expect(hang.started()).toBe(true), failWithin)
      abort.abort()
      const err = await failure(pending, failWithin)
      expect(err.code).toBe(499)
      await eventually(() => expect(hang.aborted(), 'server signal aborted').toBe(true), failWithin)
    })

    it('an already-aborted signal rejects at once without reaching the server', async () => {
      let calls = 0
      const { client, address } = await pair({
        request: async (m) => {
          calls++
          return m
        },
      })
      const err = await failure(
        client.request(address, message('x'), { signal: AbortSignal.abort() }),
        failWithin,
      )
      expect(err.code).toBe(499)
      await sleep(100)
      expect(calls).toBe(0)
    })
  })
}
