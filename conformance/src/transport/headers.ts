/** Transport headers: names arrive lower-cased in both directions. */
import { describe, expect, it } from 'vitest'
import { message, type TransportSuite } from './context.js'

export function transportHeaders(t: TransportSuite): void {
  const { pair } = t

  describe('headers', () => {
    it('header names arrive lower-cased, in both directions', async () => {
      let seen: Record<string, string> = {}
      const { client, address } = await pair({
        request: async (m) => {
          seen = m.headers
          return message('ok', { 'X-Reply-Header': 'Reply-Value' })
        },
      })
      const rsp = await client.request(address, message('x', { 'X-Mixed-Case': 'Value-Kept' }))
      expect(seen['x-mixed-case']).toBe('Value-Kept')
      expect(Object.keys(seen)).not.toContain('X-Mixed-Case')
      expect(rsp.headers['x-reply-header']).toBe('Reply-Value')
      expect(Object.keys(rsp.headers)).not.toContain('X-Reply-Header')
    })
  })
}
