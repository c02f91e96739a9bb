import { randomUUID } from 'node:crypto'
import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js'
import {
  type ClientStream,
  type Listener,
  type ListenOptions,
  type Logger,
  MicroError,
  type RequestOptions,
  silentLogger,
  type Transport,
  TransportError,
  type TransportHandler,
  type TransportMessage,
} from '@micro-ts/core'
import { abortReason, dialTarget, formatAddress, type LongTimer, setLongTimeout } from '@micro-ts/core/plugin'
import { ClientSocket, Conn, GrpcClientStream, type Pending } from './client.js'
import { EMPTY, type WireMessage, wireHeaders } from './message.js'
import {
  CLIENT_ID,
  clientCredentials,
  type GrpcTransportOptions,
  HEADER_ALLOWANCE,
  type ResolvedOptions,
  resolveOptions,
  SERVER_ID,
} from './options.js'
import { GrpcListener } from './server.js'

/** How long close() lets requests in flight finish before cutting them off. */
const CLOSE_GRACE_MS = 2_000

/** The channels of one address. */
class Peer {
  private next = 0
  used = true

  constructor(readonly conns: Conn[]) {}

  /** Round robin; a failed channel is replaced, so every request after a failure tries to connect again. */
  pick(fresh: () => Conn): Conn {
    const i = this.next
    this.next = (i + 1) % this.conns.length
    let conn = this.conns[i]
    if (conn.broken) {
      conn.close()
      conn = fresh()
      this.conns[i] = conn
    }
    return conn
  }

  get idle(): number {
    let n = 0
    for (const c of this.conns) n += c.idle.length
    return n
  }
}

function hasHeader(headers: Record<string, string>, lower: string): boolean {
  for (const k in headers) if (k.toLowerCase() === lower) return true
  return false
}

/**
 * go-micro's gRPC transport (`MICRO_TRANSPORT=grpc`): every transport socket is a call of
 * `go.micro.transport.grpc.Transport/Stream`, carrying `Message {header, body}` both ways.
 */
export class GrpcTransport implements Transport {
  readonly name = 'grpc'
  private readonly opts: ResolvedOptions
  private readonly logger: Logger
  private readonly creds: ChannelCredentials
  private readonly channelOptions: ChannelOptions
  private readonly peers = new Map<string, Peer>()
  private readonly streams = new Set<GrpcClientStream>()
  /** Sockets with a request in flight (cut off by close() after a grace period). */
  private readonly busy = new Set<ClientSocket>()
  private sweeper?: NodeJS.Timeout
  private closed = false

  constructor(options: GrpcTransportOptions = {}) {
    this.opts = resolveOptions(options)
    this.logger = options.logger ?? silentLogger
    this.creds = clientCredentials(this.opts.tls)
    const o = this.opts
    this.channelOptions = {
      'grpc.max_receive_message_length': o.maxMessageSize + HEADER_ALLOWANCE,
      'grpc.max_send_message_length': o.maxMessageSize + HEADER_ALLOWANCE,
      ...(o.keepaliveTime
        ? {
            'grpc.keepalive_time_ms': o.keepaliveTime,
            'grpc.keepalive_timeout_ms': o.keepaliveTimeout,
            'grpc.keepalive_permit_without_calls': 1,
          }
        : {}),
      ...(o.tls?.serverName
        ? { 'grpc.ssl_target_name_override': o.tls.serverName, 'grpc.default_authority': o.tls.serverName }
        : {}),
    }
  }

  async listen(address: string, handler: TransportHandler, options: ListenOptions = {}): Promise<Listener> {
    const max = options.maxBodySize ?? this.opts.maxMessageSize
    if (!(typeof max === 'number' && max > 0)) {
      throw new MicroError(SERVER_ID, 400, `maxBodySize must be a positive number of bytes, got ${max}`)
    }
    const listener = new GrpcListener(handler, {
      maxBodySize: max,
      keepaliveTime: this.opts.keepaliveTime,
      keepaliveTimeout: this.opts.keepaliveTimeout,
      tls: this.opts.tls,
      logger: this.logger,
    })
    return listener.listen(address)
  }

  request(
    address: string,
    message: TransportMessage,
    options: RequestOptions = {},
  ): Promise<TransportMessage> {
    return this.unary(address, message, options)
  }

