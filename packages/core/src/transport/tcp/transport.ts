import type { Logger } from '../../logger.js'
import { abortReason } from '../../util/abort.js'
import { dialTarget } from '../../util/address.js'
import { BuiltinTransport, CLOSE_GRACE_MS, within } from '../net.js'
import type {
  ClientStream,
  ListenOptions,
  RequestOptions,
  Transport,
  TransportHandler,
  TransportMessage,
} from '../types.js'
import { ClientConnection, type ConnectionOptions } from './client.js'
import { tcpTransportOptions } from './options.js'
import { TcpListener } from './server.js'
import type { TcpClientStream } from './stream.js'

const ERROR_ID = 'go.micro.client'

export interface TcpTransportOptions {
  /**
   * Connections per address (default 1), go-micro's client pool size. Every connection carries
   * any number of requests and streams at once; more than one only helps when one socket's
   * syscalls are the limit.
   */
  poolSize?: number
  /** Dial timeout in ms, up to the server's preface (go-micro's DefaultDialTimeout, 5 s). */
  connectTimeout?: number
  /**
   * A connection with nothing in flight for this many ms is closed, both ends (default 60 s); a
   * listener also counts a frame that stalls half-sent as nothing.
   */
  idleTimeout?: number
  /** Largest response body or stream message the client accepts, in bytes (default 64 MiB). */
  maxResponseSize?: number
  /** TCP keep-alive probes start after this many ms of silence, both ends (default 30 s). */
  keepAlive?: number
  /** Listener: most client connections held at once; more are closed as they arrive (default 1,024). */
  maxConnections?: number
  /** Listener: most streams one connection may have open; more are refused with 429 (default 256). */
  maxStreams?: number
  /**
   * Listener: most bytes held that no handler has taken (frames still arriving, request bodies in
   * flight, unread stream messages), across connections (default 64 MiB); past it, connections
   * are read only as bytes are freed.
   */
  maxBuffered?: number
  logger?: Logger
}

/** The connections to one address. */
class Pool {
  readonly slots: (ClientConnection | undefined)[]
  private next = 0

  constructor(
    private readonly address: string,
    private readonly options: ConnectionOptions,
    size: number,
  ) {
    this.slots = new Array(size).fill(undefined)
  }

  /** A usable connection, dialing one when its slot is empty or its connection is gone. */
  pick(): ClientConnection {
    const slots = this.slots
    let i = 0
    if (slots.length > 1) {
      i = this.next
      this.next = i + 1 === slots.length ? 0 : i + 1
    }
    const c = slots[i]
    if (c?.usable) return c
    const fresh = new ClientConnection(this.address, this.options)
    slots[i] = fresh
    return fresh
  }

  all(): ClientConnection[] {
    return this.slots.filter((c): c is ClientConnection => c !== undefined)
  }
}

/**
 * A multiplexed, length-prefixed TCP transport: one persistent connection per address (or a
 * few) carries every request and stream in flight, answered by id; frames written in one tick
 * leave in one write. Only our services speak it (it is not go-micro's tcp transport).
 */
export class TcpTransport
  extends BuiltinTransport<typeof tcpTransportOptions, TcpClientStream>
  implements Transport
{
  private readonly pools = new Map<string, Pool>()

  constructor(options: TcpTransportOptions = {}) {
    super('tcp', tcpTransportOptions, options)
  }

  protected listener(handler: TransportHandler, options: ListenOptions): TcpListener {
    const { keepAlive, idleTimeout, maxConnections, maxStreams, maxBuffered } = this.opts
    return new TcpListener(handler, {
      ...options,
      keepAlive,
      idleTimeout,
      maxConnections,
      maxStreams,
      maxBuffered,
      logger: this.logger,
    })
  }

  request(address: string, message: TransportMessage, options?: RequestOptions): Promise<TransportMessage> {
    let pool = this.pools.get(address)
    if (pool === undefined) {
      try {
        pool = this.pool(address)
      } catch (e) {
        return Promise.reject(e)
      }
    }
    const signal = options?.signal
    if (signal?.aborted) return Promise.reject(abortReason(signal, ERROR_ID))
    return pool.pick().request(message, options)
  }

  stream(address: string, message: TransportMessage, options: RequestOptions = {}): Promise<ClientStream> {
    return this.streams.open(address, options, () =>
      (this.pools.get(address) ?? this.pool(address)).pick().stream(message),
    )
  }

  protected async closeConnections(): Promise<void> {
    const conns = [...this.pools.values()].flatMap((p) => p.all())
    this.pools.clear()
    await within(Promise.all(conns.map((c) => c.drain())), CLOSE_GRACE_MS)
    for (const c of conns) c.destroy('tcp transport is closed')
  }

  /** The pool for `address`, created on first use. */
  private pool(address: string): Pool {
    this.refuseWhenClosed()
    const target = dialTarget(address, ERROR_ID)
    const pool = new Pool(
      address,
      {
        ...target,
        connectTimeout: this.opts.connectTimeout,
        maxResponseSize: this.opts.maxResponseSize,
        keepAlive: this.opts.keepAlive,
        logger: this.logger,
      },
      this.opts.poolSize,
    )
    this.pools.set(address, pool)
    // Connections nobody used since the last sweep are closed: nodes come and go.
    this.sweepEvery(this.opts.idleTimeout, () => {
      for (const [address, pool] of this.pools) {
        let live = 0
        for (const [i, c] of pool.slots.entries()) {
          if (!c) continue
          if (!c.writable()) pool.slots[i] = undefined
          else if (c.used || !c.idle) {
            c.used = false
            live++
          } else {
            pool.slots[i] = undefined
            void c.drain()
          }
        }
        if (live === 0) this.pools.delete(address)
      }
    })
    return pool
  }
}

/** The multiplexed tcp transport (`MICRO_TRANSPORT=tcp`). */
export function createTcpTransport(options: TcpTransportOptions = {}): TcpTransport {
  return new TcpTransport(options)
}
