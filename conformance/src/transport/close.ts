/** Transport shutdown: after the listener closes, and close(grace) with requests in flight. */
import { describe, expect, it } from 'vitest'
import { describeError, eventually, isMicroErrorShape, sleep, text } from '../util.js'
import { echo, failure, hanging, message, type TransportSuite } from './context.js'
import { echoStream } from './stream.js'

export function transportClose(t: TransportSuite): void {
  const { h, pair, failWithin } = t

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

    it('close() really closes the client: request() then rejects with a MicroError, and a pending recv() ends or rejects', async () => {
      const { client, address } = await pair(echoStream)
      expect(text((await client.request(address, message('before'))).body)).toBe('before')
      let pending: Promise<unknown> | undefined
      if (t.has('stream')) {
        const stream = await client.stream(address, message(new Uint8Array(0)))
        h.defer('stream.close()', () => stream.close().catch(() => {}))
        await stream.send(message('ping'))
        expect(text((await stream.recv())!.body)).toBe('0:ping')
        // Nothing more will come: only close() can end this recv().
        pending = stream.recv().then(
          (m) => (m === undefined ? 'ended' : `got ${text(m.body)}`),
          (e: unknown) => (isMicroErrorShape(e) ? 'rejected' : `rejected with ${describeError(e)}`),
        )
      }
      await h.close(client)
      if (pending) {
        const outcome = await Promise.race([pending, sleep(failWithin).then(() => 'still waiting')])
        expect(['ended', 'rejected'], `the pending recv() after close(): ${outcome}`).toContain(outcome)
      }
      const err = await failure(client.request(address, message('after')), failWithin)
      expect(err.code, describeError(err)).not.toBe(200)
    })
  })
}
