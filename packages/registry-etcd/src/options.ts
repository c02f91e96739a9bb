import { readFileSync } from 'node:fs'
import { type Logger, MicroError, REGISTRY_ERROR_ID } from '@micro-ts/core'

/** The error id every etcd registry error carries (go-micro's registry package). */
export const ERROR_ID = REGISTRY_ERROR_ID

/** TLS material, as PEM text/bytes or as file paths. A `https://` address alone uses the system's roots. */
export interface EtcdTlsOptions {
  /** CA certificate(s) that sign the etcd server's certificate. */
  ca?: string | Uint8Array
  /** Client certificate, for etcd's `--client-cert-auth`. */
  cert?: string | Uint8Array
  /** Private key of the client certificate. */
  key?: string | Uint8Array
  caFile?: string
  certFile?: string
  keyFile?: string
}

export interface EtcdRegistryOptions {
  /**
   * etcd endpoints: `host`, `host:port`, `http(s)://host:port` or `http://user:pass@host:port`
   * (port 2379 when absent). Default: `MICRO_REGISTRY_ADDRESS` split on commas, else `127.0.0.1:2379`.
   */
  addresses?: string[]
  /** etcd user; default from the address URL, else `ETCD_USERNAME` (with `ETCD_PASSWORD`), as go-micro. */
  username?: string
  password?: string
  /** Dial timeout and deadline of every etcd request, in milliseconds. Default 5000 (go-micro's 5s). */
  timeout?: number
  /** `true` for TLS with the system's roots, or the certificates to use. Implied by `https://` addresses. */
  tls?: boolean | EtcdTlsOptions
  /** Where lease losses, re-registrations and watch errors are logged. Default: silent. */
  logger?: Logger
}

/** Options after defaults, env and address parsing: what the etcd client is built from. */
export interface ResolvedEtcdOptions {
  /** `http(s)://host:port`, credentials removed. */
  hosts: string[]
  auth?: { username: string; password: string }
  timeout: number
  /** Present when TLS is on. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer }
}

export const DEFAULT_ADDRESS = '127.0.0.1:2379'
export const DEFAULT_PORT = '2379'
export const DEFAULT_TIMEOUT = 5000

function badOption(detail: string): MicroError {
  return new MicroError(ERROR_ID, 400, `etcd registry: ${detail}`)
}

type Env = Record<string, string | undefined>

/** Apply defaults, `MICRO_REGISTRY_ADDRESS` / `ETCD_USERNAME` / `ETCD_PASSWORD`, and parse the addresses. */
export function resolveOptions(
  options: EtcdRegistryOptions = {},
  env: Env = process.env,
): ResolvedEtcdOptions {
  const timeout = options.timeout ?? DEFAULT_TIMEOUT
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0) {
    throw badOption(`timeout must be a positive number of milliseconds, got ${String(timeout)}`)
  }
  let addresses = (options.addresses ?? []).map((a) => String(a).trim()).filter(Boolean)
  if (addresses.length === 0) {
    addresses = (env.MICRO_REGISTRY_ADDRESS ?? '')
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean)
  }
  if (addresses.length === 0) addresses = [DEFAULT_ADDRESS]

  const wantTls = options.tls !== undefined && options.tls !== false
  const parsed = addresses.map((a) => parseAddress(a, wantTls))
  const secure = parsed.filter((p) => p.secure).length
  if (secure !== 0 && secure !== parsed.length) {
    throw badOption(`addresses mix http:// and https://: ${addresses.join(', ')}`)
  }

  let auth: ResolvedEtcdOptions['auth']
  const fromUrl = parsed.find((p) => p.username)
  if (options.username) auth = { username: options.username, password: options.password ?? '' }
  else if (fromUrl?.username) auth = { username: fromUrl.username, password: fromUrl.password ?? '' }
  else if (env.ETCD_USERNAME && env.ETCD_PASSWORD)
    auth = { username: env.ETCD_USERNAME, password: env.ETCD_PASSWORD }

  const tls = secure > 0 || wantTls ? readTls(options.tls) : undefined
  return { hosts: parsed.map((p) => p.host), auth, timeout, tls }
}

interface ParsedAddress {
  host: string
  secure: boolean
  username?: string
  password?: string
}

/** `host[:port]`, `[v6]:port`, `http(s)://[user:pass@]host[:port]` → `http(s)://host:port`. */
export function parseAddress(address: string, tls = false): ParsedAddress {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(address)
  let url: URL
  try {
    url = new URL(hasScheme ? address : `${tls ? 'https' : 'http'}://${address}`)
  } catch {
    throw badOption(`invalid address "${address}" (expected host:port or http(s)://[user:pass@]host:port)`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw badOption(`unsupported scheme in address "${address}" (use http:// or https://)`)
  }
  if (!url.hostname || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw badOption(`invalid address "${address}" (expected host:port or http(s)://[user:pass@]host:port)`)
  }
  const secure = url.protocol === 'https:' || tls
  // URL drops a scheme's default port (80/443); etcd's default is 2379, so only an explicit port counts.
  const explicitPort = url.port || (/:(\d+)(?:\/)?$/.exec(address)?.[1] ?? '')
  const port = explicitPort || DEFAULT_PORT
  return {
    host: `${secure ? 'https' : 'http'}://${url.hostname}:${port}`,
    secure,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
  }
}

function readTls(tls: EtcdRegistryOptions['tls']): NonNullable<ResolvedEtcdOptions['tls']> {
  if (!tls || tls === true) return {}
  const pick = (inline: string | Uint8Array | undefined, file: string | undefined, what: string) => {
    if (inline !== undefined) return Buffer.from(inline)
    if (file === undefined) return undefined
    try {
      return readFileSync(file)
    } catch (err) {
      throw badOption(`cannot read TLS ${what} file ${file}: ${(err as Error).message}`)
    }
  }
  return {
    ca: pick(tls.ca, tls.caFile, 'CA'),
    cert: pick(tls.cert, tls.certFile, 'certificate'),
    key: pick(tls.key, tls.keyFile, 'key'),
  }
}
