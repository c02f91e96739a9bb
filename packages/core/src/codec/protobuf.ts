import { MicroError } from '../errors.js'
import { describe, EMPTY } from './bytes.js'
import type { Codec, ProtoType } from './types.js'

const ERROR_ID = 'go.micro.codec'

/**
 * `application/protobuf`. With a `ProtoType` (a protobufjs message type or anything with the same
 * static `encode`/`decode`) values go through it; without one the body is opaque bytes: decoding
 * returns the `Uint8Array` as is, and encoding accepts only bytes (or nothing).
 */
export const protobufCodec: Codec = {
  contentType: 'application/protobuf',

  encode(value: unknown, type?: ProtoType): Uint8Array {
    if (type) {
      try {
        return type.encode(value).finish()
      } catch (e) {
        throw new MicroError(
          ERROR_ID,
          500,
          `cannot encode application/protobuf: ${(e as Error).message}`,
          undefined,
          {
            cause: e,
          },
        )
      }
    }
    if (value instanceof Uint8Array) return value
    if (value === undefined || value === null) return EMPTY
    throw new MicroError(
      ERROR_ID,
      500,
      `cannot encode a ${describe(value)} as application/protobuf without a message type: ` +
        'pass a ProtoType (requestType/responseType) or send the encoded bytes as a Uint8Array',
    )
  },

  decode(bytes: Uint8Array, type?: ProtoType): unknown {
    if (!type) return bytes
    try {
      return type.decode(bytes)
    } catch (e) {
      throw new MicroError(
        ERROR_ID,
        400,
        `malformed application/protobuf body: ${(e as Error).message}`,
        undefined,
        {
          cause: e,
        },
      )
    }
  },
}
