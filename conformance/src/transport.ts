/**
 * The transport suite: go-micro's transport tests (echo, server close, timeout, close during
 * recv, several sends while receiving) plus concurrency on one client, large messages,
 * case-insensitive headers, cancellation, bad addresses and the bidirectional stream contract.
 */
import {
  type ClientStream,
  type Listener,
  MicroError,
  type Transport,
  type TransportHandler,
  type TransportMessage,
} from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import { defineSuite, harness, has } from './suite.js'
import type { CommonOptions, SuiteSpec } from './types.js'
import {
  allBytes,
  describeError,
  type ErrorShape,
  eventually,
  expectBytes,
  header,
  isMicroErrorShape,
  randomBytes,
  size,
  sleep,
  text,
  uniqueName,
  utf8,
} from './util.js'

/**
 * - `stream`: bidirectional streams (`transport.stream()` and `TransportHandler.stream`).
 *   Absent: `stream()` (or the stream's first `recv()`) rejects with a MicroError.
 */
export type TransportCapability = 'stream'
export const TRANSPORT_CAPABILITIES: readonly TransportCapability[] = ['stream']

export interface TransportConformanceOptions extends CommonOptions {
  /** Where servers listen (default `127.0.0.1:0`: the port must be resolved by the listener). */
  listenAddress?: string
  /** Size of the large-message case, bytes (default 4 MiB). */
  largeMessageSize?: number
  /** Requests in flight at once in the concurrency case (default 1 000). */
  concurrency?: number
  /** The deadline the timeout case sets, ms (default 200). */
  deadline?: number
  /** How long a request that must fail may take to fail ("no hang"), ms (default 5 000). */
  failWithin?: number
}

export type TransportConformanceSpec = SuiteSpec<Transport, TransportCapability, TransportConformanceOptions>

/** Register the transport conformance suite for one transport implementation. */
export function transportConformance(spec: TransportConformanceSpec): void {
  defineSuite('transport', spec, TRANSPORT_CAPABILITIES, () => transportSuite(spec))
}

function message(body: string | Uint8Array, headers: Record<string, string> = {}): TransportMessage {
  return { headers, body: typeof body === 'string' ? utf8(body) : body }
}

/** Echo the body and every `x-` header back, plus `x-reply`. */
const echo: TransportHandler = {
  async request(m) {
    const headers: Record<string, string> = { 'X-Reply': 'yes' }
    for (const [k, v] of Object.entries(m.headers)) if (k.toLowerCase().startsWith('x-')) headers[k] = v
    return { headers, body: m.body }
  },
}

/**
 * The error a request ended with: transports may reject with a MicroError, or answer with the
 * error in a `Micro-Error` header (go-micro's HTTP transport); both are accepted, nothing else.
 */
async function failure(request: Promise<TransportMessage>, within: number): Promise<ErrorShape> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<'hang'>((resolve) => {
    timer = setTimeout(() => resolve('hang'), within)
  })
  try {
    const outcome = await Promise.race([
      request.then(
        (m) => ({ ok: true as const, m }),
        (e: unknown) => ({ ok: false as const, e }),
      ),
      hang,
    ])
    if (outcome === 'hang') throw new Error(`the request neither failed nor answered within ${within} ms`)
    if (!outcome.ok) {
      if (!isMicroErrorShape(outcome.e))
        throw new Error(`expected a MicroError, got ${describeError(outcome.e)}`)
      return outcome.e
    }
    const remote = header(outcome.m.headers, 'micro-error')
    if (remote === undefined)
      throw new Error(`expected an error, got an answer: ${text(outcome.m.body).slice(0, 200)}`)
    return MicroError.parse(remote)
  } finally {
    clearTimeout(timer)
  }
}

function transportSuite(spec: TransportConformanceSpec): void {
  const o = spec.options ?? {}
  const listenAddress = o.listenAddress ?? '127.0.0.1:0'
  const large = o.largeMessageSize ?? 4 * 1024 * 1024
  const concurrency = o.concurrency ?? 1_000
  const deadline = o.deadline ?? 200
  const failWithin = o.failWithin ?? 5_000
  const closeTimeout = o.closeTimeout ?? 10_000
  const h = harness('transport', spec, (t) => t.close(), closeTimeout)

  /** A server transport listening with `handler`, and a separate client transport. */
  async function pair(
    handler: TransportHandler,
    options?: { maxBodySize?: number },
  ): Promise<{ client: Transport; listener: Listener; address: string }> {
    const server = await h.fresh()
    const listener = await server.listen(listenAddress, handler, options)
    h.defer('listener.close()', () => listener.close(0).catch(() => {}))
    const client = await h.fresh()
    return { client, listener, address: listener.address }
  }

  /** A handler that waits until its request is aborted (or 30 s), recording that it saw the abort. */
  function hanging(): { handler: TransportHandler; started: () => boolean; aborted: () => boolean } {
    let started = false
    let aborted = false
    const handler: TransportHandler = {
      request: (_m, ctx) =>
        new Promise((resolve) => {
          started = true
          const timer = setTimeout(() => resolve(message('late')), 30_000)
          const done = () => {
            aborted = true
            clearTimeout(timer)
            resolve(message('aborted'))
          }
          if (ctx.signal.aborted) done()
          else ctx.signal.addEventListener('abort', done, { once: true })
        }),
    }
    return { handler, started: () => started, aborted: () => aborted }
  }

  describe('requests', () => {
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
      const t = await h.fresh()
      await h.close(t)
      await t.close()
    })
  })

  describe('deadlines, cancellation and shutdown', () => {
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

  describe('stream', () => {
    if (!has(spec, 'stream')) {
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

    async function open(
      client: Transport,
      address: string,
      headers: Record<string, string> = {},
    ): Promise<ClientStream> {
      const stream = await client.stream(address, message(new Uint8Array(0), headers))
      h.defer('stream.close()', () => stream.close().catch(() => {}))
      return stream
    }

    /** Every message until the end of the stream (bounded, so a stream that never ends fails instead of looping). */
    async function drain(stream: ClientStream, max = 1_000): Promise<string[]> {
      const out: string[] = []
      while (out.length <= max) {
        const m = await stream.recv()
        if (m === undefined) return out
        out.push(text(m.body))
      }
      throw new Error(`the stream sent more than ${max} messages without ending`)
    }

    /** Echo every message with its index, then `bye` once the client closed its side. */
    const echoStream: TransportHandler = {
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
