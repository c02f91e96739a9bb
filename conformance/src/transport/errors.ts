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
  })
}
