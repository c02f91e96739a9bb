/**
 * One HTTP request as a route handler sees it: the parsed path and query, the body read within
 * the size limit, and the call options the caller's request carries (deadline, headers, and an
 * abort when the caller goes away).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { CallOptions } from '@micro-ts/core'
import { parseDuration, parseTimeoutHeader } from '@micro-ts/core/plugin'
import { gatewayErrors } from './errors.js'

/** What a context needs from its gateway (the gateway itself implements it). */
export interface ContextOwner {
  readonly maxBodySize: number
  readonly timeout?: number
  readonly maxTimeout?: number
  forwardHeader(name: string): boolean
}

/** A handler's answer: `body` is sent as is when it is bytes or a string, as JSON otherwise. */
export interface RouteResult {
  status?: number
  headers?: Record<string, string>
  body?: unknown
}

export class RouteContext<G extends ContextOwner = ContextOwner> {
  readonly method: string
  /** The path inside the gateway (its mount prefix removed), without the query. */
  readonly path: string
  /** Request headers, lower-case names (Node's). */
  readonly headers: IncomingHttpHeaders
  /** Parameters of the matched route (`:service`, `*endpoint`). */
  params: Record<string, string> = {}
  private bodyPromise?: Promise<Buffer>
  private abort?: AbortController
  private readonly queryString: string
  private parsedQuery?: URLSearchParams

  constructor(
    readonly gateway: G,
    readonly request: IncomingMessage,
    readonly response: ServerResponse,
    path: string,
    query: string,
  ) {
    this.method = request.method ?? 'GET'
    this.path = path
    this.queryString = query
    this.headers = request.headers
  }

  /** The query parameters, parsed on first use (most calls have none). */
  get query(): URLSearchParams {
    this.parsedQuery ??= new URLSearchParams(this.queryString)
    return this.parsedQuery
  }

  /** The request body, at most the gateway's `maxBodySize` bytes (a 413 past it). */
  body(): Promise<Buffer> {
    this.bodyPromise ??= readBody(this.request, this.gateway.maxBodySize)
    return this.bodyPromise
  }

