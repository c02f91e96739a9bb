/** Transport errors: a handler's error reaches the client with its code and detail. */
import { MicroError } from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import { text } from '../util.js'
import { failure, message, type TransportSuite } from './context.js'

export function transportErrors(t: TransportSuite): void {
  const { pair, failWithin } = t

  describe('errors', () => {
    it('a handler error reaches the client as a MicroError with its code and detail', async () => {
      const { client, address } = await pair({
        request: async (m) => {
          if (text(m.body) === 'micro')
            throw new MicroError('conformance', 409, 'conflict: expected by the test')
          throw new Error('plain failure: expected by the test')
        },
      })
      const micro = await failure(client.request(address, message('micro')), failWithin)
      expect(micro.code).toBe(409)
      expect(micro.detail).toBe('conflict: expected by the test')
      const plain = await failure(client.request(address, message('plain')), failWithin)
      expect(plain.code).toBe(500)
    })

    it('every error code, with its id and detail, reaches the client as it was thrown', async () => {
      const codes = [400, 401, 403, 404, 409, 413, 429, 500, 501, 502, 503, 504]
      const { client, address } = await pair({
        request: async (m) => {
          const code = Number(text(m.body))
          throw new MicroError('conformance.handler', code, `code ${code}: expected by the test`)
        },
      })
      for (const code of codes) {
        const err = await failure(client.request(address, message(String(code))), failWithin)
        expect(err.code, `thrown ${code}`).toBe(code)
        expect(err.id, `thrown ${code}`).toBe('conformance.handler')
        expect(err.detail, `thrown ${code}`).toBe(`code ${code}: expected by the test`)
      }
    })
  })
}
