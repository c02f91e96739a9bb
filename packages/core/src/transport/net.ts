/**
 * What the built-in transports (http, tcp) share on the client side, beside listener.ts (the
 * server side): the skeleton of a transport (BuiltinTransport), a call's deadline and caller's
 * signal (WatchedCall), the streams of a transport (ClientStreams), readable causes for socket
 * errors, and closing within a grace period. `http/` and `tcp/` are siblings that import from
 * here and from util/ (addresses: util/address.ts), never from each other; their options are
 * declared in their own `options.ts` and checked by the plugin kit.
 */
import { MicroError, TransportError } from '../errors.js'
import { type Logger, silentLogger } from '../logger.js'
import { type OptionSpecs, type OptionValues, option, parseOptions } from '../plugin/options.js'
import { abortReason } from '../util/abort.js'
import { deadlines, type Expiring } from '../util/time.js'
import type { ClientStream, Listener, ListenOptions, RequestOptions, TransportHandler } from './types.js'

/** Readable causes for socket and undici error codes. */
export const CAUSES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  EPIPE: 'connection closed while sending',
  UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
  UND_ERR_SOCKET: 'connection closed',
  UND_ERR_CLOSED: 'transport closed',
  UND_ERR_DESTROYED: 'transport closed',
  UND_ERR_HEADERS_TIMEOUT: 'no response headers in time',
  UND_ERR_BODY_TIMEOUT: 'response body stalled',
}

/** `connection refused (ECONNREFUSED)`: the readable cause of a socket error, with its code. */
export function socketCause(err: unknown): string {
  const e = err as (NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException }) | undefined
  const code = e?.code ?? e?.cause?.code ?? ''
  return `${CAUSES[code] ?? e?.message ?? String(err)}${code ? ` (${code})` : ''}`
}

/** The transport is closed: nothing was sent (the caller may go elsewhere). */
export function transportClosed(label: string): TransportError {
  return new TransportError(`${label} is closed`, { delivered: false, code: 503 })
}

const CLIENT_ID = 'go.micro.client'

/** A finite, positive `timeout` (ms): the call has a deadline. */
export function hasDeadline(timeout: number | undefined): timeout is number {
  return timeout !== undefined && timeout > 0 && Number.isFinite(timeout)
}

/**
 * One client call's deadline and its caller's signal: at the deadline `expire()` runs (the shared
 * DeadlineSet calls it; any distance is fine), when the signal fires `canceled(reason)`; the
 * subclass settles the call and then calls `unwatch()`. No timer and no closure per call.
 */
export abstract class WatchedCall implements Expiring {
  /** When the deadline passes (ms since the epoch), 0 for none. */
  expiresAt = 0
  /** The caller's timeout (ms), for the 408's text. */
  timeout = 0
  private signal?: AbortSignal

  /** Start watching `options.timeout` and `options.signal` (an already-aborted signal cancels at once). */
  watch(options: RequestOptions | undefined): void {
    const timeout = options?.timeout
    if (hasDeadline(timeout)) {
      this.timeout = timeout
      this.expiresAt = Date.now() + timeout
      deadlines.add(this)
    }
    const signal = options?.signal
    if (signal) {
      this.signal = signal
      if (signal.aborted) this.handleEvent()
      else signal.addEventListener('abort', this)
    }
  }

  /** The call settled: stop watching. */
  unwatch(): void {
    if (this.expiresAt !== 0) deadlines.delete(this)
    if (this.signal) this.signal.removeEventListener('abort', this)
  }

  /** The caller's signal fired (the object is the EventListener). */
  handleEvent(): void {
    this.canceled(abortReason(this.signal as AbortSignal, CLIENT_ID))
  }

  /** The deadline passed. */
  abstract expire(): void
  /** The caller's signal fired with `reason` (a 499, or the MicroError it was aborted with). */
  protected abstract canceled(reason: MicroError): void
}

/** A client stream as a transport tracks it. */
export interface TrackedStream extends ClientStream {
  /** Deadline, cancellation or the transport closing: pending calls reject with `reason`, the stream is torn down. */
  abort(reason: MicroError): void
  /** Run `fn` once the stream is over. */
  onceClosed(fn: () => void): void
}

/** A stream being opened, which a deadline or a cancellation can cut short. */
export interface StreamOpening<S> {
  promise: Promise<S>
  abort(reason: MicroError): void
}

/** Covers one stream, from the start of its opening to its end, by its caller's deadline and signal. */
class StreamWatch<S extends TrackedStream> extends WatchedCall {
  stream?: S

  constructor(
    private readonly address: string,
    private readonly opening: StreamOpening<S>,
  ) {
    super()
  }

  expire(): void {
    this.abort(new MicroError(CLIENT_ID, 408, `stream to ${this.address} timed out after ${this.timeout}ms`))
  }

  protected canceled(reason: MicroError): void {
    this.abort(reason)
  }

  private abort(reason: MicroError): void {
    if (this.stream) this.stream.abort(reason)
    else this.opening.abort(reason)
  }
}

