/**
 * go-micro's own stream flavour over its HTTP transport, so that go-micro clients can stream
 * to our servers and our clients to go-micro servers. go-micro hijacks the connection after the
 * first `POST /` and then speaks plain HTTP/1.1 messages on it, unpaired:
 *
 * - every client message is a full `POST /` with the stream's headers (incl. `Micro-Stream`);
 *   the first one's body is the call's request, which go-micro's server discards for streams;
 * - every server message is a full `HTTP/1.1 200 OK` response echoing the first request's headers;
 * - the server ends with `Micro-Error: EOS` (or the error's JSON); the client ends its side with a
 *   `POST /` carrying `Micro-Error: EOS` and an empty body, then closes the connection.
 *
 * (Sources: go-micro v5 transport/http_listener.go, http_socket.go, http_client.go,
 * client/rpc_stream.go, server/rpc_server.go, server/rpc_stream.go.)
 */
import type { Socket } from 'node:net'
import { MicroError } from '../../errors.js'
import { closedByClient } from '../net.js'
import type { TransportMessage } from '../types.js'
import {
  type ClientStreamControl,
  clientEnd,
  MessageStream,
  SERVER_END,
  type ServerStreamControl,
} from './stream.js'
import { HOP_BY_HOP, textValue, wireValue } from './wire.js'

/** Largest response head we read. */
const MAX_HEAD = 64 * 1024
const CRLFCRLF = Buffer.from('\r\n\r\n')

/** `name: value\r\n` lines, later entries replacing earlier ones with the same name (any case). */
function headerLines(base: Map<string, string>, extra: Record<string, string> | undefined): string {
  let map = base
  if (extra) {
    for (const k in extra) {
      const v = extra[k]
      if (v === undefined || v === null) continue
      const lower = k.toLowerCase()
      if (HOP_BY_HOP.has(lower)) continue
      if (map === base) map = new Map(base)
      map.set(lower, `${k}: ${wireValue(String(v))}\r\n`)
    }
  }
  let out = ''
  for (const line of map.values()) out += line
  return out
}

/** A header set as lines keyed by lower-case name (what headerLines overlays). */
export function lineMap(headers: Record<string, string> | string[]): Map<string, string> {
  const map = new Map<string, string>()
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2)
      map.set(headers[i].toLowerCase(), `${headers[i]}: ${headers[i + 1]}\r\n`)
  } else {
    for (const k in headers) {
      if (!HOP_BY_HOP.has(k.toLowerCase())) map.set(k.toLowerCase(), `${k}: ${wireValue(headers[k])}\r\n`)
    }
  }
  return map
}

export interface ParsedHead {
  status: number
  headers: Record<string, string>
  /** Bytes the head took, CRLFCRLF included. */
  size: number
}

/** Parse an HTTP/1.x response head at the start of `buf`; undefined until it is complete. */
export function parseResponseHead(buf: Buffer, id: string): ParsedHead | undefined {
  const end = buf.indexOf(CRLFCRLF)
  if (end === -1) {
    if (buf.length > MAX_HEAD) throw new MicroError(id, 502, 'HTTP response head too large')
    return undefined
  }
  const lines = buf.toString('latin1', 0, end).split('\r\n')
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0])
  if (!m) throw new MicroError(id, 502, `not an HTTP response: ${JSON.stringify(lines[0].slice(0, 60))}`)
  const headers: Record<string, string> = {}
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = textValue(line.slice(colon + 1).trim())
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  return { status: Number(m[1]), headers, size: end + 4 }
}

/** Splits a byte stream into HTTP/1.1 responses (Content-Length bodies, as Go writes them). */
class ResponseReader {
  private chunks: Buffer[] = []
  private size = 0
  private head?: ParsedHead
  private bodyLength = 0

  constructor(
    private readonly limit: number,
    private readonly onResponse: (status: number, headers: Record<string, string>, body: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.size += chunk.length
    for (;;) {
      if (!this.head) {
        const head = parseResponseHead(this.flatten(), 'go.micro.client')
        if (!head) return
        this.skip(head.size)
        if (head.status >= 100 && head.status < 200) continue // informational: no body
        if (head.headers['transfer-encoding'] !== undefined) {
          throw new MicroError(
            'go.micro.client',
            502,
            'stream response with Transfer-Encoding is not supported',
          )
        }
        const length = Number(head.headers['content-length'] ?? 0)
        if (!Number.isSafeInteger(length) || length < 0)
          throw new MicroError('go.micro.client', 502, 'bad Content-Length')
        if (length > this.limit) {
          throw new MicroError(
            'go.micro.client',
            413,
            `stream message of ${length} bytes exceeds the limit of ${this.limit}`,
          )
        }
        this.head = head
        this.bodyLength = length
      }
      // Wait for the whole body without copying; then one copy at most.
      if (this.size < this.bodyLength) return
      const all = this.flatten()
      const body = all.subarray(0, this.bodyLength)
      this.skip(this.bodyLength)
      const { status, headers } = this.head
      this.head = undefined
      this.onResponse(status, headers, body)
    }
  }

  private flatten(): Buffer {
    if (this.chunks.length === 0) return Buffer.alloc(0)
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.size)]
    return this.chunks[0]
  }

  private skip(n: number): void {
    const all = this.flatten()
    this.chunks = n >= all.length ? [] : [all.subarray(n)]
    this.size -= n
  }
}

