import { MicroError } from '../../errors.js'
import { type Logger, silentLogger } from '../../logger.js'
import { type OptionValues, parseOptions } from '../../plugin/options.js'
import { abortReason } from '../../util/abort.js'
import { dialAddress, transportClosed } from '../net.js'
import type {
  ClientStream,
  Listener,
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
  /** A client connection nobody used for this many ms is closed (default 60 s). */
  idleTimeout?: number
  /** Largest response body or stream message the client accepts, in bytes (default 64 MiB). */
  maxResponseSize?: number
  /** TCP keep-alive probes start after this many ms of silence, both ends (default 30 s). */
  keepAlive?: number
  logger?: Logger
}

/** How long close() lets requests in flight finish before cutting them off. */
const CLOSE_GRACE_MS = 2_000

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
export class TcpTransport implements Transport {
  readonly name = 'tcp'
  private readonly opts: OptionValues<typeof tcpTransportOptions>
  private readonly logger: Logger
  private readonly pools = new Map<string, Pool>()
  private readonly streams = new Set<TcpClientStream>()
  private sweeper?: NodeJS.Timeout
  private closed = false

  /** Throws a 400 MicroError (go.micro.transport) naming an unknown option or a bad value. */
  constructor(options: TcpTransportOptions = {}) {
    const { logger, ...given } = options
    this.opts = parseOptions(tcpTransportOptions, given, { kind: 'transport', name: 'tcp' })
    this.logger = logger ?? silentLogger
  }

  async listen(address: string, handler: TransportHandler, options: ListenOptions = {}): Promise<Listener> {
    const listener = new TcpListener(handler, {
      ...options,
      keepAlive: this.opts.keepAlive,
      logger: this.logger,
    })
    return listener.listen(address)
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
    return pool.pick().request(message, options?.timeout, signal)
  }

  async stream(
    address: string,
    message: TransportMessage,
    options: RequestOptions = {},
  ): Promise<ClientStream> {
    const pool = this.pools.get(address) ?? this.pool(address)
    const { signal, timeout } = options
    if (signal?.aborted) throw abortReason(signal, ERROR_ID)
    const deadline = timeout !== undefined && timeout > 0 && Number.isFinite(timeout)
    const started = Date.now()
    const stream = await pool.pick().stream(message)
    // The deadline and the caller's signal cover the whole stream.
    const onAbort = () => stream.abort(abortReason(signal as AbortSignal, ERROR_ID))
    stream.onFinish = () => {
      signal?.removeEventListener('abort', onAbort)
      this.streams.delete(stream)
    }
    this.streams.add(stream)
    if (deadline) {
      const left = Math.max(0, timeout - (Date.now() - started))
      stream.timer = setTimeout(
        () =>
          stream.abort(new MicroError(ERROR_ID, 408, `stream to ${address} timed out after ${timeout}ms`)),
        left,
      )
    }
    if (signal) {
      if (signal.aborted) onAbort()
      else signal.addEventListener('abort', onAbort, { once: true })
    }
    if (this.closed) stream.abort(new MicroError(ERROR_ID, 503, 'tcp transport is closed'))
    return stream
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.sweeper) clearInterval(this.sweeper)
    const closing = new MicroError(ERROR_ID, 503, 'tcp transport is closed')
    for (const s of [...this.streams]) s.abort(closing)
    this.streams.clear()
    const conns = [...this.pools.values()].flatMap((p) => p.all())
    this.pools.clear()
    // Let requests in flight finish, briefly; then cut them off.
    for (const c of conns) c.drain()
    const deadline = Date.now() + CLOSE_GRACE_MS
    while (conns.some((c) => c.writable() && !c.idle) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10))
    }
    for (const c of conns) c.destroy('tcp transport is closed')
  }

  /** The pool for `address`, created on first use. */
  private pool(address: string): Pool {
    if (this.closed) throw transportClosed('tcp transport')
    const target = dialAddress(address, ERROR_ID)
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
    this.startSweeper()
    return pool
  }

  /** Connections nobody used since the last sweep are closed: nodes come and go. */
  private startSweeper(): void {
    if (this.sweeper) return
    this.sweeper = setInterval(() => {
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
            c.drain()
          }
        }
        if (live === 0) this.pools.delete(address)
      }
    }, this.opts.idleTimeout)
    this.sweeper.unref()
  }
}

/** The multiplexed tcp transport (`MICRO_TRANSPORT=tcp`). */
export function createTcpTransport(options: TcpTransportOptions = {}): TcpTransport {
  return new TcpTransport(options)
}
