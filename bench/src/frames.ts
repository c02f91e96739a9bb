/**
 * Length-prefixed frames for the raw `net` contender: `u32 length | u32 id | u8 kind | payload`
 * (length counts everything after itself). Many requests share one connection; the id matches
 * a response to its request.
 */

export const HEADER = 9

export function encodeFrame(id: number, kind: number, payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(HEADER + payload.length)
  frame.writeUInt32BE(payload.length + 5, 0)
  frame.writeUInt32BE(id, 4)
  frame.writeUInt8(kind, 8)
  payload.copy(frame, HEADER)
  return frame
}

/**
 * Splits a byte stream into frames, calling `onFrame` for each complete one. A frame split
 * across chunks is gathered piecewise and joined once, when it is complete.
 */
export class FrameReader {
  private pending: Buffer[] = []
  private pendingBytes = 0
  /** Bytes needed before the pending pieces can yield progress. */
  private needed = 0

  constructor(private readonly onFrame: (id: number, kind: number, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    let buf = chunk
    if (this.pendingBytes > 0) {
      this.pending.push(chunk)
      this.pendingBytes += chunk.length
      if (this.pendingBytes < this.needed) return
      buf = Buffer.concat(this.pending, this.pendingBytes)
      this.pending = []
      this.pendingBytes = 0
    }
    let at = 0
    while (buf.length - at >= 4) {
      const len = buf.readUInt32BE(at)
      if (len < 5) throw new Error(`bad frame length ${len}`)
      if (buf.length - at < 4 + len) break
      this.onFrame(buf.readUInt32BE(at + 4), buf.readUInt8(at + 8), buf.subarray(at + HEADER, at + 4 + len))
      at += 4 + len
    }
    if (at < buf.length) {
      const rest = buf.subarray(at)
      this.pending = [rest]
      this.pendingBytes = rest.length
      this.needed = rest.length >= 4 ? 4 + rest.readUInt32BE(0) : 4
    }
  }
}

/** Writes queued in one tick go out as one syscall: cork now, uncork on the next tick. */
export function corkingWriter(socket: { cork(): void; uncork(): void; write(b: Buffer): boolean }) {
  let corked = false
  return (frame: Buffer) => {
    if (!corked) {
      corked = true
      socket.cork()
      process.nextTick(() => {
        corked = false
        socket.uncork()
      })
    }
    socket.write(frame)
  }
}
