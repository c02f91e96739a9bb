// Unit tests of the mDNS record encoding: nothing here opens a socket, so it runs anywhere.
import { deflateSync, inflateSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import {
  announcement,
  collectEntries,
  type Entry,
  isComplete,
  RECORD_TTL,
  type Zone,
  zoneRecords,
} from '../src/registry/mdns/records.js'
import { decodeTxt, encodeTxt, type MdnsTxt } from '../src/registry/mdns/txt.js'

// Produced by Go 1.26 with go-micro's mdnsTxt/Endpoint/Value shapes: json.Marshal, compress/zlib, hex.
const GO_JSON =
  '{"Metadata":{"lang":"go","protocol":"mucp"},"Service":"greeter","Version":"1.0.0","Endpoints":[{"request":{"name":"Request","type":"Request","values":[{"name":"name","type":"string","values":null}]},"response":{"name":"Response","type":"Response","values":[{"name":"greeting","type":"string","values":null}]},"metadata":{"stream":"false"},"name":"Greeter.Hello"}]}'
const GO_HEX =
  '789c8490b16ac4301044ff656a612eadfa903469124813ae10be8d31c8bbcaeefa2018fd7bf0591c3629ae120c6fe7a159f0469e2ec913e2829c7840c42008282a2ebd64444c735f50033e48af634f2ba1444e8a804f521b8511f1d49dba13029ef952646437c4af054a3f3399afed9ca6f5f6bd2501fe5b8ec135e599b6bb06df9e3b69ae230f3b90e79cebb906285911363a785ab413dd93ffa6db97b6f687b669b799b9529a10f19db2d13a532b7cd936ea5e2967413dd7bf000000ffff17387a44'

const greeter: MdnsTxt = {
  service: 'greeter',
  version: '1.0.0',
  metadata: { protocol: 'mucp', lang: 'go' },
  endpoints: [
    {
      name: 'Greeter.Hello',
      request: { name: 'Request', type: 'Request', values: [{ name: 'name', type: 'string' }] },
      response: { name: 'Response', type: 'Response', values: [{ name: 'greeting', type: 'string' }] },
      metadata: { stream: 'false' },
    },
  ],
}

function chunks(hex: string): string[] {
  const out: string[] = []
  for (let i = 0; i < hex.length; i += 255) out.push(hex.slice(i, i + 255))
  return out
}

describe('mDNS TXT payload (go-micro encode/decode)', () => {
  it("decodes a record Go's go-micro produced", () => {
    expect(decodeTxt(chunks(GO_HEX))).toEqual({
      ...greeter,
      metadata: { lang: 'go', protocol: 'mucp' },
    })
    // As raw buffers too, the way the DNS library hands TXT strings over.
    expect(decodeTxt(chunks(GO_HEX).map((c) => Buffer.from(c)))?.service).toBe('greeter')
  })

  it('encodes the very JSON Go writes (field names, order, nulls, sorted maps)', () => {
    const txt = encodeTxt(greeter)
    expect(inflateSync(Buffer.from(txt.join(''), 'hex')).toString()).toBe(GO_JSON)
  })

  it('writes a service without endpoints or metadata as Go does, with nulls', () => {
    const json = inflateSync(Buffer.from(encodeTxt({ service: 's', version: '' }).join(''), 'hex')).toString()
    expect(json).toBe('{"Metadata":null,"Service":"s","Version":"","Endpoints":null}')
    expect(decodeTxt(encodeTxt({ service: 's', version: '' }))).toEqual({ service: 's', version: '' })
  })

  it('splits into strings of at most 255 characters that decode back', () => {
    const big: MdnsTxt = {
      service: 'big',
      version: '2',
      metadata: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`key${i}`, `${Math.random()}`])),
      endpoints: Array.from({ length: 200 }, (_, i) => ({
        name: `Svc.Method${i}${Math.random().toString(36)}`,
        request: { name: 'Req', type: 'Req', values: [{ name: `f${i}`, type: 'string' }] },
      })),
    }
    const txt = encodeTxt(big)
    expect(txt.length).toBeGreaterThan(3)
    for (const s of txt) expect(s.length).toBeLessThanOrEqual(255)
    for (const s of txt.slice(0, -1)) expect(s.length).toBe(255)
    expect(decodeTxt(txt)).toEqual({ ...big, metadata: big.metadata })
    // The small greeter record still fits one string per 255 characters.
    expect(encodeTxt(greeter).every((s) => s.length <= 255)).toBe(true)
  })

  it('refuses what is not a go-micro payload', () => {
    const hex = (s: string) => deflateSync(Buffer.from(s)).toString('hex')
    expect(decodeTxt([])).toBeUndefined()
    expect(decodeTxt([''])).toBeUndefined()
    expect(decodeTxt(['zz'])).toBeUndefined()
    expect(decodeTxt(['abc'])).toBeUndefined() // odd length
    expect(decodeTxt(['deadbeef'])).toBeUndefined() // hex, not zlib
    expect(decodeTxt([hex('not json')])).toBeUndefined()
    expect(decodeTxt([hex('[1,2]')])).toBeUndefined()
    expect(decodeTxt([hex('{"Version":"1"}')])).toBeUndefined() // no service
    expect(decodeTxt([hex('null')])).toBeUndefined()
    // A zlib bomb (8 MiB of spaces, past the 1 MiB limit) is refused instead of inflated.
    const bomb = deflateSync(Buffer.alloc(8 << 20, 0x20)).toString('hex')
    expect(decodeTxt(chunks(bomb))).toBeUndefined()
  })

  it('ignores wrongly typed fields instead of trusting them', () => {
    const hex = deflateSync(
      Buffer.from(
        JSON.stringify({
          Service: 'x',
          Version: 7,
          Metadata: { ok: 'yes', bad: 1 },
          Endpoints: [null, { name: 5 }, { name: 'A.B', request: 'nope', metadata: [] }],
        }),
      ),
    ).toString('hex')
    expect(decodeTxt(chunks(hex))).toEqual({
      service: 'x',
      version: '',
      metadata: { ok: 'yes' },
      endpoints: [{ name: 'A.B' }],
    })
  })
})

