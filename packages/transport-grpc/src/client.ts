/**
 * The client side: per address a few gRPC channels (each its own HTTP/2 connection), on each
 * many calls of go-micro's `Stream` method. A call is a go-micro transport "socket": a unary
 * request sends one message on an idle socket and waits for one message back, then the socket
 * goes back to the pool for the next request (go-micro's client pool does the same); a stream
 * gets a socket of its own.
 */
import {
  type ChannelCredentials,
  type ChannelOptions,
  Client,
  type ClientDuplexStream,
  connectivityState,
  Metadata,
  type StatusObject,
  status,
} from '@grpc/grpc-js'
import { type ClientStream, MicroError, TransportError, type TransportMessage } from '@micro-ts/core'
import { Inbox } from './inbox.js'
import {
  deserialize,
  EMPTY,
  receivedHeaders,
  STREAM_PATH,
  serialize,
  streamEnd,
  type WireMessage,
  wireHeaders,
} from './message.js'
import { CLIENT_ID } from './options.js'
import { UNPROCESSED_TRAILER } from './server.js'

export type Call = ClientDuplexStream<WireMessage, WireMessage>

/** A failed connect: the request provably never left this process. */
function notDelivered(address: string, why: string, code = 503): TransportError {
  return new TransportError(`${address}: connect failed: ${why}`, { delivered: false, code })
}

/** The MicroError for a call that ended (gRPC status) while a request or stream still waited on it. */
export function statusError(address: string, st: StatusObject): MicroError {
  if (st.metadata?.get(UNPROCESSED_TRAILER).length) {
    return new TransportError(`${address}: the server closed the connection before processing the request`, {
      delivered: false,
      code: 503,
    })
  }
  const details = st.details || status[st.code] || 'no details'
  switch (st.code) {
    case status.OK:
      return new TransportError(`${address}: the server ended the call without answering`, {
        delivered: true,
      })
    case status.RESOURCE_EXHAUSTED:
      return new MicroError(CLIENT_ID, 413, `${address}: message too large: ${details}`)
    case status.UNIMPLEMENTED:
      // Nothing ran: the server does not have go-micro's transport service.
      return new TransportError(`${address} does not serve go-micro's gRPC transport: ${details}`, {
        delivered: false,
        code: 501,
      })
    case status.DEADLINE_EXCEEDED:
      return new MicroError(CLIENT_ID, 408, `${address}: ${details}`)
    case status.UNAUTHENTICATED:
      return new MicroError(CLIENT_ID, 401, `${address}: ${details}`)
    case status.PERMISSION_DENIED:
      return new MicroError(CLIENT_ID, 403, `${address}: ${details}`)
    default:
      return new TransportError(
        `${address}: connection lost before the answer arrived, the request may have run: ${details}`,
        { delivered: true, code: 503 },
      )
  }
}

/** One gRPC channel: one HTTP/2 connection and the idle sockets on it. */
export class Conn {
  readonly client: Client
  readonly idle: ClientSocket[] = []
  private connecting?: Promise<void>

  constructor(
    private readonly address: string,
    target: string,
    creds: ChannelCredentials,
    options: ChannelOptions,
    private readonly tls: boolean,
  ) {
    // A local subchannel pool: without it grpc-js shares one connection among equal channels.
    this.client = new Client(target, creds, { ...options, 'grpc.use_local_subchannel_pool': 1 })
  }

  /** Failed or closed: a fresh channel should replace it (a new connect attempt right away). */
  get broken(): boolean {
    const s = this.client.getChannel().getConnectivityState(false)
    return s === connectivityState.TRANSIENT_FAILURE || s === connectivityState.SHUTDOWN
  }

  get ready(): boolean {
    return this.client.getChannel().getConnectivityState(false) === connectivityState.READY
  }

  /**
   * Resolves once connected. A failed attempt or `timeout` rejects with a TransportError marked
   * not delivered: nothing is sent before the connection is up.
   */
  connect(timeout: number): Promise<void> {
    const channel = this.client.getChannel()
    const first = channel.getConnectivityState(true)
    if (first === connectivityState.READY) return Promise.resolve()
    if (this.connecting) return this.connecting
    const deadline = Date.now() + timeout
    const promise = new Promise<void>((resolve, reject) => {
      const step = (state: connectivityState) => {
        if (state === connectivityState.READY) resolve()
        else if (state === connectivityState.TRANSIENT_FAILURE) {
          reject(
            notDelivered(
              this.address,
              this.tls
                ? 'connection refused, unreachable, or the TLS handshake failed'
                : 'connection refused, unreachable, or the server wants TLS',
            ),
          )
        } else if (state === connectivityState.SHUTDOWN) {
          reject(notDelivered(this.address, 'the channel is closed'))
        } else {
          channel.watchConnectivityState(state, deadline, (err) => {
            if (err)
              reject(notDelivered(this.address, `no connection within ${timeout}ms (connect timeout)`, 503))
            else step(channel.getConnectivityState(true))
          })
        }
      }
      step(first)
    })
    this.connecting = promise
    const clear = () => {
      if (this.connecting === promise) this.connecting = undefined
    }
    promise.then(clear, clear)
    return promise
  }

  openCall(): Call {
    return this.client.makeBidiStreamRequest(STREAM_PATH, serialize, deserialize, new Metadata(), {})
  }

  close(): void {
    for (const s of this.idle.splice(0)) s.end()
    this.client.close()
  }
}

/** What a unary request waits with on a socket. */
export interface Pending {
  reply(message: WireMessage): void
  fail(error: MicroError): void
}

/** A pooled socket (one gRPC call) carrying unary requests one after another. */
export class ClientSocket {
  readonly call: Call
  pending?: Pending
  /** The call is over (or being ended): never reused. */
  dead = false
  idleSince = 0

