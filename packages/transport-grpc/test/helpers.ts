/** Test helpers: transports that clean up after each test, raw grpc-js peers, a freezable TCP proxy. */
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net'
import * as grpc from '@grpc/grpc-js'
import {
  type ErrorShape,
  expectMicroError,
  silentServer as silentTcpServer,
} from '@micro-ts/conformance/testing'
import type { Listener, ListenOptions, Transport, TransportHandler, TransportMessage } from '@micro-ts/core'
import { afterEach } from 'vitest'
import { createGrpcTransport, type GrpcTransportOptions } from '../src/index.js'
import { deserialize, STREAM_PATH, serialize, type WireMessage } from '../src/message.js'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => {})
})
export function defer(fn: () => unknown): void {
  cleanups.push(fn)
}

export const utf8 = (s: string): Uint8Array => Buffer.from(s)
export const text = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString('utf8')
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
export const message = (
  body: string | Uint8Array,
  headers: Record<string, string> = {},
): TransportMessage => ({
  headers,
  body: typeof body === 'string' ? utf8(body) : body,
})

export function transport(options: GrpcTransportOptions = {}): Transport {
  const t = createGrpcTransport(options)
  defer(() => t.close())
  return t
}

export async function serve(
  handler: TransportHandler,
  options: GrpcTransportOptions = {},
  listen: ListenOptions = {},
  address = '127.0.0.1:0',
): Promise<{ listener: Listener; address: string }> {
  const listener = await transport(options).listen(address, handler, listen)
  defer(() => listener.close(0))
  return { listener, address: listener.address }
}

export const echo: TransportHandler = {
  async request(m) {
    return { headers: { 'X-Echo': 'yes' }, body: m.body }
  },
}

/** The MicroError a promise rejects with (fails the test if it resolves or rejects with anything else). */
export async function rejection(p: Promise<unknown>): Promise<ErrorShape & Record<string, unknown>> {
  return (await expectMicroError(p)) as ErrorShape & Record<string, unknown>
}

/** A plain grpc-js client of go-micro's method: what a go-micro peer would put on the wire. */
export function rawClient(address: string): grpc.Client {
  const c = new grpc.Client(address, grpc.credentials.createInsecure())
  defer(() => c.close())
  return c
}

export type RawCall = grpc.ClientDuplexStream<WireMessage, WireMessage>

/** One raw call with helpers to read what comes back in order, and its final status. */
export function rawCall(client: grpc.Client, ser: (m: WireMessage) => Buffer = serialize) {
  const call: RawCall = client.makeBidiStreamRequest(STREAM_PATH, ser, deserialize, new grpc.Metadata(), {})
  const received: WireMessage[] = []
  const waiters: ((m: WireMessage) => void)[] = []
  call.on('data', (m: WireMessage) => {
    const w = waiters.shift()
    if (w) w(m)
    else received.push(m)
  })
  call.on('error', () => {})
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve))
  return {
    call,
    status,
    send: (header: Record<string, string>, body: string | Uint8Array = '') =>
      call.write({ header, body: typeof body === 'string' ? utf8(body) : body }),
    next: (): Promise<WireMessage> => {
      const m = received.shift()
      return m ? Promise.resolve(m) : new Promise((r) => waiters.push(r))
    },
  }
}

/** A plain grpc-js server of go-micro's method, with our implementation of nothing. */
export async function rawServer(
  impl: (call: grpc.ServerDuplexStream<WireMessage, WireMessage>) => void,
  withService = true,
): Promise<string> {
  const server = new grpc.Server()
  if (withService) {
    server.addService(
      {
        Stream: {
          path: STREAM_PATH,
          requestStream: true,
          responseStream: true,
          requestSerialize: serialize,
          requestDeserialize: deserialize,
          responseSerialize: serialize,
          responseDeserialize: deserialize,
        },
      },
      { Stream: impl },
    )
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  )
  defer(() => server.forceShutdown())
  return `127.0.0.1:${port}`
}

/** A TCP server that accepts connections and never says a word (a hung peer), closed after the test. */
export async function silentServer(): Promise<string> {
  const server = await silentTcpServer()
  defer(() => server.close())
  return server.address
}

/** A TCP proxy to `target` that can freeze: bytes stop flowing both ways, connections stay open. */
export async function proxy(target: string): Promise<{ address: string; freeze(): void }> {
  const [host, port] = [
    target.slice(0, target.lastIndexOf(':')),
    Number(target.slice(target.lastIndexOf(':') + 1)),
  ]
  let frozen = false
  const sockets = new Set<Socket>()
  const server: NetServer = createServer((inbound) => {
    const outbound = connect(port, host)
    for (const s of [inbound, outbound]) {
      sockets.add(s)
      s.on('error', () => {})
    }
    inbound.on('data', (d) => {
      if (!frozen) outbound.write(d)
    })
    outbound.on('data', (d) => {
      if (!frozen) inbound.write(d)
    })
    inbound.on('close', () => outbound.destroy())
    outbound.on('close', () => inbound.destroy())
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  defer(() => {
    for (const s of sockets) s.destroy()
    return new Promise((r) => server.close(r))
  })
  return {
    address: `127.0.0.1:${(server.address() as { port: number }).port}`,
    freeze: () => {
      frozen = true
    },
  }
}
