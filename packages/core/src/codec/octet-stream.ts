import { MicroError } from '../errors.js'
import { describe, toBytes } from './bytes.js'
import type { Codec } from './types.js'

/**
 * `application/octet-stream`: raw bytes both ways (go-micro's bytes codec). Encoding accepts a
 * `Uint8Array` (or any ArrayBuffer view) as is and a string as UTF-8; decoding returns the bytes.
 */
export const octetStreamCodec: Codec = {
  contentType: 'application/octet-stream',

  encode(value: unknown): Uint8Array {
    const bytes = toBytes(value)
    if (bytes) return bytes
    throw new MicroError(
      'go.micro.codec',
      500,
      `application/octet-stream encodes bytes (Uint8Array) or strings, not a ${describe(value)}`,
    )
  },

  decode(bytes: Uint8Array): Uint8Array {
    return bytes
  },
}
