/**
 * What the transport test files share: transports and listeners that close after each test,
 * small handlers, raw sockets for hostile peers, and waiting helpers. Importing this file
 * registers an `afterEach` that runs everything handed to `defer` (last first).
 */
import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { afterEach, expect } from 'vitest'
import {
  createHttpTransport,
  createTcpTransport,
  type Listener,
  MicroError,
  type Transport,
  type TransportHandler,
  type TransportMessage,
} from '../src/index.js'

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
export const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8')

const cleanups: (() => Promise<unknown> | unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** Run `fn` after the current test (cleanups run last first). */
export function defer(fn: () => Promise<unknown> | unknown): void {
  cleanups.push(fn)
}

/** The built-in transports by name, for suites that run on each. */
export const TRANSPORTS: Record<string, () => Transport> = {
  http: () => createHttpTransport(),
  tcp: () => createTcpTransport(),
}

/** `create(options)`, closed after the test. */
export function closing<T extends Transport>(t: T): T {
  defer(() => t.close())
  return t
}

export interface ServeOptions {
  maxBodySize?: number
  address?: string
}

/** Listen with `handler` on a fresh transport from `create`; the listener closes after the test. */
export async function serve(
  create: () => Transport,
  handler: TransportHandler,
  options: ServeOptions = {},
): Promise<Listener> {
  const l = await create().listen(options.address ?? '127.0.0.1:0', handler, {
    maxBodySize: options.maxBodySize,
  })
  defer(() => l.close(0))
  return l
}

/**
 * A test file's `transport(options)` (closed after the test) and `serve(handler, options)`
 * (a listener of a fresh transport, closed after the test) for the transport `create` makes.
 */
export function transportKit<O, T extends Transport>(
  create: (options?: O) => T,
): {
  transport(options?: O): T
  serve(handler: TransportHandler, options?: ServeOptions): Promise<Listener>
} {
  return {
    transport: (options) => closing(create(options)),
    serve: (handler, options) => serve(() => create(), handler, options),
  }
}

/** Answers with the request's body, its Content-Type and its X-Echo header. */
export const echo: TransportHandler = {
  async request(msg) {
    return {
      headers: {
        'Content-Type': msg.headers['content-type'] ?? 'application/octet-stream',
        'X-Echo': msg.headers['x-echo'] ?? '',
      },
      body: msg.body,
    }
  },
}

export function message(body: string | Uint8Array, headers: Record<string, string> = {}): TransportMessage {
  return { headers, body: typeof body === 'string' ? utf8(body) : body }
}

/** The MicroError `p` rejects with (fails the test if it resolves or rejects with something else). */
export async function rejection(p: Promise<unknown>): Promise<MicroError> {
  try {
    await p
  } catch (e) {
    expect(e).toBeInstanceOf(MicroError)
    return e as MicroError
  }
  throw new Error('expected a rejection')
}

export function deferred<T = void>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

export async function until(check: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** A handler that waits until its request is aborted, recording the reasons. */
export function hanging(): { handler: TransportHandler; reasons: MicroError[]; started: () => number } {
  const reasons: MicroError[] = []
  let started = 0
  const handler: TransportHandler = {
    request: (_m, ctx) =>
      new Promise((resolve) => {
        started++
        const done = (reason: MicroError) => {
          reasons.push(reason)
          resolve(message('aborted'))
        }
        if (ctx.onAbort) {
          const off = ctx.onAbort((reason) => {
            off()
            done(reason)
          })
        } else
          ctx.signal.addEventListener('abort', () => done(ctx.signal.reason as MicroError), { once: true })
      }),
  }
  return { handler, reasons, started: () => started }
}

/** A plain TCP server standing in for a peer; `onSocket` decides what it does. */
export async function rawServer(
  onSocket: (socket: Socket) => void,
): Promise<{ address: string; server: Server }> {
  const sockets = new Set<Socket>()
  const server = createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
    onSocket(s)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  defer(() => {
    for (const s of sockets) s.destroy()
    return new Promise((r) => server.close(r))
  })
  const a = server.address() as { port: number }
  return { address: `127.0.0.1:${a.port}`, server }
}

/** An address nothing listens on (a port just freed). */
export async function deadAddress(): Promise<string> {
  const dead = createServer()
  dead.listen(0, '127.0.0.1')
  await once(dead, 'listening')
  const port = (dead.address() as { port: number }).port
  await new Promise((r) => dead.close(r))
  return `127.0.0.1:${port}`
}

export interface RawAnswer {
  /** The server closed the connection within the wait. */
  closed: boolean
  received: Buffer
  /** `received` as latin1 text. */
  text: string
}

/** Send raw bytes to `address`; collect what comes back until the server closes (or `ms` passes). */
export async function raw(address: string, data: string | Buffer, ms = 3_000): Promise<RawAnswer> {
  const socket = rawSocket(address)
  const chunks: Buffer[] = []
  socket.on('data', (c) => chunks.push(c))
  socket.write(data)
  const closed = await Promise.race([
    once(socket, 'close').then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), ms)),
  ])
  socket.destroy()
  const received = Buffer.concat(chunks)
  return { closed, received, text: received.toString('latin1') }
}

/** A client socket to `address`, destroyed after the test. */
export function rawSocket(address: string): Socket {
  const i = address.lastIndexOf(':')
  const socket = connect(Number(address.slice(i + 1)), address.slice(0, i))
  socket.on('error', () => {})
  defer(() => socket.destroy())
  return socket
}

/** `fn` throws a 400 MicroError of go.micro.transport whose detail matches `detail`. */
export function expectBadOption(fn: () => unknown, detail: RegExp): void {
  let err: unknown
  try {
    fn()
  } catch (e) {
    err = e
  }
  expect(err).toBeInstanceOf(MicroError)
  const e = err as MicroError
  expect(e.code).toBe(400)
  expect(e.id).toBe('go.micro.transport')
  expect(e.detail).toMatch(detail)
}

/** The tcp transport's preface ("mTC", version 1), sent first by both sides. */
export const TCP_PREFACE: Buffer = Buffer.from([0x6d, 0x54, 0x43, 0x01])

/** One tcp transport frame: `length (u32) | type (u8) | id (u32) | payload`; `length` may lie. */
export function tcpFrame(type: number, id: number, payload: Buffer, length = 5 + payload.length): Buffer {
  const head = Buffer.alloc(9)
  head.writeUInt32BE(length, 0)
  head[4] = type
  head.writeUInt32BE(id, 5)
  return Buffer.concat([head, payload])
}

/** A tcp message payload without headers: `headerBytes (u32) = 0 | body`. */
export function tcpMessage(body: Buffer): Buffer {
  return Buffer.concat([Buffer.alloc(4), body])
}
