/**
 * MicroError: the error every building block throws, with go-micro's JSON shape
 * `{id, code, detail, status}` (errors/errors.proto) so errors cross the wire between
 * Go and TypeScript services unchanged.
 */

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

/** Go's `http.StatusText(code)`; empty for codes Go does not know. */
export function statusText(code: number): string {
  return STATUS_TEXT[code] ?? ''
}

/** The JSON form of a go-micro error. Every field is optional on the wire (`omitempty`). */
export interface MicroErrorJSON {
  id?: string
  code?: number
  detail?: string
  status?: string
}

export class MicroError extends Error {
  readonly id: string
  readonly code: number
  readonly detail: string
  readonly status: string

  constructor(id: string, code: number, detail: string, status?: string, options?: { cause?: unknown }) {
    super(detail, options)
    this.name = 'MicroError'
    this.id = id
    this.code = code
    this.detail = detail
    this.status = status ?? statusText(code)
  }

  /** go-micro's `err.Error()`: the JSON text, which is what travels in `Micro-Error`. */
  override toString(): string {
    return JSON.stringify(this.toJSON())
  }

  toJSON(): MicroErrorJSON {
    const out: MicroErrorJSON = {}
    if (this.id) out.id = this.id
    if (this.code) out.code = this.code
    if (this.detail) out.detail = this.detail
    if (this.status) out.status = this.status
    return out
  }

  /** go-micro's `errors.Parse`: JSON becomes a MicroError, anything else lands in `detail`. */
  static parse(text: string): MicroError {
    const trimmed = text.trim()
    if (trimmed.startsWith('{')) {
      try {
        const j = JSON.parse(trimmed) as MicroErrorJSON
        if (j && typeof j === 'object' && !Array.isArray(j)) {
          return new MicroError(j.id ?? '', Number(j.code ?? 0), j.detail ?? '', j.status)
        }
      } catch {
        // not JSON: fall through to a plain detail
      }
    }
    return new MicroError('', 0, text, '')
  }

  /** Wrap anything thrown into a MicroError (500 unless it already is one). */
  static from(err: unknown, id = 'go.micro.server'): MicroError {
    if (err instanceof MicroError) return err
    if (err instanceof Error) return new MicroError(id, 500, err.message, undefined, { cause: err })
    return new MicroError(id, 500, String(err))
  }

  /** True when `a` and `b` carry the same id, code, detail and status (go-micro's `errors.Equal` compares code only; we compare all). */
  static equal(a: MicroError, b: MicroError): boolean {
    return a.id === b.id && a.code === b.code && a.detail === b.detail && a.status === b.status
  }
}

function make(code: number) {
  return (id: string, detail: string, cause?: unknown): MicroError =>
    new MicroError(id, code, detail, undefined, cause === undefined ? undefined : { cause })
}

/** Constructors named as in go-micro's errors package. */
export const errors = {
  badRequest: make(400),
  unauthorized: make(401),
  forbidden: make(403),
  notFound: make(404),
  methodNotAllowed: make(405),
  timeout: make(408),
  conflict: make(409),
  tooLarge: make(413),
  headersTooLarge: make(431),
  unsupportedMediaType: make(415),
  canceled: make(499),
  internalServerError: make(500),
  notImplemented: make(501),
  tooManyRequests: make(429),
  badGateway: make(502),
  serviceUnavailable: make(503),
  gatewayTimeout: make(504),
} as const

export function isMicroError(err: unknown): err is MicroError {
  return err instanceof MicroError
}

/**
 * A transport failure. `delivered: false` means the request provably never reached the server
 * (connect refused, DNS failure, connect timeout), so the client may retry it on another node
 * without risk of running the handler twice.
 */
export class TransportError extends MicroError {
  readonly delivered: boolean
  constructor(detail: string, options: { delivered: boolean; code?: number; cause?: unknown }) {
    super('go.micro.client', options.code ?? 500, detail, undefined, { cause: options.cause })
    this.name = 'TransportError'
    this.delivered = options.delivered
  }
}
