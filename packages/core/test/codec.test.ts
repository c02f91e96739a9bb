import protobuf from 'protobufjs'
import { describe, expect, it } from 'vitest'
import {
  type Codec,
  Codecs,
  codecFor,
  jsonCodec,
  MicroError,
  mediaType,
  octetStreamCodec,
  type ProtoType,
  protobufCodec,
  registerCodec,
} from '../src/index.js'

const utf8 = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

function thrown(fn: () => unknown): MicroError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(MicroError)
    return e as MicroError
  }
  throw new Error('expected a throw')
}

describe('jsonCodec', () => {
  it('round-trips values', () => {
    const value = {
      name: 'John',
      n: 3,
      list: [1, 'two', null],
      nested: { ok: true },
      text: 'ünïcödé 名前 🙂',
    }
    const bytes = jsonCodec.encode(value)
    expect(text(bytes)).toBe(JSON.stringify(value))
    expect(jsonCodec.decode(bytes)).toEqual(value)
  })

  it('decodes an empty or whitespace-only body as {} (go-micro leaves the request zero-valued)', () => {
    expect(jsonCodec.decode(new Uint8Array())).toEqual({})
    expect(jsonCodec.decode(utf8(' \n\t'))).toEqual({})
  })

  it("accepts Go's trailing newline and a byte-order mark", () => {
    expect(jsonCodec.decode(utf8('{"a":1}\n'))).toEqual({ a: 1 })
    expect(jsonCodec.decode(utf8('\ufeff{"a":2}'))).toEqual({ a: 2 })
  })

  it('decodes bytes that are a view into a larger buffer', () => {
    const big = utf8('xx{"a":1}yy')
    expect(jsonCodec.decode(big.subarray(2, 9))).toEqual({ a: 1 })
  })

  it('encodes undefined as an empty body', () => {
    expect(jsonCodec.encode(undefined).length).toBe(0)
    expect(text(jsonCodec.encode(null))).toBe('null')
  })

  it('rejects malformed JSON with a 400 from go.micro.codec', () => {
    const err = thrown(() => jsonCodec.decode(utf8('{"name": ')))
    expect(err.code).toBe(400)
    expect(err.id).toBe('go.micro.codec')
    expect(err.status).toBe('Bad Request')
    expect(err.detail).toMatch(/malformed application\/json body/)
  })

  it('reports values JSON cannot encode as a 500 MicroError', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    const err = thrown(() => jsonCodec.encode(cyclic))
    expect(err.code).toBe(500)
    expect(err.detail).toMatch(/cannot encode application\/json/)
    expect(thrown(() => jsonCodec.encode({ n: 10n })).code).toBe(500)
  })
})

describe('protobufCodec', () => {
  const root = protobuf.Root.fromJSON({
    nested: {
      Request: { fields: { name: { type: 'string', id: 1 }, count: { type: 'int32', id: 2 } } },
    },
  })
  const Request = root.lookupType('Request') as unknown as ProtoType<{ name: string; count: number }>

  it('encodes and decodes through a message type', () => {
    const bytes = protobufCodec.encode({ name: 'John', count: 7 }, Request as ProtoType)
    // field 1 (string "John"), field 2 (varint 7)
    expect([...bytes]).toEqual([0x0a, 4, 0x4a, 0x6f, 0x68, 0x6e, 0x10, 7])
    const decoded = protobufCodec.decode(bytes, Request as ProtoType) as { name: string; count: number }
    expect(decoded.name).toBe('John')
    expect(decoded.count).toBe(7)
  })

  it('passes bytes through without a type', () => {
    const bytes = new Uint8Array([1, 2, 3])
    expect(protobufCodec.encode(bytes)).toBe(bytes)
    expect(protobufCodec.decode(bytes)).toBe(bytes)
    expect(protobufCodec.encode(undefined).length).toBe(0)
  })

  it('refuses to encode a non-bytes value without a type, saying what to do', () => {
    const err = thrown(() => protobufCodec.encode({ name: 'John' }))
    expect(err.code).toBe(500)
    expect(err.detail).toMatch(/without a message type/)
    expect(err.detail).toMatch(/Uint8Array/)
  })

  it('rejects undecodable bytes with a 400', () => {
    // field 1, length-delimited, claims 100 bytes but has 1
    const err = thrown(() => protobufCodec.decode(new Uint8Array([0x0a, 100, 1]), Request as ProtoType))
    expect(err.code).toBe(400)
    expect(err.detail).toMatch(/malformed application\/protobuf/)
  })
})