  constructor(
    readonly conn: Conn,
    private readonly address: string,
  ) {
    this.call = conn.openCall()
    this.call.on('data', (m: WireMessage) => this.onData(m))
    this.call.on('status', (st: StatusObject) => this.onStatus(st))
    this.call.on('error', () => {
      // the 'status' event carries the same information
    })
  }

  send(message: WireMessage, pending: Pending): void {
    this.pending = pending
    this.call.write(message)
  }

  private onData(m: WireMessage): void {
    const p = this.pending
    this.pending = undefined
    if (!p) {
      // An answer nobody asked for: the socket is out of step; drop it.
      this.destroy()
      return
    }
    p.reply(m)
  }

  private onStatus(st: StatusObject): void {
    this.gone()
    const p = this.pending
    this.pending = undefined
    p?.fail(statusError(this.address, st))
  }

  private gone(): void {
    this.dead = true
    const i = this.conn.idle.indexOf(this)
    if (i !== -1) this.conn.idle.splice(i, 1)
  }

  /** Half-close: the server answers what it has and ends the call (go-micro's server does too). */
  end(): void {
    if (this.dead) return
    this.gone()
    this.call.end()
  }

  /** Cancel the call (deadline, cancellation, a broken exchange): the server's handler is told. */
  destroy(): void {
    this.gone()
    this.call.cancel()
  }
}

/** A stream on a socket of its own, with go-micro's conventions (EOS / error JSON in `Micro-Error`). */
export class GrpcClientStream implements ClientStream {
  private readonly inbox: Inbox
  private localEnded = false
  private remoteEnded = false
  private closed = false
  private failure?: MicroError
  onceClosed?: () => void

  constructor(
    private readonly call: Call,
    /** The channel the stream's call runs on. */
    readonly conn: Conn,
    private readonly address: string,
    /** The opening headers, repeated on every message: go-micro routes each by its `Micro-Stream`. */
    private readonly base: Record<string, string>,
    private readonly maxMessageSize: number,
  ) {
    this.inbox = new Inbox(
      () => call.pause(),
      () => call.resume(),
    )
    call.on('data', (m: WireMessage) => this.onData(m))
    call.on('status', (st: StatusObject) => this.onStatus(st))
    call.on('error', () => {
      // the 'status' event carries the same information
    })
  }

  send(message: TransportMessage): Promise<void> {
    if (this.failure) return Promise.reject(this.failure)
    if (this.localEnded || this.closed) {
      return Promise.reject(new MicroError(CLIENT_ID, 500, 'stream: send after closeSend() or close()'))
    }
    const body = message?.body ?? EMPTY
    if (body.length > this.maxMessageSize) {
      return Promise.reject(
        new MicroError(
          CLIENT_ID,
          413,
          `stream message of ${body.length} bytes exceeds the limit of ${this.maxMessageSize}`,
        ),
      )
    }
    return this.write({ header: wireHeaders(message?.headers, this.base), body })
  }

  recv(): Promise<TransportMessage | undefined> {
    return this.inbox.recv()
  }

  /** go-micro has no half-close on the wire: the end of our side is a message with `Micro-Error: EOS`. */
  async closeSend(): Promise<void> {
    if (this.localEnded || this.closed || this.failure) return
    this.localEnded = true
    await this.write(this.eos()).catch(() => {})
    this.settle()
  }

  /** Like go-micro's `Close`: EOS, then the call goes (the server's handler sees its signal fire). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.inbox.fail(new MicroError(CLIENT_ID, 499, 'stream: closed by the client'))
    if (this.remoteEnded && this.localEnded) {
      this.call.end()
    } else if (!this.localEnded && !this.failure) {
      this.localEnded = true
      this.call.write(this.eos(), () => this.call.cancel())
    } else {
      this.call.cancel()
    }
    this.finish()
  }

  /** Deadline or cancellation: fail both ways at once. */
  abort(reason: MicroError): void {
    if (this.failure || this.closed) return
    this.failure = reason
    this.inbox.fail(reason)
    this.call.cancel()
    this.finish()
  }

  private eos(): WireMessage {
    return { header: { ...this.base, 'Micro-Error': 'EOS' }, body: EMPTY }
  }

  private write(m: WireMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      this.call.write(m, (err?: Error | null) => {
        if (err)
          reject(
            this.failure ??
              new TransportError(`stream to ${this.address}: ${err.message}`, { delivered: true }),
          )
        else resolve()
      })
    })
  }

  private onData(m: WireMessage): void {
    if (this.remoteEnded) return
    const headers = receivedHeaders(m.header)
    const end = streamEnd(headers)
    if (end === 'eos') {
      this.remoteEnded = true
      this.inbox.end()
      this.settle()
    } else if (end !== undefined) {
      this.remoteEnded = true
      this.inbox.end(MicroError.parse(end))
      this.settle()
    } else if (m.body.length > this.maxMessageSize) {
      this.abort(
        new MicroError(
          CLIENT_ID,
          413,
          `stream message of ${m.body.length} bytes exceeds the limit of ${this.maxMessageSize}`,
        ),
      )
    } else {
      this.inbox.push({ headers, body: m.body })
    }
  }

  private onStatus(st: StatusObject): void {
    if (!this.remoteEnded) {
      this.remoteEnded = true
      // A clean end of the call without EOS is still an end; anything else is a failure.
      if (st.code === status.OK) this.inbox.end()
      else this.inbox.end(statusError(this.address, st))
    }
    this.finish()
  }

  /** Both sides ended: half-close the call so the server can complete it. */
  private settle(): void {
    if (this.localEnded && this.remoteEnded && !this.closed) this.call.end()
  }

  private finish(): void {
    const cb = this.onceClosed
    this.onceClosed = undefined
    cb?.()
  }
}