/** Classify a go-micro message by its Micro-Error header: a message, the end (EOS), or an error. */
function endOf(headers: Record<string, string>): MicroError | 'eos' | undefined {
  const e = headers['micro-error']
  if (e === undefined || e === '') return undefined
  return e === 'EOS' ? 'eos' : MicroError.parse(e)
}

/** The server's end of a stream opened by a go-micro client. The listener feeds it requests. */
export class GoMicroServerStream extends MessageStream implements ServerStreamControl {
  /** go-micro echoes the opening request's headers in every response. */
  private readonly echo: Map<string, string>

  constructor(
    socket: Socket,
    readonly headers: Record<string, string>,
  ) {
    super(socket, SERVER_END, false)
    this.echo = lineMap(headers)
    this.echo.delete('micro-error')
  }

  /** One `POST /` that arrived on the stream's connection after the opening one. */
  push(headers: Record<string, string>, body: Uint8Array): void {
    const end = endOf(headers)
    if (end === 'eos') this.remoteEnd()
    else if (end) this.remoteEnd(end)
    else this.deliver({ headers, body })
  }

  protected encode(message: TransportMessage): (Buffer | string)[] {
    const body = message.body ?? new Uint8Array(0)
    const head = `HTTP/1.1 200 OK\r\n${headerLines(this.echo, message.headers)}Content-Length: ${body.length}\r\n\r\n`
    return body.length === 0 ? [head] : [head, Buffer.from(body.buffer, body.byteOffset, body.byteLength)]
  }

  protected endBytes(error?: MicroError): string {
    const value = error ? wireValue(error.toString()) : 'EOS'
    return `HTTP/1.1 200 OK\r\n${headerLines(this.echo, undefined)}Micro-Error: ${value}\r\nContent-Length: 0\r\n\r\n`
  }

  async close(error?: Error): Promise<void> {
    this.finish(error)
  }
}

/** The client's end of a stream to a go-micro server. */
export class GoMicroClientStream extends MessageStream implements ClientStreamControl {
  private readonly reader: ResponseReader

  constructor(
    socket: Socket,
    private readonly address: string,
    /** The opening request's headers (Host and Micro-* included), as lines. */
    private readonly lines: Map<string, string>,
    limit: number,
    head?: Buffer,
  ) {
    super(socket, clientEnd(address), true)
    this.reader = new ResponseReader(limit, (status, headers, body) => this.onResponse(status, headers, body))
    if (head && head.length > 0) this.onData(head)
  }

  private onResponse(status: number, headers: Record<string, string>, body: Buffer): void {
    if (status !== 200) {
      const text = body.toString('utf8', 0, Math.min(body.length, 300)).trim()
      this.remoteEnd(
        new MicroError(
          'go.micro.client',
          status,
          `${this.address} answered HTTP ${status}${text ? `: ${text}` : ''}`,
        ),
      )
      return
    }
    const end = endOf(headers)
    if (end === 'eos') this.remoteEnd()
    else if (end) this.remoteEnd(end)
    else this.deliver({ headers, body })
  }

  protected override parse(chunk: Buffer): void {
    this.reader.push(chunk)
  }

  protected encode(message: TransportMessage): (Buffer | string)[] {
    const body = message.body ?? new Uint8Array(0)
    const head = `POST / HTTP/1.1\r\n${headerLines(this.lines, message.headers)}Content-Length: ${body.length}\r\n\r\n`
    return body.length === 0 ? [head] : [head, Buffer.from(body.buffer, body.byteOffset, body.byteLength)]
  }

  protected endBytes(): string {
    // go-micro clients can only end with EOS (they have no error to send).
    return `POST / HTTP/1.1\r\n${headerLines(this.lines, undefined)}Micro-Error: EOS\r\nContent-Length: 0\r\n\r\n`
  }

  /**
   * Sends EOS. A go-micro handler that then returns without error sends nothing more (go-micro
   * has no half-close; its own client cannot CloseSend), so recv() may wait for the deadline.
   */
  async closeSend(): Promise<void> {
    this.endLocal()
  }

  /** Like go-micro's Close: EOS, then the connection goes. */
  async close(): Promise<void> {
    this.endLocal()
    this.fail(closedByClient(), false)
    this.shutdown()
  }
}
