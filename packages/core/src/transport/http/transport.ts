import { Pool } from 'undici'
import { MicroError } from '../../errors.js'
import { type Logger, silentLogger } from '../../logger.js'
import { type OptionValues, parseOptions } from '../../plugin/options.js'
import { abortReason } from '../../util/abort.js'
import { formatAddress } from '../../util/address.js'
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
import { openStream, requestHeaders, UnaryHandler } from './client.js'
import { httpTransportOptions } from './options.js'
import { HttpListener, MAX_HEADER_SIZE } from './server.js'
import type { ClientStreamControl } from './stream.js'

const ERROR_ID = 'go.micro.client'

export interface HttpTransportOptions {
  /** Keep-alive connections per address, like go-micro's client pool size (default 100). */
  poolSize?: number
  /**
   * Requests in flight per connection (default 1: no pipelining). Above 1 requests are sent as
   * idempotent: a connection that breaks may make undici send them again, so a handler can run twice.
   */
  pipelining?: number
  /** Dial timeout in ms (go-micro's DefaultDialTimeout, 5 s). */
  connectTimeout?: number
  /** Idle keep-alive connections are closed after this many ms, client and server side (default 60 s). */
  idleTimeout?: number
  /** Largest response body or stream message the client accepts, in bytes (default 64 MiB). */
  maxResponseSize?: number
  logger?: Logger
}

/** How often pools nobody used since the last look are closed. */
const SWEEP_MS = 60_000

interface PoolEntry {
  pool: Pool
  used: boolean
}

/**
 * go-micro's HTTP transport: RPC as `POST /` on keep-alive HTTP/1.1, answers always `200` with
 * errors in `Micro-Error`; streams over an HTTP/1.1 upgrade to length-prefixed frames.
 */
export class HttpTransport implements Transport {
  readonly name = 'http'
  private readonly opts: OptionValues<typeof httpTransportOptions>
  private readonly logger: Logger
  private readonly pools = new Map<string, PoolEntry>()
  private readonly streams = new Set<ClientStreamControl>()
  private sweeper?: NodeJS.Timeout
  private closed = false

  /** Throws a 400 MicroError (go.micro.transport) naming an unknown option or a bad value. */
  constructor(options: HttpTransportOptions = {}) {
    const { logger, ...given } = options
    this.opts = parseOptions(httpTransportOptions, given, { kind: 'transport', name: 'http' })
    this.logger = logger ?? silentLogger
  }

  async listen(address: string, handler: TransportHandler, options: ListenOptions = {}): Promise<Listener> {
    const listener = new HttpListener(handler, {
      ...options,
      idleTimeout: this.opts.idleTimeout,
      logger: this.logger,
    })
    return listener.listen(address)
  }

  request(
    address: string,
    message: TransportMessage,
    options: RequestOptions = {},
  ): Promise<TransportMessage> {
    let pool: Pool
    try {
      pool = this.pool(address)
    } catch (e) {
      return Promise.reject(e)
    }
    const { signal, timeout } = options
    if (signal?.aborted) return Promise.reject(abortReason(signal, ERROR_ID))
    const headers = requestHeaders(message.headers)
    return new Promise<TransportMessage>((resolve, reject) => {
      const handler = new UnaryHandler(address, this.opts.maxResponseSize, resolve, reject)
      const deadline = timeout !== undefined && timeout > 0 && Number.isFinite(timeout)
      if (deadline) {
        handler.timer = setTimeout(
          () =>
            handler.abort(
              new MicroError(ERROR_ID, 408, `request to ${address} timed out after ${timeout}ms`),
            ),
          timeout,
        )
      }
      if (signal) {
        handler.signal = signal
        signal.addEventListener('abort', handler.onAbort, { once: true })
      }
      const pipelined = this.opts.pipelining > 1
      pool.dispatch(
        {
          path: '/',
          method: 'POST',
          headers,
          body: message.body,
          idempotent: pipelined,
          blocking: !pipelined,
          // The caller's deadline governs; undici's own 300 s limits only apply without one.
          ...(deadline ? { headersTimeout: 0, bodyTimeout: 0 } : {}),
        },
        handler,
      )
    })
  }