describe('octetStreamCodec', () => {
  it('moves bytes unchanged and strings as UTF-8', () => {
    const bytes = new Uint8Array([0, 255, 7])
    expect(octetStreamCodec.encode(bytes)).toBe(bytes)
    expect(octetStreamCodec.decode(bytes)).toBe(bytes)
    expect([...octetStreamCodec.encode('é')]).toEqual([0xc3, 0xa9])
    expect([...octetStreamCodec.encode(new Uint16Array([1]).buffer)]).toEqual([1, 0])
    expect(octetStreamCodec.encode(undefined).length).toBe(0)
  })

  it('rejects other values with a clear error', () => {
    const err = thrown(() => octetStreamCodec.encode({ a: 1 }))
    expect(err.code).toBe(500)
    expect(err.detail).toMatch(/bytes \(Uint8Array\) or strings, not a Object object/)
  })
})

describe('codecFor', () => {
  it('picks by content type', () => {
    expect(codecFor('application/json')).toBe(jsonCodec)
    expect(codecFor('application/protobuf')).toBe(protobufCodec)
    expect(codecFor('application/octet-stream')).toBe(octetStreamCodec)
  })

  it('ignores parameters and case (go-micro rejects these; we accept)', () => {
    expect(codecFor('application/json; charset=utf-8')).toBe(jsonCodec)
    expect(codecFor('Application/JSON')).toBe(jsonCodec)
    expect(codecFor('  application/protobuf ;proto=x')).toBe(protobufCodec)
    expect(mediaType('Text/Plain; charset=UTF-8')).toBe('text/plain')
  })

  it('uses JSON for an empty content type', () => {
    expect(codecFor('')).toBe(jsonCodec)
  })

  it('answers an unknown type with a 415 naming the supported ones', () => {
    const err = thrown(() => codecFor('text/xml'))
    expect(err.code).toBe(415)
    expect(err.id).toBe('go.micro.codec')
    expect(err.status).toBe('Unsupported Media Type')
    expect(err.detail).toContain('"text/xml"')
    for (const t of ['application/json', 'application/protobuf', 'application/octet-stream']) {
      expect(err.detail).toContain(t)
    }
  })
})

describe('registering codecs', () => {
  const textCodec: Codec = {
    contentType: 'text/plain',
    encode: (v) => utf8(String(v)),
    decode: (b) => text(b),
  }

  it('a Codecs set holds its own codecs and aliases', () => {
    const codecs = new Codecs([jsonCodec]).register(textCodec, ['text/x-plain'])
    expect(codecs.get('text/plain; charset=utf-8')).toBe(textCodec)
    expect(codecs.get('TEXT/X-PLAIN')).toBe(textCodec)
    expect(codecs.has('application/protobuf')).toBe(false)
    expect(codecs.types()).toEqual(['application/json', 'text/plain', 'text/x-plain'])
    expect(codecs.resolve('application/json')).toBe(jsonCodec)
    // The default set is untouched.
    expect(() => codecFor('text/x-plain')).toThrow(MicroError)
  })

  it('rejects something that is not a codec or a content type', () => {
    const codecs = new Codecs()
    expect(() =>
      codecs.register({ contentType: 'nonsense', encode: textCodec.encode, decode: textCodec.decode }),
    ).toThrow(/not a content type/)
    expect(() => codecs.register({} as Codec)).toThrow(TypeError)
  })

  it('registerCodec makes a codec available to codecFor', () => {
    const yaml: Codec = {
      contentType: 'application/x-test-yaml',
      encode: textCodec.encode,
      decode: textCodec.decode,
    }
    registerCodec(yaml)
    expect(codecFor('application/x-test-yaml; charset=utf-8')).toBe(yaml)
    expect(thrown(() => codecFor('application/xml')).detail).toContain('application/x-test-yaml')
  })
})
