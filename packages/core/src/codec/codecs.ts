import { MicroError } from '../errors.js'
import { jsonCodec } from './json.js'
import { octetStreamCodec } from './octet-stream.js'
import { protobufCodec } from './protobuf.js'
import type { Codec } from './types.js'

/**
 * The media type a codec is chosen by: parameters (`; charset=utf-8`) dropped, lower-cased.
 * go-micro matches Content-Type exactly and rejects `application/json; charset=utf-8`; we accept it.
 */
export function mediaType(contentType: string): string {
  const semi = contentType.indexOf(';')
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase()
}

/**
 * A set of codecs keyed by content type. `get()` is on every request's path: an exact match is
 * one map lookup, anything else is normalised once.
 */
export class Codecs {
  private readonly byType = new Map<string, Codec>()

  constructor(codecs: Iterable<Codec> = []) {
    for (const c of codecs) this.register(c)
  }

  /**
   * Add (or replace) a codec for its `contentType`, plus optional alias types
   * (e.g. `application/x-protobuf`). Returns `this` for chaining.
   */
  register(codec: Codec, aliases: readonly string[] = []): this {
    if (!codec || typeof codec.encode !== 'function' || typeof codec.decode !== 'function') {
      throw new TypeError('register: a codec needs contentType, encode() and decode()')
    }
    for (const type of [codec.contentType, ...aliases]) {
      const key = mediaType(type)
      if (!key.includes('/')) throw new TypeError(`register: "${type}" is not a content type (type/subtype)`)
      this.byType.set(key, codec)
    }
    return this
  }

  /** The codec for `contentType`, or undefined. Empty means the default (`application/json`). */
  find(contentType: string): Codec | undefined {
    const exact = this.byType.get(contentType)
    if (exact) return exact
    const key = mediaType(contentType)
    return this.byType.get(key === '' ? 'application/json' : key)
  }

  /** The codec for `contentType`; a 415 MicroError naming the supported types when there is none. */
  get(contentType: string): Codec {
    const codec = this.find(contentType)
    if (codec) return codec
    throw new MicroError(
      'go.micro.codec',
      415,
      `unsupported Content-Type "${contentType}": supported types are ${this.types().join(', ')}`,
    )
  }

  has(contentType: string): boolean {
    return this.find(contentType) !== undefined
  }

  /** The registered content types, sorted. */
  types(): string[] {
    return [...this.byType.keys()].sort()
  }

  /** `get` as a free function, for options that take `(contentType) => Codec` (client, server). */
  readonly resolve = (contentType: string): Codec => this.get(contentType)
}

/** The process-wide codecs that `codecFor` uses: JSON (default), protobuf and octet-stream. */
export const defaultCodecs: Codecs = new Codecs([jsonCodec, protobufCodec, octetStreamCodec])

/**
 * The codec for a Content-Type (parameters and case ignored; empty → JSON). Unknown types are a
 * 415 MicroError that lists the supported ones.
 */
export function codecFor(contentType: string): Codec {
  return defaultCodecs.get(contentType)
}

/** Make a codec available to `codecFor` (and so to every client and server using the defaults). */
export function registerCodec(codec: Codec, aliases: readonly string[] = []): void {
  defaultCodecs.register(codec, aliases)
}
