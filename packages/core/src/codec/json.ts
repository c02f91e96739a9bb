import { MicroError } from '../errors.js'
import { asBuffer, EMPTY } from './bytes.js'
import type { Codec } from './types.js'

const ERROR_ID = 'go.micro.codec'

/** True when the body has nothing but JSON whitespace (or nothing at all). */
function isBlank(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return false
  }
  return true
}

/**
 * `application/json`, the default codec. Encoding `undefined` gives an empty body (go-micro
 * writes nothing for a nil body). Decoding an empty (or whitespace-only) body gives `{}`: go-micro's
 * server skips decoding an empty body and hands the handler a zero-valued request struct, whose
 * closest JSON equivalent is an empty object. Malformed JSON is the caller's fault: a 400.
 */
export const jsonCodec: Codec = {
  contentType: 'application/json',

  encode(value: unknown): Uint8Array {
    let text: string | undefined
    try {
      text = JSON.stringify(value)
    } catch (e) {
      throw new MicroError(
        ERROR_ID,
        500,
        `cannot encode application/json: ${(e as Error).message}`,
        undefined,
        {
          cause: e,
        },
      )
    }
    // JSON.stringify(undefined) and of a function is undefined: nothing to send.
    return text === undefined ? EMPTY : Buffer.from(text, 'utf8')
  },

  decode(bytes: Uint8Array): unknown {
    if (bytes.length === 0 || isBlank(bytes)) return {}
    let text = asBuffer(bytes).toString('utf8')
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1) // a UTF-8 byte-order mark is not JSON
    try {
      return JSON.parse(text)
    } catch (e) {
      throw new MicroError(
        ERROR_ID,
        400,
        `malformed application/json body: ${(e as Error).message}`,
        undefined,
        {
          cause: e,
        },
      )
    }
  },
}