  stream(address: string, message: TransportMessage, options: RequestOptions = {}): Promise<ClientStream> {
    if (this.closed) return Promise.reject(transportClosed('http transport'))
    let target: { host: string; port: number }
    try {
      target = dialAddress(address, ERROR_ID)
    } catch (e) {
      return Promise.reject(e)
    }
    const { signal, timeout } = options
    if (signal?.aborted) return Promise.reject(abortReason(signal, ERROR_ID))
    const opening = openStream({
      address,
      ...target,
      headers: requestHeaders(message.headers),
      body: message.body ?? new Uint8Array(0),
      connectTimeout: this.opts.connectTimeout,
      maxMessageSize: this.opts.maxResponseSize,
    })
    let stream: ClientStreamControl | undefined
    let timer: NodeJS.Timeout | undefined
    // The deadline covers the whole stream: before it is open it stops the opening, after it the stream.
    const abort = (reason: MicroError) => {
      if (stream) stream.abort(reason)
      else opening.abort(reason)
    }
    const onAbort = () => abort(abortReason(signal as AbortSignal, ERROR_ID))
    const cleanup = () => {
      if (timer) clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      if (stream) this.streams.delete(stream)
    }
    if (timeout !== undefined && timeout > 0 && Number.isFinite(timeout)) {
      timer = setTimeout(
        () => abort(new MicroError(ERROR_ID, 408, `stream to ${address} timed out after ${timeout}ms`)),
        timeout,
      )
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    return opening.promise.then(
      (s) => {
        stream = s
        this.streams.add(s)
        s.onceClosed(cleanup)
        if (this.closed) s.abort(new MicroError(ERROR_ID, 503, 'http transport is closed'))
        return s
      },
      (err: MicroError) => {
        cleanup()
        throw err
      },
    )
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.sweeper) clearInterval(this.sweeper)
    const closing = new MicroError(ERROR_ID, 503, 'http transport is closed')
    for (const s of this.streams) s.abort(closing)
    this.streams.clear()
    const pools = [...this.pools.values()].map((e) => e.pool)
    this.pools.clear()
    // Let requests in flight finish, briefly; then cut them off.
    await Promise.all(
      pools.map(async (pool) => {
        let timer: NodeJS.Timeout | undefined
        const graceful = pool.close().then(() => true)
        const late = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), 2_000)
          timer.unref()
        })
        const ok = await Promise.race([graceful, late])
        clearTimeout(timer)
        if (!ok) await pool.destroy(closing).catch(() => {})
      }),
    )
  }

  /** The keep-alive pool for `address`, created on first use. */
  private pool(address: string): Pool {
    const entry = this.pools.get(address)
    if (entry) {
      entry.used = true
      return entry.pool
    }
    if (this.closed) throw transportClosed('http transport')
    const { host, port } = dialAddress(address, ERROR_ID)
    const origin = `http://${formatAddress(host, port)}`
    const pool = new Pool(origin, {
      connections: this.opts.poolSize,
      pipelining: this.opts.pipelining,
      keepAliveTimeout: this.opts.idleTimeout,
      maxHeaderSize: MAX_HEADER_SIZE,
      connect: { timeout: this.opts.connectTimeout, noDelay: true },
    })
    pool.on('connectionError', () => {
      // reported to the requests that needed the connection
    })
    this.pools.set(address, { pool, used: true })
    this.startSweeper()
    return pool
  }

  /** Pools idle since the last sweep are closed: nodes come and go, and each pool holds sockets. */
  private startSweeper(): void {
    if (this.sweeper) return
    this.sweeper = setInterval(() => {
      for (const [address, entry] of this.pools) {
        if (entry.used || entry.pool.stats.size > 0) {
          entry.used = false
          continue
        }
        this.pools.delete(address)
        entry.pool.close().catch(() => {})
      }
    }, SWEEP_MS)
    this.sweeper.unref()
  }
}

/** go-micro's default transport, speaking its RPC over HTTP. */
export function createHttpTransport(options: HttpTransportOptions = {}): HttpTransport {
  return new HttpTransport(options)
}
