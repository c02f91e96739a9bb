/** Transport headers: names arrive lower-cased in both directions. */
import { describe, expect, it } from 'vitest'
import { header } from '../util.js'
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

    it('UTF-8 header values round-trip, in a request and in a reply', async () => {
      const value = 'ünïcödé 日本 🚀'
      let seen: string | undefined
      const { client, address } = await pair({
        request: async (m) => {
          seen = header(m.headers, 'x-utf8')
          return message('ok', { 'X-Utf8-Reply': value, 'X-Mixed': `latin-1 é and ${value}` })
        },
      })
      const rsp = await client.request(address, message('x', { 'X-Utf8': value }))
      expect(seen, 'request header at the handler').toBe(value)
      expect(header(rsp.headers, 'x-utf8-reply'), 'reply header at the client').toBe(value)
      expect(header(rsp.headers, 'x-mixed')).toBe(`latin-1 é and ${value}`)
    })
  })
}
