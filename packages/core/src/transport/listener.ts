/**
 * What the built-in listeners (http, tcp) share: their defaults, binding a server with a
 * MicroError on failure, counting work in flight, and the graceful close (ListenerBase).
 */
import type { AddressInfo, Server } from 'node:net'
import { MicroError } from '../errors.js'
import type { Logger } from '../logger.js'
import { formatAddress, parseAddress } from '../util/address.js'
import { setLongTimeout } from '../util/time.js'
import type { Listener } from './types.js'

const ERROR_ID = 'go.micro.server'
export const DEFAULT_MAX_BODY = 10 * 1024 * 1024
export const DEFAULT_GRACE_MS = 10_000

/** The answer to work that arrives, or is still running, while the server shuts down (go-micro's, retryable). */
export function shuttingDown(): MicroError {
  return new MicroError(ERROR_ID, 503, 'server shutting down')
}

/** The listener's body limit: `maxBodySize` or the default; anything but a positive number is a 400. */
export function maxBodySize(value: number | undefined): number {
  const max = value ?? DEFAULT_MAX_BODY
  if (!(max > 0))
    throw new MicroError(ERROR_ID, 400, `maxBodySize must be a positive number of bytes, got ${max}`)
  return max
}

/**
 * Bind `server` to host:port; a failure (port in use, bad host) is a 500 MicroError naming
 * `address`. Later server errors are logged under `label`. Resolves to the bound `host:port`.
 */
export async function bindServer(
  server: Server,
  host: string,
  port: number,
  address: string,
  label: string,
  logger: Logger,
): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening)
      reject(
        new MicroError(ERROR_ID, 500, `cannot listen on ${address}: ${err.message}`, undefined, {
          cause: err,
        }),
      )
    }
    const onListening = () => {
      server.off('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen(port, host === '' ? undefined : host)
  })
  server.on('error', (err) => logger.error({ err: err.message }, `${label}: server error`))
  const bound = server.address() as AddressInfo
  return formatAddress(bound.address, bound.port)
}

/** Requests and streams started and not yet finished. */
export class InFlight {
  private count = 0
  private onIdle?: () => void

  started(): void {
    this.count++
  }

  finished(): void {
    this.count--
    if (this.count === 0 && this.onIdle) this.onIdle()
  }

  /** Resolves once nothing is in flight, or after `graceMs`, whichever is first. */
  async settle(graceMs: number): Promise<void> {
    if (this.count > 0 && graceMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setLongTimeout(resolve, graceMs, true)
        this.onIdle = () => {
          timer.clear()
          resolve()
        }
      })
    }
    this.onIdle = undefined
  }
}

/**
 * A listener's life: bind, then `close(graceMs)`: stop accepting, `drain()` (tell clients),
 * wait for what is in flight up to `graceMs`, then `cutOff()` whatever still runs (503).
 */
export abstract class ListenerBase<S extends Server = Server> implements Listener {
  protected server!: S
  private bound = ''
  /** Requests and streams started and not yet finished. */
  readonly inFlight = new InFlight()
  /** close() was called: new work is refused. */
  draining = false
  /** Past the grace period: whatever still runs is being cut off. */
  forced = false
  private closing?: Promise<void>

  constructor(
    /** Names the transport in logs (`http transport`). */
    protected readonly label: string,
    readonly logger: Logger,
  ) {}

  get address(): string {
    return this.bound
  }

  /** Bind `server` to `address` (`host:port`; a bad one is a 400, a failure to bind a 500). */
  protected async bind(server: S, address: string): Promise<void> {
    const { host, port } = parseAddress(address)
    this.server = server
    this.bound = await bindServer(server, host, port, address, this.label, this.logger)
  }

  close(graceMs = DEFAULT_GRACE_MS): Promise<void> {
    this.closing ??= this.shutdown(graceMs)
    return this.closing
  }

  /** Tell the clients to send nothing new (called once, as close() begins). */
  protected drain(): void {}

  /** Stop accepting connections; resolves once every connection has closed. */
  protected stopAccepting(): Promise<void> {
    return new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  /**
   * Called once the work in flight settled, before the cut-off, with what is left of the grace
   * period: a listener whose clients cannot be told to stop (HTTP/1.1) waits here for them.
   */
  protected async linger(_remainingMs: number): Promise<void> {}

  /** The grace period is over: stop what still runs with `reason` and drop the connections. */
  protected abstract cutOff(reason: MicroError): void

  private async shutdown(graceMs: number): Promise<void> {
    this.draining = true
    const until = Date.now() + graceMs
    const closed = this.stopAccepting()
    this.drain()
    await this.inFlight.settle(graceMs)
    await this.linger(Math.max(0, until - Date.now()))
    this.forced = true
    this.cutOff(shuttingDown())
    await closed
  }
}

/** `fn.call(self, a, b)` as a promise: a handler that throws instead of rejecting is a rejection too. */
export function callHandler<A, B, R>(
  fn: (this: unknown, a: A, b: B) => Promise<R>,
  self: unknown,
  a: A,
  b?: B,
): Promise<R> {
  try {
    return fn.call(self, a, b as B)
  } catch (e) {
    return Promise.reject(e)
  }
}