  private async unary(
    address: string,
    message: TransportMessage,
    options: RequestOptions,
  ): Promise<TransportMessage> {
    const { signal, timeout } = options
    if (this.closed) throw new TransportError('grpc transport is closed', { delivered: false, code: 503 })
    const peer = this.peer(address)
    if (signal?.aborted) throw abortReason(signal, CLIENT_ID)
    const body = message?.body ?? EMPTY
    if (body.length > this.opts.maxMessageSize) {
      throw new TransportError(
        `request body of ${body.length} bytes exceeds the limit of ${this.opts.maxMessageSize} bytes`,
        { delivered: false, code: 413 },
      )
    }
    const headers = message?.headers ?? {}
    const wire: WireMessage = { header: wireHeaders(headers), body }
    const deadline = timeout !== undefined && timeout > 0 && Number.isFinite(timeout)

    return new Promise<TransportMessage>((resolve, reject) => {
      let settled = false
      let socket: ClientSocket | undefined
      let timer: LongTimer | undefined
      const done = (err: MicroError | undefined, reply?: TransportMessage) => {
        if (settled) return
        settled = true
        timer?.clear()
        signal?.removeEventListener('abort', onAbort)
        if (socket) this.busy.delete(socket)
        if (err) reject(err)
        else resolve(reply as TransportMessage)
      }
      // Stop waiting and drop the socket: the server sees the call cancelled and aborts its handler.
      const abort = (reason: MicroError) => {
        if (settled) return
        const s = socket
        done(reason)
        s?.destroy()
      }
      const onAbort = () => abort(abortReason(signal as AbortSignal, CLIENT_ID))
      signal?.addEventListener('abort', onAbort, { once: true })
      if (deadline) {
        timer = setLongTimeout(
          () => abort(new MicroError(CLIENT_ID, 408, `request to ${address} timed out after ${timeout}ms`)),
          timeout,
        )
      }
      const pending: Pending = {
        reply: (m) => {
          const s = socket as ClientSocket
          if (m.body.length > this.opts.maxMessageSize) {
            this.release(peer, s)
            done(
              new MicroError(
                CLIENT_ID,
                413,
                `${address}: response of ${m.body.length} bytes exceeds the limit of ${this.opts.maxMessageSize} bytes`,
              ),
            )
            return
          }
          this.release(peer, s)
          const reply: TransportMessage = { headers: {}, body: m.body }
          for (const k in m.header) reply.headers[k.toLowerCase()] = m.header[k]
          done(undefined, reply)
        },
        fail: (err) => done(err),
      }
      const conn = peer.pick(() => this.conn(address))
      const reused = conn.ready ? conn.idle.pop() : undefined
      if (reused) {
        socket = reused
        this.busy.add(reused)
        reused.send(wire, pending)
        return
      }
      conn.connect(this.opts.connectTimeout).then(
        () => {
          if (settled) return
          if (this.closed) {
            done(new TransportError('grpc transport is closed', { delivered: false, code: 503 }))
            return
          }
          socket = conn.idle.pop() ?? new ClientSocket(conn, address)
          this.busy.add(socket)
          socket.send(wire, pending)
        },
        (err: MicroError) => done(err),
      )
    })
  }

  /** Back to the pool for the next request, or ended when the pool is full or the transport closed. */
  private release(peer: Peer, socket: ClientSocket): void {
    this.busy.delete(socket)
    if (socket.dead) return
    if (this.closed || peer.idle >= this.opts.maxIdleSockets) {
      socket.end()
      return
    }
    socket.idleSince = Date.now()
    socket.conn.idle.push(socket)
  }

