import { Pool } from 'undici'
import { MicroError, TransportError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import { abortReason } from '../../util/abort.js'
import { dialTarget, formatAddress } from '../../util/address.js'
import { BuiltinTransport, CLOSE_GRACE_MS, hasDeadline, within } from '../net.js'
import type {
  ClientStream,
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
export class HttpTransport
  extends BuiltinTransport<typeof httpTransportOptions, ClientStreamControl>
  implements Transport
{
  private readonly pools = new Map<string, PoolEntry>()

  constructor(options: HttpTransportOptions = {}) {
    super('http', httpTransportOptions, options)
  }

  protected listener(handler: TransportHandler, options: ListenOptions): HttpListener {
    return new HttpListener(handler, { ...options, idleTimeout: this.opts.idleTimeout, logger: this.logger })
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
    const { signal } = options
    if (signal?.aborted) return Promise.reject(abortReason(signal, ERROR_ID))
    const headers = requestHeaders(message.headers)
    return new Promise<TransportMessage>((resolve, reject) => {
      const handler = new UnaryHandler(address, this.opts.maxResponseSize, resolve, reject)
      handler.watch(options)
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
          ...(hasDeadline(options.timeout) ? { headersTimeout: 0, bodyTimeout: 0 } : {}),
        },
        handler,
      )
    })
  }

  stream(address: string, message: TransportMessage, options: RequestOptions = {}): Promise<ClientStream> {
    return this.streams.open(address, options, () =>
      openStream({
        address,
        ...dialTarget(address, ERROR_ID),
        headers: requestHeaders(message.headers),
        body: message.body ?? new Uint8Array(0),
        connectTimeout: this.opts.connectTimeout,
        maxMessageSize: this.opts.maxResponseSize,
      }),
    )
  }

  protected async closeConnections(): Promise<void> {
    const pools = [...this.pools.values()].map((e) => e.pool)
    this.pools.clear()
    const closing = new MicroError(ERROR_ID, 503, 'http transport is closed')
    await Promise.all(
      pools.map(async (pool) => {
        if (!(await within(pool.close(), CLOSE_GRACE_MS))) await pool.destroy(closing).catch(() => {})
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
    this.refuseWhenClosed()
    const { host, port } = dialTarget(address, ERROR_ID)
    const origin = `http://${formatAddress(host, port)}`
    if (!URL.canParse(origin)) {
      throw new TransportError(`invalid address ${JSON.stringify(address)}: not a host:port`, {
        delivered: false,
        code: 400,
      })
    }
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
    // Pools idle since the last sweep are closed: nodes come and go, and each pool holds sockets.
    this.sweepEvery(SWEEP_MS, () => {
      for (const [address, entry] of this.pools) {
        if (entry.used || entry.pool.stats.size > 0) {
          entry.used = false
          continue
        }
        this.pools.delete(address)
        entry.pool.close().catch(() => {})
      }
    })
    return pool
  }
}

/** go-micro's default transport, speaking its RPC over HTTP. */
export function createHttpTransport(options: HttpTransportOptions = {}): HttpTransport {
  return new HttpTransport(options)
}
