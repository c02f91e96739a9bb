/**
 * What the built-in transports (http, tcp) share on the client side, beside listener.ts (the
 * server side): the address a client dials, readable causes for socket errors, the error of a
 * closed transport. `http/` and `tcp/` are siblings that import from here, never from each
 * other; their options are declared in their own `options.ts` and checked by the plugin kit.
 */
import { TransportError } from '../errors.js'
import { dialTarget, type HostPort } from '../util/address.js'

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

/**
 * The `host:port` a client dials for a node's `address`. An address that can never be dialled
 * is a 400 TransportError marked not delivered, so the client tries another node.
 */
export function dialAddress(address: string, id: string): HostPort {
  return dialTarget(address, id)
}

/** The transport is closed: nothing was sent (the caller may go elsewhere). */
export function transportClosed(label: string): TransportError {
  return new TransportError(`${label} is closed`, { delivered: false, code: 503 })
}
