import { MicroError } from '../errors.js'
import { describe, toBytes } from './bytes.js'
import type { Codec } from './types.js'

/**
 * Bytes both ways, labelled `contentType`: for a caller holding a body already encoded in that
 * type (a gateway forwarding an HTTP request's JSON) that wants the answer's bytes as they came,
 * without a decode and an encode per hop. Give it to one call as `CallOptions.codec`; never
 * register it for a type that has its own codec, since it would answer every call of that type
 * with bytes (`octetStreamCodec` is this codec for bytes' own type).
 */
export function rawCodec(contentType: string): Codec {
  return {
    contentType,
    encode(value: unknown): Uint8Array {
      const bytes = toBytes(value)
      if (bytes) return bytes
      throw new MicroError(
        'go.micro.codec',
        500,
        `${contentType} encodes bytes (Uint8Array) or strings, not a ${describe(value)}`,
      )
    },
    decode(bytes: Uint8Array): Uint8Array {
      return bytes
    },
  }
}
