import { rawCodec } from './raw.js'
import type { Codec } from './types.js'

/**
 * `application/octet-stream`: raw bytes both ways (go-micro's bytes codec). Encoding accepts a
 * `Uint8Array` (or any ArrayBuffer view) as is and a string as UTF-8; decoding returns the bytes.
 */
export const octetStreamCodec: Codec = rawCodec('application/octet-stream')
