import { MicroError, TransportError } from '@micro-ts/core'
import { CLIENT_ID } from './options.js'

export interface HostPort {
  /** Empty for "all interfaces" (`:8080`). IPv6 without brackets. */
  host: string
  port: number
}

/** Parse `host:port`, `[v6]:port` or `:port`; throws a 400 MicroError otherwise. */
export function parseAddress(address: string, id: string): HostPort {
  const text = typeof address === 'string' ? address.trim() : ''
  let host = ''
  let portText = ''
  if (text.startsWith('[')) {
    const end = text.indexOf(']')
    if (end !== -1 && text[end + 1] === ':') {
      host = text.slice(1, end)
      portText = text.slice(end + 2)
    }
  } else {
    const i = text.lastIndexOf(':')
    if (i !== -1 && text.indexOf(':') === i) {
      host = text.slice(0, i)
      portText = text.slice(i + 1)
    }
  }
  const port = Number(portText)
  if (!/^\d{1,5}$/.test(portText) || port > 65535) {
    throw new MicroError(id, 400, `invalid address "${address}": expected host:port, [ipv6]:port or :port`)
  }
  return { host, port }
}

/** `host:port`, bracketing IPv6 hosts. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** The gRPC target for a `host:port` we dial (`:port` means this host). */
export function dialTarget(address: string): string {
  let parsed: HostPort
  try {
    parsed = parseAddress(address, CLIENT_ID)
  } catch (e) {
    throw new TransportError((e as MicroError).detail, { delivered: false, code: 400 })
  }
  if (parsed.port === 0)
    throw new TransportError(`invalid address "${address}": port 0`, { delivered: false, code: 400 })
  return formatAddress(parsed.host === '' ? '127.0.0.1' : parsed.host, parsed.port)
}

/** grpc-js' peer string (`1.2.3.4:5`, `::1:5`) as `host:port` with IPv6 bracketed. */
export function peerAddress(peer: string): string {
  if (peer.startsWith('[')) return peer
  const i = peer.lastIndexOf(':')
  if (i <= 0) return peer
  const host = peer.slice(0, i)
  return host.includes(':') ? `[${host}]${peer.slice(i)}` : peer
}

/** The MicroError an aborted signal stands for: its MicroError reason, 408 for a timeout, else 499. */
export function abortReason(signal: AbortSignal, id: string): MicroError {
  const r: unknown = signal.reason
  if (r instanceof MicroError) return r
  if (r instanceof Error && r.name === 'TimeoutError')
    return new MicroError(id, 408, r.message || 'request timed out')
  return new MicroError(id, 499, r instanceof Error && r.message ? r.message : 'request canceled')
}
