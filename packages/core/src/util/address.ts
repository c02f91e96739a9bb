/**
 * Addresses, in one place: `host:port` parsing and formatting, the target a client dials, the
 * address a server advertises, backend URLs with default schemes and ports, and redaction of
 * credentials for messages and logs.
 */
import { isIPv6 } from 'node:net'
import { networkInterfaces } from 'node:os'
import { MicroError, TransportError } from '../errors.js'

export interface HostPort {
  /** Empty for "all interfaces" (`:8080`). IPv6 without brackets. */
  host: string
  port: number
}

function invalidAddress(address: string, id: string): MicroError {
  return new MicroError(
    id,
    400,
    `invalid address ${JSON.stringify(address)}: expected host:port, [ipv6]:port or :port`,
  )
}

/** Parse `host:port`, `[v6]:port` or `:port`. A malformed one is a 400 MicroError with `id`. */
export function parseAddress(address: string, id = 'go.micro.transport'): HostPort {
  const text = String(address).trim()
  let host = ''
  let portText = text
  if (text.startsWith('[')) {
    const end = text.indexOf(']')
    if (end === -1 || text[end + 1] !== ':') throw invalidAddress(address, id)
    host = text.slice(1, end)
    portText = text.slice(end + 2)
    // Brackets hold an IPv6 address and nothing else (`[1:2:3]` is none).
    if (!isIPv6(host)) throw invalidAddress(address, id)
  } else {
    const i = text.lastIndexOf(':')
    if (i !== -1) {
      host = text.slice(0, i)
      portText = text.slice(i + 1)
    }
    // An unbracketed IPv6 address ("::1:80") is ambiguous: refuse it.
    if (host.includes(':')) throw invalidAddress(address, id)
  }
  if (!/^\d{1,5}$/.test(portText)) throw invalidAddress(address, id)
  if (!plausibleHost(host)) throw invalidAddress(address, id)
  const port = Number(portText)
  if (port > 65535) throw invalidAddress(address, id)
  return { host, port }
}

/** Characters no host name or address has (and that would corrupt a URL or a header line). */
const NOT_IN_HOSTS = /[\s/?#@[\]<>\\^|%"`{}]/

function plausibleHost(host: string): boolean {
  if (NOT_IN_HOSTS.test(host)) return false
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return false
  }
  return true
}

/** `host:port`, bracketing IPv6 hosts. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/**
 * The `host:port` a client dials for `address` (`:port` means this host). An unusable address
 * is a 400 TransportError marked not delivered, so the client may try another node.
 */
export function dialTarget(address: string, id = 'go.micro.client'): HostPort {
  let hp: HostPort
  try {
    hp = parseAddress(address, id)
  } catch (e) {
    throw new TransportError((e as MicroError).detail, { delivered: false, code: 400 })
  }
  if (hp.port === 0) {
    throw new TransportError(`invalid address ${JSON.stringify(address)}: port 0`, {
      delivered: false,
      code: 400,
    })
  }
  return { host: hp.host === '' ? '127.0.0.1' : hp.host, port: hp.port }
}

/** True when a node's address can be dialled: `host:port` with a port from 1 to 65535. */
export function isDialable(address: unknown): address is string {
  if (typeof address !== 'string' || address.length === 0 || address.length > 300) return false
  try {
    const { port } = parseAddress(address)
    return port > 0
  } catch {
    return false
  }
}

function isUnspecified(host: string): boolean {
  return host === '' || host === '0.0.0.0' || host === '::'
}

/** What go-micro's addr.Extract does for an unspecified host: this machine's first private IPv4. */
export function advertiseHost(host: string): string {
  if (!isUnspecified(host)) return host
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return '127.0.0.1'
}

/** A bound address like `0.0.0.0:1234` is no use to others: advertise a real interface address. */
export function advertiseAddress(address: string): string {
  const { host, port } = parseAddress(address)
  return isUnspecified(host) ? formatAddress(advertiseHost(host), port) : formatAddress(host, port)
}

/** `MICRO_*_ADDRESS` style lists: comma separated, trimmed, empty entries dropped. */
export function splitAddresses(list: string | readonly string[] | undefined): string[] {
  const parts = typeof list === 'string' ? list.split(',') : (list ?? [])
  return parts.map((a) => String(a).trim()).filter(Boolean)
}

export interface UrlOptions {
  /** Accepted schemes without the colon, first = the one a bare `host[:port]` gets (`['postgresql', 'postgres']`). */
  schemes: readonly string[]
  /** Port a URL without one gets (`5432`). */
  defaultPort?: number
  /** User a bare `host[:port]` gets (`postgres`). */
  defaultUser?: string
  /** Path a bare `host[:port]` gets (`/postgres`). */
  defaultPath?: string
  /** Names the plugin in the error (`postgres store`). */
  label: string
  /** Id of the 400 (the kind's error id). */
  errorId: string
  /** What a correct address looks like, for the error (`postgresql://user:password@host:port/db`). */
  example?: string
  /** Refuse a path, query or fragment: the address names a server and nothing else. */
  hostOnly?: boolean
  /** Refuse credentials in the address (they belong in options). */
  noCredentials?: boolean
}

/**
 * A backend URL: `scheme://[user[:pass]@]host[:port][/path][?query]`, or a bare `host[:port]`
 * that gets the first scheme, the default user, port and path. A malformed address or an
 * unaccepted scheme is a 400 MicroError that shows the address with its password masked.
 */
export function parseUrl(raw: string, options: UrlOptions): URL {
  const text = String(raw).trim()
  const example = options.example ?? `${options.schemes[0]}://host:port`
  const bad = (why: string) =>
    new MicroError(
      options.errorId,
      400,
      `${options.label}: invalid address ${JSON.stringify(redact(text))}: ${why} (expected ${example})`,
    )
  let url: URL
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    try {
      url = new URL(text)
    } catch {
      throw bad('not a URL')
    }
  } else {
    if (text === '' || /[\s/?#@]/.test(text)) throw bad('not a host:port')
    const user = options.defaultUser ? `${encodeURIComponent(options.defaultUser)}@` : ''
    try {
      url = new URL(`${options.schemes[0]}://${user}${text}${options.defaultPath ?? ''}`)
    } catch {
      throw bad('not a host:port')
    }
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase()
  if (!options.schemes.includes(scheme)) {
    throw bad(`the scheme must be ${options.schemes.map((s) => `${s}://`).join(' or ')}`)
  }
  if (!url.hostname) throw bad('no host')
  if (options.hostOnly && ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash)) {
    throw bad('no path or query')
  }
  if (options.noCredentials && (url.username || url.password)) throw bad('no credentials in the address')
  // `new URL('http://h:80').port` is '' (a scheme's default port is dropped): keep a port the text names.
  if (!url.port && options.defaultPort && !hasExplicitPort(text)) url.port = String(options.defaultPort)
  return url
}

/** True when the authority part of `text` ends in `:<digits>`. */
function hasExplicitPort(text: string): boolean {
  const afterScheme = text.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
  const authority = afterScheme.split(/[/?#]/, 1)[0].replace(/^.*@/, '')
  return /:\d+$/.test(authority)
}

/** The address with any password masked, safe to print. */
export function redact(address: string): string {
  try {
    const url = new URL(address)
    if (url.password) url.password = '***'
    return url.href
  } catch {
    return String(address).replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@')
  }
}