/**
 * The client streams of one transport: each is covered by its caller's deadline and signal from
 * the moment it starts opening, and all are torn down when the transport closes.
 */
export class ClientStreams<S extends TrackedStream> {
  private readonly streams = new Set<S>()
  private closing?: MicroError

  /** `label` names the transport in errors (`http transport`). */
  constructor(private readonly label: string) {}

  get closed(): boolean {
    return this.closing !== undefined
  }

  /**
   * A stream to `address` that `start()` opens. Refused without starting when the transport is
   * closed (503, not delivered) or the signal is already aborted (499); `start()` may throw.
   */
  open(address: string, options: RequestOptions, start: () => StreamOpening<S>): Promise<S> {
    if (this.closing) return Promise.reject(transportClosed(this.label))
    if (options.signal?.aborted) return Promise.reject(abortReason(options.signal, CLIENT_ID))
    let opening: StreamOpening<S>
    try {
      opening = start()
    } catch (e) {
      return Promise.reject(e)
    }
    const watch = new StreamWatch(address, opening)
    watch.watch(options)
    return opening.promise.then(
      (s) => {
        watch.stream = s
        this.streams.add(s)
        s.onceClosed(() => {
          watch.unwatch()
          this.streams.delete(s)
        })
        if (this.closing) s.abort(this.closing)
        return s
      },
      (err: unknown) => {
        watch.unwatch()
        throw err
      },
    )
  }

  /** The transport is closing: every stream fails with a 503 and no new one opens. */
  close(): void {
    this.closing ??= new MicroError(CLIENT_ID, 503, `${this.label} is closed`)
    for (const s of [...this.streams]) s.abort(this.closing)
    this.streams.clear()
  }
}

/**
 * Wait for `work` (connections closing gracefully) up to `ms`; true when it finished in time.
 * The wait does not keep the process alive.
 */
export async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
    timer.unref()
  })
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      late,
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** Both transports' client limit on what comes back. */
export const maxResponseSizeOption = option.integer({
  doc: 'Largest response body or stream message the client accepts, bytes',
  default: 64 * 1024 * 1024,
  min: 1,
})

/** How long `transport.close()` lets requests in flight finish before cutting them off. */
export const CLOSE_GRACE_MS = 2_000

/** A client stream's connection went away before the server ended it (the request was sent: it may have run). */
export function streamLost(address: string): TransportError {
  return new TransportError(
    `stream to ${address}: the connection closed before the server ended the stream`,
    {
      delivered: true,
    },
  )
}

/** Sending on a client stream the server has ended. */
export function streamEndedByServer(address: string): MicroError {
  return new MicroError(CLIENT_ID, 500, `stream to ${address}: the server has closed the stream`)
}

/** What the client's own close() ends a stream with. */
export function closedByClient(): MicroError {
  return new MicroError(CLIENT_ID, 499, 'stream: closed by the client')
}

/**
 * What the built-in transports share as clients: options checked by the plugin kit (a 400
 * MicroError naming a bad or unknown one), a logger, their streams, the idle sweep of their
 * pools, and `close()`: refuse new work, tear the streams down, then `closeConnections()`.
 */
export abstract class BuiltinTransport<S extends OptionSpecs, T extends TrackedStream> {
  protected readonly opts: OptionValues<S>
  protected readonly logger: Logger
  protected readonly streams: ClientStreams<T>
  private sweeper?: NodeJS.Timeout

  /** Throws a 400 MicroError (go.micro.transport) naming an unknown option or a bad value. */
  constructor(
    readonly name: string,
    specs: S,
    options: object,
  ) {
    const { logger, ...given } = options as { logger?: Logger }
    this.opts = parseOptions(specs, given as Record<string, unknown>, { kind: 'transport', name })
    this.logger = logger ?? silentLogger
    this.streams = new ClientStreams(`${name} transport`)
  }

  async listen(address: string, handler: TransportHandler, options: ListenOptions = {}): Promise<Listener> {
    return this.listener(handler, options).listen(address)
  }

  /** The listener this transport serves `handler` with. */
  protected abstract listener(
    handler: TransportHandler,
    options: ListenOptions,
  ): { listen(address: string): Promise<Listener> }

  async close(): Promise<void> {
    if (this.streams.closed) return
    this.streams.close()
    if (this.sweeper) clearInterval(this.sweeper)
    await this.closeConnections()
  }

  /** Let requests in flight finish, briefly (CLOSE_GRACE_MS); then cut them off. */
  protected abstract closeConnections(): Promise<void>

  /** Throws the 503 (not delivered) of a closed transport. */
  protected refuseWhenClosed(): void {
    if (this.streams.closed) throw transportClosed(`${this.name} transport`)
  }

  /** Run `sweep` every `ms` from the first call on; the timer does not keep the process alive. */
  protected sweepEvery(ms: number, sweep: () => void): void {
    if (this.sweeper) return
    this.sweeper = setInterval(sweep, ms)
    this.sweeper.unref()
  }
}
