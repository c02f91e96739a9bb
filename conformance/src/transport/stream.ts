/** Transport streams (`stream`): order both ways, ends from either side, errors, teardown, many at once. */
import { type ClientStream, MicroError, type Transport, type TransportHandler } from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import {
  describeError,
  type ErrorShape,
  eventually,
  expectBytes,
  isMicroErrorShape,
  randomBytes,
  size,
  text,
} from '../util.js'
import { echo, failure, message, type TransportSuite } from './context.js'

/** Every message until the end of the stream (bounded, so a stream that never ends fails instead of looping). */
export async function drain(stream: ClientStream, max = 1_000): Promise<string[]> {
  const out: string[] = []
  while (out.length <= max) {
    const m = await stream.recv()
    if (m === undefined) return out
    out.push(text(m.body))
  }
  throw new Error(`the stream sent more than ${max} messages without ending`)
}

/** Echo every message with its index, then `bye` once the client closed its side. */
export const echoStream: TransportHandler = {
  ...echo,
  stream: async (s) => {
    let i = 0
    for (;;) {
      const m = await s.recv()
      if (m === undefined) break
      await s.send(message(`${i++}:${text(m.body)}`, { 'x-index': String(i) }))
    }
    await s.send(message(`bye:${s.headers['x-stream'] ?? ''}`))
    await s.close()
  },
}

export function transportStream(t: TransportSuite): void {
  const { h, pair, failWithin, large } = t

  async function open(
    client: Transport,
    address: string,
    headers: Record<string, string> = {},
  ): Promise<ClientStream> {
    const stream = await client.stream(address, message(new Uint8Array(0), headers))
    h.defer('stream.close()', () => stream.close().catch(() => {}))
    return stream
  }

  describe('stream', () => {
    if (!t.has('stream')) {
      it('stream is not declared: stream() or its first recv() rejects with a MicroError', async () => {
        const { client, address } = await pair({
          ...echo,
          stream: async (s) => {
            await s.close()
          },
        })
        const err = await failure(
          client.stream(address, message(new Uint8Array(0))).then(async (s) => {
            await s.recv()
            await s.close()
            throw new Error('the stream opened')
          }),
          failWithin,
        ).catch((e: unknown) => e)
        expect(isMicroErrorShape(err), describeError(err)).toBe(true)
      })
      return
    }

    it('a stream keeps order both ways and ends cleanly when the client closes its side', async () => {
      const { client, address } = await pair(echoStream)
      const stream = await open(client, address, { 'X-Stream': 'Opened' })
      const sent = Array.from({ length: 100 }, (_, i) => `m${i}`)
      for (const s of sent) await stream.send(message(s))
      await stream.closeSend()
      expect(await drain(stream)).toEqual([...sent.map((s, i) => `${i}:${s}`), 'bye:Opened'])
      expect(await stream.recv()).toBeUndefined()
    })

    it('sends and receives interleave (ping-pong)', async () => {
      const { client, address } = await pair(echoStream)
      const stream = await open(client, address)
      for (let i = 0; i < 20; i++) {
        await stream.send(message(`ping${i}`))
        const m = await stream.recv()
        expect(text(m!.body)).toBe(`${i}:ping${i}`)
      }
      await stream.closeSend()
      expect(await drain(stream)).toEqual(['bye:'])
    })

    it('the server ending its side ends the client’s recv()', async () => {
      const { client, address } = await pair({
        ...echo,
        stream: async (s) => {
          for (const m of ['one', 'two', 'three']) await s.send(message(m))
          await s.close()
        },
      })
      const stream = await open(client, address)
      expect(await drain(stream)).toEqual(['one', 'two', 'three'])
    })

    it('a server closing with an error reaches the client’s recv() as that MicroError', async () => {
      const { client, address } = await pair({
        ...echo,
        stream: async (s) => {
          await s.send(message('first'))
          await s.close(new MicroError('conformance', 409, 'stream conflict: expected by the test'))
        },
      })
      const stream = await open(client, address)
      expect(text((await stream.recv())!.body)).toBe('first')
      const err = await stream.recv().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isMicroErrorShape(err), describeError(err)).toBe(true)
      expect((err as ErrorShape).code).toBe(409)
      expect((err as ErrorShape).detail).toBe('stream conflict: expected by the test')
    })

    it('a stream handler that throws reaches the client’s recv() as a MicroError', async () => {
      const { client, address } = await pair({
        ...echo,
        stream: async () => {
          throw new Error('stream handler failure: expected by the test')
        },
      })
      const stream = await open(client, address)
      const err = await stream.recv().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isMicroErrorShape(err), describeError(err)).toBe(true)
    })

    it('client close() tears the stream down: the server’s recv() ends and its signal aborts', async () => {
      let serverEnded = false
      let serverSignal: AbortSignal | undefined
      const { client, address } = await pair({
        ...echo,
        stream: async (s) => {
          serverSignal = s.signal
          try {
            while ((await s.recv()) !== undefined) {}
          } catch {
            // a torn-down stream may reject instead of ending
          }
          serverEnded = true
        },
      })
      const stream = await open(client, address)
      await stream.send(message('hello'))
      await eventually(() => expect(serverSignal).toBeDefined(), failWithin)
      await stream.close()
      await eventually(() => expect(serverEnded).toBe(true), failWithin)
      await eventually(() => expect(serverSignal!.aborted).toBe(true), failWithin)
    })

    it('a server without a stream handler rejects streams with a 501 MicroError', async () => {
      const { client, address } = await pair(echo)
      const err = await failure(
        client.stream(address, message(new Uint8Array(0))).then(async (s) => {
          h.defer('stream.close()', () => s.close().catch(() => {}))
          await s.recv()
          throw new Error('the stream opened and ended without an error')
        }),
        failWithin,
      ).catch((e: unknown) => e)
      expect(isMicroErrorShape(err), describeError(err)).toBe(true)
      expect((err as ErrorShape).code).toBe(501)
    })

    it('20 streams at once on one client do not mix their messages', async () => {
      const { client, address } = await pair(echoStream)
      await Promise.all(
        Array.from({ length: 20 }, async (_, n) => {
          const stream = await open(client, address, { 'x-stream': `s${n}` })
          const sent = Array.from({ length: 10 }, (_, i) => `s${n}-m${i}`)
          for (const s of sent) await stream.send(message(s))
          await stream.closeSend()
          expect(await drain(stream)).toEqual([...sent.map((s, i) => `${i}:${s}`), `bye:s${n}`])
        }),
      )
    })

    it(`a ${size(large)} stream message arrives intact`, async () => {
      const body = randomBytes(large)
      const { client, address } = await pair({
        ...echo,
        stream: async (s) => {
          const m = await s.recv()
          if (m) await s.send(m)
          await s.close()
        },
      })
      const stream = await open(client, address)
      await stream.send(message(body))
      const m = await stream.recv()
      expectBytes(m?.body, body, 'stream message')
      expect(await stream.recv()).toBeUndefined()
    })
  })
}
