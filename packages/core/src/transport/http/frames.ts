/**
 * The frames a micro-stream carries after the HTTP/1.1 upgrade. Every frame is
 * `type (u8) | length (u32 BE) | payload`:
 *
 * - MESSAGE: `count (u16) | count × (nameLen u16 | name | valueLen u32 | value) | body` (UTF-8)
 * - END: no payload; the sender will send nothing more (its side of the stream is closed).
 * - ERROR: a MicroError's JSON; like END, but the stream failed.
 */
import { MicroError } from '../../errors.js'
import type { TransportMessage } from '../types.js'

export const FRAME_MESSAGE = 1
export const FRAME_END = 2
export const FRAME_ERROR = 3

const HEAD = 5
/** Bodies up to this size are copied into the frame buffer (one write); larger ones are written as is. */
const COPY_LIMIT = 16 * 1024

const EMPTY: Buffer = Buffer.alloc(0)
const END_FRAME: Buffer = Buffer.from([FRAME_END, 0, 0, 0, 0])

/** A MESSAGE frame as one or two buffers (two when the body is large: no copy). */
export function encodeMessage(message: TransportMessage): Buffer[] {
  const headers = message.headers ?? {}
  const body = message.body ?? new Uint8Array(0)
  const names: string[] = []
  const values: string[] = []
  let headerBytes = 2
  for (const k in headers) {
    const v = headers[k]
    if (v === undefined || v === null) continue
    const value = typeof v === 'string' ? v : String(v)
    names.push(k)
    values.push(value)
    headerBytes += 6 + Buffer.byteLength(k) + Buffer.byteLength(value)
  }
  if (names.length > 0xffff)
    throw new MicroError('go.micro.transport', 400, 'too many headers in a stream message')
  const copy = body.length <= COPY_LIMIT
  const payload = headerBytes + body.length
  const buf = Buffer.allocUnsafe(HEAD + headerBytes + (copy ? body.length : 0))
  buf[0] = FRAME_MESSAGE
  buf.writeUInt32BE(payload, 1)
  buf.writeUInt16BE(names.length, HEAD)
  let at = HEAD + 2
  for (let i = 0; i < names.length; i++) {
    const n = buf.write(names[i], at + 2, 'utf8')
    if (n > 0xffff) throw new MicroError('go.micro.transport', 400, 'stream message header name too long')
    buf.writeUInt16BE(n, at)
    at += 2 + n
    const m = buf.write(values[i], at + 4, 'utf8')
    buf.writeUInt32BE(m, at)
    at += 4 + m
  }
  if (!copy)
    return [buf, body instanceof Buffer ? body : Buffer.from(body.buffer, body.byteOffset, body.length)]
  buf.set(body, at)
  return [buf]
}

export function endFrame(): Buffer {
  return END_FRAME
}

export function encodeError(error: MicroError): Buffer {
  const json = Buffer.from(error.toString(), 'utf8')
  const buf = Buffer.allocUnsafe(HEAD + json.length)
  buf[0] = FRAME_ERROR
  buf.writeUInt32BE(json.length, 1)
  json.copy(buf, HEAD)
  return buf
}

export function decodeMessage(payload: Buffer): TransportMessage {
  const bad = () => new MicroError('go.micro.transport', 400, 'malformed stream message frame')
  if (payload.length < 2) throw bad()
  const count = payload.readUInt16BE(0)
  const headers: Record<string, string> = {}
  let at = 2
  for (let i = 0; i < count; i++) {
    if (at + 2 > payload.length) throw bad()
    const n = payload.readUInt16BE(at)
    at += 2
    if (at + n + 4 > payload.length) throw bad()
    const name = payload.toString('utf8', at, at + n).toLowerCase()
    at += n
    const m = payload.readUInt32BE(at)
    at += 4
    if (at + m > payload.length) throw bad()
    headers[name] = payload.toString('utf8', at, at + m)
    at += m
  }
  return { headers, body: payload.subarray(at) }
}

/**
 * Splits a byte stream into frames. Payloads that sit inside one chunk are views (no copy);
 * a frame larger than `limit` is an error (413) before any of it is buffered.
 */
export class FrameDecoder {
  private chunks: Buffer[] = []
  private buffered = 0

  constructor(
    private readonly limit: number,
    private readonly onFrame: (type: number, payload: Buffer) => void,
  ) {}

  /** Feed bytes; calls onFrame for every complete frame. Throws a MicroError on a bad frame. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.buffered += chunk.length
    while (this.buffered >= HEAD) {
      const head = this.peekHead()
      const type = head[0]
      const length = head.readUInt32BE(1)
      if (type !== FRAME_MESSAGE && type !== FRAME_END && type !== FRAME_ERROR) {
        throw new MicroError('go.micro.transport', 400, `unknown stream frame type ${type}`)
      }
      if (length > this.limit) {
        throw new MicroError(
          'go.micro.transport',
          413,
          `stream message of ${length} bytes exceeds the limit of ${this.limit}`,
        )
      }
      if (this.buffered < HEAD + length) return
      this.take(HEAD)
      this.onFrame(type, this.take(length))
    }
  }

  private peekHead(): Buffer {
    const first = this.chunks[0]
    if (first.length >= HEAD) return first
    return Buffer.concat(this.chunks, HEAD).subarray(0, HEAD)
  }

  /** Remove and return the next `n` buffered bytes. */
  private take(n: number): Buffer {
    if (n === 0) return EMPTY
    this.buffered -= n
    const first = this.chunks[0]
    if (first.length > n) {
      this.chunks[0] = first.subarray(n)
      return first.subarray(0, n)
    }
    if (first.length === n) {
      this.chunks.shift()
      return first
    }
    const out = Buffer.allocUnsafe(n)
    let at = 0
    while (at < n) {
      const c = this.chunks[0]
      const want = n - at
      if (c.length <= want) {
        c.copy(out, at)
        at += c.length
        this.chunks.shift()
      } else {
        c.copy(out, at, 0, want)
        this.chunks[0] = c.subarray(want)
        at += want
      }
    }
    return out
  }
}
