/** Transport shutdown: after the listener closes, and close(grace) with requests in flight. */
import { describe, expect, it } from 'vitest'
import { eventually, sleep, text } from '../util.js'
import { echo, failure, hanging, message, type TransportSuite } from './context.js'

export function transportClose(t: TransportSuite): void {
  const { pair, failWithin } = t

  describe('close', () => {
    it('after the listener closes, requests fail with a MicroError instead of hanging (go-micro)', async () => {
      const { client, listener, address } = await pair(echo)
      expect(text((await client.request(address, message('before'))).body)).toBe('before')
      await listener.close()
      const err = await failure(client.request(address, message('after')), failWithin)
      expect(err.code).not.toBe(408)
    })

    it('close(grace) lets a request in flight finish', async () => {
      const { client, listener, address } = await pair({
        request: async (m) => {
          await sleep(200)
          return m
        },
      })
      const pending = client.request(address, message('finishing'))
      await sleep(50)
      const closing = listener.close(5_000)
      expect(text((await pending).body)).toBe('finishing')
      await closing
    })

    it('close(grace) drops a request still running after the grace period: the client gets an error', async () => {
      const hang = hanging()
      const { client, listener, address } = await pair(hang.handler)
      const pending = client.request(address, message('stuck'))
      await eventually(() => expect(hang.started()).toBe(true), failWithin)
      await listener.close(100)
      const err = await failure(pending, failWithin)
      expect(err.code).not.toBe(408)
      await eventually(() => expect(hang.aborted(), 'server signal aborted').toBe(true), failWithin)
    })
  })
}