  /**
   * The body as JSON, `{}` when it is empty (go-micro's gateway sends `{}` for no body): a 400
   * when it is not JSON, a 415 when the content type says it is something else.
   */
  async json(): Promise<unknown> {
    const form = this.formOrJson()
    const bytes = await this.body()
    if (bytes.length === 0) return {}
    const text = bytes.toString('utf8')
    // `curl -d '{...}'` says form-urlencoded: JSON is read as JSON, a real form as an object of strings.
    if (form && !/^\s*[[{]/.test(text)) return Object.fromEntries(new URLSearchParams(text))
    return parseJson(text)
  }

  /**
   * The body as JSON bytes to forward as they are: checked to be JSON (the same 400 and 415 as
   * json()), `{}` when empty; undefined for a real form, which only json() can turn into JSON.
   */
  async jsonBytes(): Promise<Uint8Array | undefined> {
    const form = this.formOrJson()
    const bytes = await this.body()
    if (bytes.length === 0) return EMPTY_OBJECT
    const text = bytes.toString('utf8')
    if (form && !/^\s*[[{]/.test(text)) return undefined
    parseJson(text)
    return bytes
  }

  /** True for a form-urlencoded body; a 415 unless the content type is a JSON one (or none). */
  private formOrJson(): boolean {
    const type = this.headers['content-type']
    if (type === undefined || type === 'application/json') return false
    const form = type.split(';')[0].trim().toLowerCase() === 'application/x-www-form-urlencoded'
    if (type && !form && !isJsonType(type)) {
      throw gatewayErrors.unsupportedMediaType(`content type ${type} is not accepted: send application/json`)
    }
    return form
  }

  /** The caller's deadline in ms from now: go-micro's `Timeout` header (ns), else `?timeout=5s`, capped by `maxTimeout`. */
  timeout(): number | undefined {
    let ms = parseTimeoutHeader(header(this.headers, 'timeout'))
    const fromQuery = this.queryString === '' ? null : this.query.get('timeout')
    if (ms === undefined && fromQuery) {
      try {
        ms = parseDuration(fromQuery)
      } catch (e) {
        throw gatewayErrors.badRequest(`timeout=${fromQuery}: ${(e as Error).message}`)
      }
    }
    ms ??= this.gateway.timeout
    const max = this.gateway.maxTimeout
    return max !== undefined && (ms === undefined || ms > max) ? max : ms
  }

  /** The headers carried through to the service as go-micro context metadata. */
  forwardedHeaders(): Record<string, string> {
    const out: Record<string, string> = {}
    const raw = this.request.rawHeaders
    const names = forwardedNames(this.gateway)
    for (let i = 0; i < raw.length; i += 2) {
      let name = names.get(raw[i])
      if (name === undefined) {
        const lower = raw[i].toLowerCase()
        name = this.gateway.forwardHeader(lower) ? lower : false
        // Callers send few distinct names; a bound keeps one sending random ones from growing it.
        if (names.size >= MAX_CACHED_NAMES) names.clear()
        names.set(raw[i], name)
      }
      if (name === false) continue
      out[name] = out[name] === undefined ? raw[i + 1] : `${out[name]},${raw[i + 1]}`
    }
    return out
  }

  /** Fires when the caller goes away before the answer is sent. */
  get signal(): AbortSignal {
    if (!this.abort) {
      const abort = new AbortController()
      this.abort = abort
      this.response.once('close', () => {
        if (!this.response.writableFinished) abort.abort(gatewayErrors.canceled('the caller went away'))
      })
    }
    return this.abort.signal
  }

  /**
   * Call options for the request: its deadline, forwarded headers, and an abort signal that
   * fires when the caller goes away: `signal` once read, else its connection's, made once per
   * connection rather than once per request (one HTTP/1.1 connection carries one request at a
   * time, so its closing mid-call is the caller going away).
   */
  callOptions(extra: CallOptions = {}): CallOptions {
    const signal = this.abort?.signal ?? connectionSignal(this.request) ?? this.signal
    const options: CallOptions = { headers: this.forwardedHeaders(), signal, ...extra }
    const timeout = this.timeout()
    if (timeout !== undefined && extra.timeout === undefined) options.timeout = timeout
    return options
  }
}

/** `{}`: what an empty body is sent as (go-micro's gateway does the same) and an empty JSON answer reads as. */
export const EMPTY_OBJECT: Uint8Array = Buffer.from('{}')

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (e) {
    throw gatewayErrors.badRequest(`the request body is not JSON: ${(e as Error).message}`)
  }
}

const MAX_CACHED_NAMES = 256

const connectionAborts = new WeakMap<object, AbortController>()

/** Aborted when the request's connection closes; one per connection (none for a request without one). */
function connectionSignal(request: IncomingMessage): AbortSignal | undefined {
  const socket = request.socket as IncomingMessage['socket'] | null
  if (!socket) return undefined
  let abort = connectionAborts.get(socket)
  if (!abort) {
    const made = new AbortController()
    abort = made
    connectionAborts.set(socket, made)
    socket.once('close', () => made.abort(gatewayErrors.canceled('the caller went away')))
  }
  return abort.signal
}

/**
 * Per owner, a request header's name as sent → its lower-case name when it is forwarded, or
 * false: the same few names arrive on every request, so each is lower-cased and judged once.
 */
const forwarded = new WeakMap<ContextOwner, Map<string, string | false>>()

function forwardedNames(owner: ContextOwner): Map<string, string | false> {
  let names = forwarded.get(owner)
  if (!names) {
    names = new Map()
    forwarded.set(owner, names)
  }
  return names
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

function isJsonType(type: string): boolean {
  const base = type.split(';')[0].trim().toLowerCase()
  return base === 'application/json' || base.endsWith('+json') || base === 'text/plain'
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'])
  if (declared > limit) {
    req.resume()
    return Promise.reject(
      gatewayErrors.tooLarge(`the request body of ${declared} bytes is over the limit of ${limit}`),
    )
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        req.removeAllListeners('data')
        req.resume()
        reject(gatewayErrors.tooLarge(`the request body is over the limit of ${limit} bytes`))
        return
      }
      chunks.push(chunk)
    })
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)))
    req.once('error', (e) =>
      reject(gatewayErrors.badRequest(`reading the request body failed: ${e.message}`)),
    )
  })
}
