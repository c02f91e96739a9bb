/**
 * Transport requests: echo, port 0, concurrency on one client, large bodies, the body limit,
 * and addresses where nothing listens or that cannot be parsed.
 */
import { describe, expect, it } from 'vitest'
import {
  allBytes,
  describeError,
  type ErrorShape,
  expectBytes,
  header,
  randomBytes,
  size,
  sleep,
  text,
  uniqueName,
} from '../util.js'
import { echo, failure, message, type TransportSuite } from './context.js'

export function transportRequest(t: TransportSuite): void {
  const { h, pair, listenAddress, failWithin, concurrency, large } = t

  describe('request', () => {
    it('echo: headers and a binary body round-trip; the handler sees the remote address (go-micro)', async () => {
      let remote = ''
      const { client, address } = await pair({
        request: async (m, ctx) => {
          remote = ctx.remote
          return echo.request(m, ctx)
        },
      })
      const rsp = await client.request(
        address,
        message(allBytes(), { 'X-Conformance': 'value with spaces: and = signs' }),
      )
      expectBytes(rsp.body, allBytes(), 'echoed body')
      expect(header(rsp.headers, 'x-conformance')).toBe('value with spaces: and = signs')
      expect(header(rsp.headers, 'x-reply')).toBe('yes')
      expect(header(rsp.headers, 'micro-error')).toBeUndefined()
      expect(remote).toMatch(/^.+:\d+$/)
      const empty = await client.request(address, message(new Uint8Array(0)))
      expect(empty.body.byteLength).toBe(0)
    })

    it('listening on port 0 reports the real address, which answers', async () => {
      const server = await h.fresh()
      const listener = await server.listen(listenAddress, echo)
      h.defer('listener.close()', () => listener.close(0).catch(() => {}))
      const match = /^(.*):(\d+)$/.exec(listener.address)
      expect(match, `address ${listener.address}`).not.toBeNull()
      expect(Number(match![2])).toBeGreaterThan(0)
      const client = await h.fresh()
      expect(text((await client.request(listener.address, message('ping'))).body)).toBe('ping')
    })

    it(`${concurrency} concurrent requests on one client each get their own answer`, async () => {
      const { client, address } = await pair({
        request: async (m) => {
          // Answer out of order, so answers cannot be matched to requests by arrival.
          if (m.body[0] % 3 === 0) await sleep(1)
          return { headers: { 'x-id': header(m.headers, 'x-id') ?? '' }, body: m.body }
        },
      })
      const ids = Array.from({ length: concurrency }, (_, i) => `${i}`)
      const answers = await Promise.all(
        ids.map((id) => client.request(address, message(`${id}:${uniqueName('c')}`, { 'x-id': id }))),
      )
      for (const [i, rsp] of answers.entries()) {
        expect(header(rsp.headers, 'x-id')).toBe(ids[i])
        expect(text(rsp.body).split(':')[0]).toBe(ids[i])
      }
    })

    it(`a ${size(large)} message round-trips both ways`, async () => {
      const { client, address } = await pair(echo)
      const body = randomBytes(large)
      const rsp = await client.request(address, message(body))
      expectBytes(rsp.body, body, 'large body')
    })

    it('a body above maxBodySize is rejected with a 413 MicroError, and the server keeps serving', async () => {
      const { client, address } = await pair(echo, { maxBodySize: 1024 })
      const err = await failure(client.request(address, message(randomBytes(64 * 1024))), failWithin)
      expect(err.code).toBe(413)
      expect(text((await client.request(address, message('small'))).body)).toBe('small')
    })

    it('a request to an address where nothing listens rejects with a MicroError marked not delivered', async () => {
      const server = await h.fresh()
      const listener = await server.listen(listenAddress, echo)
      const address = listener.address
      await listener.close(0)
      const client = await h.fresh()
      const err = await failure(client.request(address, message('x')), failWithin)
      expect((err as ErrorShape & { delivered?: boolean }).delivered, describeError(err)).toBe(false)
    })

    it('a malformed address rejects with a MicroError', async () => {
      const client = await h.fresh()
      for (const bad of ['no-port', 'host:notaport', '']) {
        await failure(client.request(bad, message('x')), failWithin)
      }
    })

    it('close() twice is harmless', async () => {
      const transport = await h.fresh()
      await h.close(transport)
      await transport.close()
    })
  })
}
