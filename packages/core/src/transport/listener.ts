/**
 * What the built-in listeners (http, tcp) share: their defaults, binding a server with a
 * MicroError on failure, and counting work in flight so close() can wait for it.
 */
import type { AddressInfo, Server } from 'node:net'
import { MicroError } from '../errors.js'
import type { Logger } from '../logger.js'
import { formatAddress } from '../util/address.js'

const ERROR_ID = 'go.micro.server'
export const DEFAULT_MAX_BODY = 10 * 1024 * 1024
export const DEFAULT_GRACE_MS = 10_000

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
        const timer = setTimeout(resolve, graceMs)
        this.onIdle = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
    this.onIdle = undefined
  }
}
