/** Byte helpers shared by the codecs: views, never copies, where Node allows it. */

/** A Buffer over the same memory as `bytes` (no copy), so Node's fast string decoding can be used. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** Bytes for the values a byte-oriented codec accepts; undefined for anything else. */
export function toBytes(value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value
  if (typeof value === 'string') return Buffer.from(value, 'utf8')
  if (value instanceof ArrayBuffer) return new Uint8Array(value)
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  if (value === undefined || value === null) return EMPTY
  return undefined
}

export const EMPTY: Uint8Array = new Uint8Array(0)

/** A short description of a value's type for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  if (typeof value === 'object')
    return value.constructor?.name ? `${value.constructor.name} object` : 'object'
  return typeof value
}