const node: Zone = {
  instance: 'greeter-1',
  service: 'greeter',
  domain: 'micro',
  hostName: 'box.',
  port: 8080,
  ips: ['10.1.2.3'],
  txt: ['abcd'],
}

describe('mDNS records (go-micro zone.go / client.go)', () => {
  it('answers PTR <service>.micro. with PTR, SRV, A and TXT', () => {
    const rr = zoneRecords(node, { name: 'greeter.micro.', type: 'PTR' })
    expect(rr).toEqual([
      { name: 'greeter.micro.', type: 'PTR', ttl: RECORD_TTL, data: 'greeter-1.greeter.micro.' },
      {
        name: 'greeter-1.greeter.micro.',
        type: 'SRV',
        ttl: 120,
        data: { priority: 10, weight: 1, port: 8080, target: 'box.' },
      },
      { name: 'box.', type: 'A', ttl: 120, data: '10.1.2.3' },
      { name: 'greeter-1.greeter.micro.', type: 'TXT', ttl: 120, data: ['abcd'] },
    ])
  })

  it('answers instance, host and DNS-SD questions, and nothing else', () => {
    expect(zoneRecords(node, { name: 'greeter-1.greeter.micro.', type: 'TXT' }).map((r) => r.type)).toEqual([
      'TXT',
    ])
    expect(zoneRecords(node, { name: 'greeter-1.greeter.micro.', type: 'SRV' }).map((r) => r.type)).toEqual([
      'SRV',
      'A',
    ])
    expect(zoneRecords(node, { name: 'greeter-1.greeter.micro.', type: 'ANY' }).map((r) => r.type)).toEqual([
      'SRV',
      'A',
      'TXT',
    ])
    expect(zoneRecords(node, { name: 'box.', type: 'A' })).toEqual([
      { name: 'box.', type: 'A', ttl: 120, data: '10.1.2.3' },
    ])
    expect(zoneRecords(node, { name: '_services._dns-sd._udp.micro.', type: 'PTR' })).toEqual([
      { name: '_services._dns-sd._udp.micro.', type: 'PTR', ttl: 120, data: 'greeter.micro.' },
    ])
    expect(zoneRecords(node, { name: 'other.micro.', type: 'PTR' })).toEqual([])
    expect(zoneRecords(node, { name: 'greeter.micro.', type: 'A' })).toEqual([])
    const v6 = { ...node, ips: ['fe80::1'] }
    expect(zoneRecords(v6, { name: 'greeter-1.greeter.micro.', type: 'SRV' })[1]).toEqual({
      name: 'box.',
      type: 'AAAA',
      ttl: 120,
      data: 'fe80::1',
    })
  })

  it('the _services wildcard lists the service with an empty TXT', () => {
    const wildcard: Zone = {
      ...node,
      instance: 'greeter',
      service: '_services',
      port: 9999,
      ips: ['0.0.0.0'],
      txt: [],
    }
    const rr = zoneRecords(wildcard, { name: '_services.micro.', type: 'PTR' })
    expect(rr.map((r) => [r.type, r.name])).toEqual([
      ['PTR', '_services.micro.'],
      ['SRV', 'greeter._services.micro.'],
      ['A', 'box.'],
      ['TXT', 'greeter._services.micro.'],
    ])
    const e = new Map<string, Entry>()
    collectEntries(rr, e)
    // dns-packet hands back names without the trailing dot and an empty TXT as [].
    const entry = e.get('greeter._services.micro.')!
    expect(entry).toMatchObject({ port: 9999, v4: '0.0.0.0', txt: [] })
    expect(isComplete(entry)).toBe(true)
  })

  it("reads A records named after the shared host name via the SRV before them (go-micro's alias rule)", () => {
    const a = { ...node, instance: 'a', ips: ['10.0.0.1'] }
    const b = { ...node, instance: 'b', ips: ['10.0.0.2'], port: 9090 }
    // As decoded by dns-packet: no trailing dots.
    const undot = (rr: ReturnType<typeof announcement>) =>
      rr.map((r) => ({
        ...r,
        name: r.name.replace(/\.$/, ''),
        ...(r.type === 'SRV' ? { data: { ...r.data, target: r.data.target.replace(/\.$/, '') } } : {}),
        ...(r.type === 'PTR' ? { data: r.data.replace(/\.$/, '') } : {}),
      }))
    const entries = new Map<string, Entry>()
    const touched = collectEntries(undot([...announcement(a), ...announcement(b)]), entries)
    expect(touched.map((t) => t.name).sort()).toEqual(['a.greeter.micro.', 'b.greeter.micro.'])
    expect(entries.get('a.greeter.micro.')).toMatchObject({ v4: '10.0.0.1', port: 8080, ttl: 120 })
    expect(entries.get('b.greeter.micro.')).toMatchObject({ v4: '10.0.0.2', port: 9090, ttl: 120 })
    // A goodbye (TTL 0) for b only touches b.
    const bye = new Map<string, Entry>()
    const gone = collectEntries(undot(announcement(b, 0)), bye)
    expect(gone.map((g) => [g.name, g.ttl, g.v4])).toEqual([['b.greeter.micro.', 0, '10.0.0.2']])
  })

  it('keeps at most maxEntries instances per collection', () => {
    const entries = new Map<string, Entry>()
    const rr = Array.from({ length: 50 }, (_, i) => ({
      name: 'x.micro',
      type: 'PTR',
      ttl: 120,
      data: `n${i}.x.micro`,
    }))
    collectEntries(rr, entries, 10)
    expect(entries.size).toBe(10)
  })
})