  async stream(
    address: string,
    message: TransportMessage,
    options: RequestOptions = {},
  ): Promise<ClientStream> {
    const { signal, timeout } = options
    if (this.closed) throw new TransportError('grpc transport is closed', { delivered: false, code: 503 })
    const peer = this.peer(address)
    if (signal?.aborted) throw abortReason(signal, CLIENT_ID)
    const body = message?.body ?? EMPTY
    if (body.length > this.opts.maxMessageSize) {
      throw new TransportError(
        `stream message of ${body.length} bytes exceeds the limit of ${this.opts.maxMessageSize} bytes`,
        { delivered: false, code: 413 },
      )
    }
    const headers = message?.headers ?? {}
    const base = wireHeaders(headers)
    const deadline = timeout !== undefined && timeout > 0 && Number.isFinite(timeout)
    // go-micro tells a stream from a request by this header; a caller that did not set one gets an id.
    if (!hasHeader(headers, 'micro-stream')) base['Micro-Stream'] = randomUUID()

    // The deadline and the signal cover the whole stream, the connect included.
    let stream: GrpcClientStream | undefined
    let timer: LongTimer | undefined
    let rejectOpening: ((e: MicroError) => void) | undefined
    const abort = (reason: MicroError) => {
      if (stream) stream.abort(reason)
      else rejectOpening?.(reason)
    }
    const onAbort = () => abort(abortReason(signal as AbortSignal, CLIENT_ID))
    const cleanup = () => {
      timer?.clear()
      signal?.removeEventListener('abort', onAbort)
      if (stream) this.streams.delete(stream)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    if (deadline) {
      timer = setLongTimeout(
        () => abort(new MicroError(CLIENT_ID, 408, `stream to ${address} timed out after ${timeout}ms`)),
        timeout,
      )
    }
    const conn = peer.pick(() => this.conn(address))
    try {
      await new Promise<void>((resolve, reject) => {
        rejectOpening = reject
        conn.connect(this.opts.connectTimeout).then(resolve, reject)
      })
    } catch (e) {
      cleanup()
      throw e
    }
    if (this.closed) {
      cleanup()
      throw new TransportError('grpc transport is closed', { delivered: false, code: 503 })
    }
    const call = conn.openCall()
    stream = new GrpcClientStream(call, conn, address, base, this.opts.maxMessageSize)
    stream.onceClosed = cleanup
    this.streams.add(stream)
    // go-micro's server takes the first message as the call itself and discards its body; a body
    // we were given goes out as the stream's first message instead.
    call.write({ header: base, body: EMPTY })
    if (body.length > 0) call.write({ header: base, body })
    return stream
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.sweeper) clearInterval(this.sweeper)
    const closing = new MicroError(CLIENT_ID, 503, 'grpc transport is closed')
    for (const s of this.streams) s.abort(closing)
    this.streams.clear()
    for (const peer of this.peers.values())
      for (const c of peer.conns) for (const s of c.idle.splice(0)) s.end()
    // Requests in flight get a moment to finish; then they are cut off.
    const deadline = Date.now() + CLOSE_GRACE_MS
    while (this.busy.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    for (const s of this.busy) s.destroy()
    this.busy.clear()
    for (const peer of this.peers.values()) for (const c of peer.conns) c.close()
    this.peers.clear()
  }

  private peer(address: string): Peer {
    const existing = this.peers.get(address)
    if (existing) {
      existing.used = true
      return existing
    }
    dialTarget(address) // validates, throws a TransportError (400) for a malformed address
    const peer = new Peer(Array.from({ length: this.opts.poolSize }, () => this.conn(address)))
    this.peers.set(address, peer)
    this.startSweeper()
    return peer
  }

  private conn(address: string): Conn {
    const { host, port } = dialTarget(address)
    return new Conn(
      address,
      formatAddress(host, port),
      this.creds,
      this.channelOptions,
      this.opts.tls !== undefined,
    )
  }

  /** Sockets idle past idleTimeout are ended; addresses nobody used since the last sweep are closed. */
  private startSweeper(): void {
    if (this.sweeper) return
    const every = Math.max(1_000, Math.min(this.opts.idleTimeout, 60_000))
    this.sweeper = setInterval(() => {
      const old = Date.now() - this.opts.idleTimeout
      for (const [address, peer] of this.peers) {
        for (const c of peer.conns) {
          for (const s of c.idle.filter((s) => s.idleSince <= old)) s.end()
        }
        if (peer.used || peer.idle > 0 || this.inUse(peer)) {
          peer.used = false
          continue
        }
        this.peers.delete(address)
        for (const c of peer.conns) c.close()
      }
    }, every)
    this.sweeper.unref()
  }

  private inUse(peer: Peer): boolean {
    for (const s of this.busy) if (peer.conns.includes(s.conn)) return true
    for (const s of this.streams) if (peer.conns.includes(s.conn)) return true
    return false
  }
}

/** go-micro's gRPC transport. */
export function createGrpcTransport(options: GrpcTransportOptions = {}): GrpcTransport {
  return new GrpcTransport(options)
}
