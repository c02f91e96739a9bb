/** The plugin kit (`@micro-ts/core/plugin`): the pieces every plugin builds on. */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  backoff,
  boundedIdentifier,
  capabilitiesOf,
  decodeBase64,
  decodeBrokerEnvelope,
  definePlugin,
  encodeBrokerEnvelope,
  isDialable,
  nestOptions,
  option,
  optionEnvName,
  optionsTable,
  ownedBytes,
  parseBrokerEnvelope,
  parseOptions,
  parseUrl,
  pluginErrors,
  readTls,
  redact,
  setLongTimeout,
  tlsOptions,
} from '../src/plugin/index.js'

const owner = { kind: 'broker', name: 'nats' } as const
const specs = {
  poolSize: option.integer({ doc: 'connections', default: 2, min: 1 }),
  name: option.string({ doc: 'a name' }),
  jetstream: option.flag({ doc: 'durable mode' }),
  'jetstream.ackWait': option.duration({ doc: 'ack wait', default: 30_000 }),
  storage: option.oneOf(['file', 'memory'] as const, { doc: 'where', default: 'file' }),
  servers: option.list({ doc: 'servers' }),
  token: option.secret({ doc: 'a token', env: ['NATS_TOKEN'] }),
  ...tlsOptions('NATS'),
} as const

function fails(fn: () => unknown): { id: string; code: number; detail: string } {
  try {
    fn()
  } catch (e) {
    return e as { id: string; code: number; detail: string }
  }
  throw new Error('expected a throw')
}

describe('parseOptions: one intake for every plugin', () => {
  it('fills defaults and leaves the rest undefined', () => {
    expect(parseOptions(specs, {}, owner)).toEqual({
      poolSize: 2,
      'jetstream.ackWait': 30_000,
      storage: 'file',
    })
  })

  it('code wins over the environment, the environment over the default; extra variables are read too', () => {
    const env = {
      MICRO_BROKER_NATS_POOL_SIZE: '7',
      MICRO_BROKER_NATS_JETSTREAM_ACK_WAIT: '5s',
      MICRO_BROKER_NATS_SERVERS: 'a:1, b:2',
      NATS_TOKEN: 'sekrit',
      MICRO_BROKER_NATS_JETSTREAM: 'yes',
    }
    const o = parseOptions(specs, { poolSize: 3 }, { ...owner, env })
    expect(o).toMatchObject({
      poolSize: 3,
      jetstream: true,
      'jetstream.ackWait': 5000,
      servers: ['a:1', 'b:2'],
      token: 'sekrit',
    })
  })

  it('reads nested groups from code and turns them back into objects', () => {
    const o = parseOptions(specs, { jetstream: { ackWait: '2s' }, tls: { caFile: '/ca.pem' } }, owner)
    expect(o).toMatchObject({
      jetstream: true,
      'jetstream.ackWait': 2000,
      tls: true,
      'tls.caFile': '/ca.pem',
    })
    expect(nestOptions(o)).toMatchObject({ jetstream: { ackWait: 2000 }, tls: { caFile: '/ca.pem' } })
    expect(nestOptions({ jetstream: false, 'jetstream.ackWait': 1 })).toEqual({ jetstream: false })
  })

  it('an unknown option or a bad value is a 400 of the kind naming it and the accepted ones', () => {
    const unknown = fails(() => parseOptions(specs, { nope: 1 }, owner))
    expect(unknown).toMatchObject({ id: 'go.micro.broker', code: 400 })
    expect(unknown.detail).toMatch(/^nats broker: unknown option nope; accepted: poolSize, name, jetstream, /)
    for (const [given, pattern] of [
      [{ poolSize: 0 }, /option poolSize must be an integer >= 1, got 0/],
      [{ poolSize: 1.5 }, /option poolSize must be an integer/],
      [{ storage: 'disk' }, /option storage must be one of file, memory, got "disk"/],
      [{ jetstream: 'maybe' }, /option jetstream must be true or false/],
      [{ 'jetstream.ackWait': 'soon' }, /option jetstream.ackWait must be a duration/],
      [{ name: 5 }, /option name must be a string/],
    ] as const) {
      expect(fails(() => parseOptions(specs, given, owner))).toMatchObject({
        code: 400,
        detail: expect.stringMatching(pattern),
      })
    }
    const fromEnv = fails(() =>
      parseOptions(specs, {}, { ...owner, env: { MICRO_BROKER_NATS_POOL_SIZE: 'abc' } }),
    )
    expect(fromEnv.detail).toMatch(/got "abc" \(from MICRO_BROKER_NATS_POOL_SIZE\)/)
  })

  it('never echoes a secret', () => {
    const withSecret = { key: option.secret({ doc: 'k', env: ['K'] }), n: option.integer({ doc: 'n' }) }
    const err = fails(() =>
      parseOptions({ ...withSecret, 'key.x': option.integer({ doc: 'x' }) }, { key: 42 }, owner),
    )
    expect(err.detail).not.toContain('42')
    expect(optionsTable({ key: option.secret({ doc: 'k', default: 'hunter2' }) }, owner)).not.toContain(
      'hunter2',
    )
  })

  it("shared options apply only when declared, below the plugin's own variables", () => {
    expect(parseOptions(specs, {}, { ...owner, shared: { poolSize: 9 } }).poolSize).toBe(9)
    expect(
      parseOptions(
        specs,
        {},
        { ...owner, env: { MICRO_BROKER_NATS_POOL_SIZE: '4' }, shared: { poolSize: 9 } },
      ).poolSize,
    ).toBe(4)
    expect(() => parseOptions({}, {}, { ...owner, shared: { poolSize: 9 } })).not.toThrow()
  })

  it('names variables MICRO_<KIND>_<NAME>_<OPTION> and makes the README table from the declarations', () => {
    expect(optionEnvName(owner, 'jetstream.ackWait')).toBe('MICRO_BROKER_NATS_JETSTREAM_ACK_WAIT')
    expect(optionEnvName({ kind: 'registry', name: '@acme/zoo-keeper' }, 'tls.caFile')).toBe(
      'MICRO_REGISTRY_ZOO_KEEPER_TLS_CA_FILE',
    )
    const table = optionsTable(specs, owner)
    expect(table.split('\n')[0]).toBe('| option | environment | type | default | description |')
    expect(table).toContain('| `token` | `MICRO_BROKER_NATS_TOKEN`, `NATS_TOKEN` | string |  | a token |')
    expect(table).toContain(
      '| `storage` | `MICRO_BROKER_NATS_STORAGE` | `file` \\| `memory` | `file` | where |',
    )
  })
})

describe('definePlugin and capabilities', () => {
  it('joins the capabilities a mode adds', () => {
    const def = definePlugin({
      kind: 'broker',
      name: 'x',
      options: { durable: option.flag({ doc: 'd', default: false }) },
      capabilities: ['queue'],
      modeCapabilities: (o) => (o.durable ? ['ack'] : []),
      create: () => {
        throw new Error('not needed')
      },
    })
    expect(capabilitiesOf(def, { durable: false })).toEqual(['queue'])
    expect(capabilitiesOf(def, { durable: true })).toEqual(['queue', 'ack'])
  })
})

describe('addresses and URLs', () => {
  it('isDialable: host:port with a real port and a plausible host only', () => {
    for (const ok of ['127.0.0.1:80', '[::1]:8080', 'svc.example:1', 'localhost:65535'])
      expect(isDialable(ok), ok).toBe(true)
    for (const bad of [
      '',
      ':0',
      '127.0.0.1:0',
      '127.0.0.1:8080/x',
      'x:70000',
      '[1:2:3]:1',
      'ho<st:80',
      'a b:1',
      '::1:80',
      5,
    ]) {
      expect(isDialable(bad), String(bad)).toBe(false)
    }
  })

  it('parseUrl: bare host:port gets the defaults, a wrong scheme is a 400 without the password', () => {
    const opts = {
      schemes: ['postgresql', 'postgres'],
      defaultUser: 'postgres',
      defaultPath: '/db',
      defaultPort: 5432,
      label: 'pg store',
      errorId: 'go.micro.store',
    }
    expect(parseUrl('db.local', opts).href).toBe('postgresql://postgres@db.local:5432/db')
    expect(parseUrl('postgres://u@h:6000/x', opts).port).toBe('6000')
    expect(parseUrl('http://etcd:80', { ...opts, schemes: ['http'], defaultPort: 2379 }).href).toBe(
      'http://etcd/',
    )
    const err = fails(() => parseUrl('mysql://u:hunter2@h', opts))
    expect(err).toMatchObject({ id: 'go.micro.store', code: 400 })
    expect(err.detail).toContain('pg store: invalid address')
    expect(err.detail).not.toContain('hunter2')
    expect(redact('redis://u:pw@h:1/0')).toBe('redis://u:***@h:1/0')
  })
})

describe('backoff', () => {
  it('grows by the factor from base, never past max, with bounded jitter', () => {
    const exact = backoff({ base: 100, max: 1000, jitter: 0 })
    expect([1, 2, 3, 4, 5, 50].map(exact)).toEqual([100, 200, 400, 800, 1000, 1000])
    const jittered = backoff({ base: 100, max: 1000, jitter: 0.5 })
    for (let i = 0; i < 200; i++) {
      const d = jittered(2)
      expect(d).toBeGreaterThanOrEqual(100)
      expect(d).toBeLessThanOrEqual(300)
    }
    expect(() => backoff({ base: 10, max: 5 })).toThrow(RangeError)
  })
})

describe('errors per kind', () => {
  it('carry the kind id, the label and the cause', () => {
    const cause = new Error('socket closed')
    const e = pluginErrors('store', 'redis store').unavailable('server gone', cause)
    expect(e.toJSON()).toEqual({
      id: 'go.micro.store',
      code: 503,
      detail: 'redis store: server gone',
      status: 'Service Unavailable',
    })
    expect(e.cause).toBe(cause)
    expect(pluginErrors('registry').notConnected('watch').detail).toBe(
      'cannot watch: not connected; call connect() first',
    )
  })
})

describe('TLS material', () => {
  it('reads PEM inline or from files; a certificate needs its key; off unless asked for', () => {
    const errors = pluginErrors('broker', 'nats broker')
    const dir = mkdtempSync(path.join(tmpdir(), 'kit-tls-'))
    writeFileSync(path.join(dir, 'ca.pem'), 'CA PEM')
    expect(readTls({}, errors)).toBeUndefined()
    expect(readTls({ tls: true }, errors)).toEqual({})
    expect(readTls({ 'tls.caFile': path.join(dir, 'ca.pem') }, errors)).toEqual({ ca: 'CA PEM' })
    expect(readTls({ 'tls.ca': 'inline', 'tls.caFile': '/nope' }, errors)).toEqual({ ca: 'inline' })
    expect(fails(() => readTls({ 'tls.caFile': '/nope/ca.pem' }, errors)).detail).toMatch(
      /cannot read the TLS CA file \/nope\/ca.pem/,
    )
    expect(fails(() => readTls({ 'tls.cert': 'c' }, errors)).detail).toMatch(/needs its key/)
  })
})

describe("go-micro's broker envelope", () => {
  it('round-trips headers and any bytes, large bodies included, without a regular expression', () => {
    const body = new Uint8Array(6 * 1024 * 1024).map((_, i) => i % 251)
    const wire = encodeBrokerEnvelope({ headers: { a: 'ü' }, body }, { 'Micro-Topic': 't' })
    const back = decodeBrokerEnvelope(wire)
    expect(back.headers).toEqual({ a: 'ü', 'Micro-Topic': 't' })
    expect(Buffer.compare(Buffer.from(back.body), Buffer.from(body))).toBe(0)
    expect(
      JSON.parse(encodeBrokerEnvelope({ headers: {}, body: new Uint8Array([104, 105]) }).toString()),
    ).toEqual({ Header: {}, Body: 'aGk=' })
  })

  it('reads keys as Go does (case-insensitively, null as empty) and says what is wrong with the rest', () => {
    expect(parseBrokerEnvelope('{"header":{"k":"v"},"body":null}')).toEqual({
      headers: { k: 'v' },
      body: new Uint8Array(),
    })
    expect(parseBrokerEnvelope(Buffer.from('plain bytes'))).toBeUndefined()
    expect(parseBrokerEnvelope('{"Header":{},"Body":"aGk=","Extra":1}')).toBeUndefined()
    expect(fails(() => decodeBrokerEnvelope('{"Body":"not base64!!"}'))).toMatchObject({
      code: 400,
      detail: expect.stringMatching(/base64/),
    })
    expect(fails(() => decodeBrokerEnvelope('{"Header":{"n":5}}')).detail).toMatch(
      /header "n" must be a string/,
    )
  })

  it('decodeBase64 takes standard base64 only (with line breaks as Go does)', () => {
    expect(decodeBase64('aGk=')).toEqual(new Uint8Array([104, 105]))
    expect(decodeBase64('aG\nk=')).toEqual(new Uint8Array([104, 105]))
    for (const bad of ['a!k=', 'aGk=aGk=', 'aG-k', 'a===', 'ü==='])
      expect(decodeBase64(bad), bad).toBeUndefined()
  })
})

describe('boundedIdentifier', () => {
  it('keeps short names, makes long ones distinct and stable within the limit', () => {
    expect(boundedIdentifier('micro', 63)).toBe('micro')
    const a = boundedIdentifier(`${'x'.repeat(63)}_a`, 63)
    const b = boundedIdentifier(`${'x'.repeat(63)}_b`, 63)
    expect(a).not.toBe(b)
    expect(Buffer.byteLength(a)).toBeLessThanOrEqual(63)
    expect(boundedIdentifier(`${'x'.repeat(63)}_a`, 63)).toBe(a)
    expect(Buffer.byteLength(boundedIdentifier('é'.repeat(40), 63))).toBeLessThanOrEqual(63)
  })
})

describe('setLongTimeout', () => {
  it('a delay past 2^31 ms does not fire at once, and clear() stops it', async () => {
    let fired = 0
    const warnings: string[] = []
    const onWarning = (w: Error) => void warnings.push(w.name)
    process.on('warning', onWarning)
    const t = setLongTimeout(() => fired++, 2 ** 31 + 10_000)
    const soon = setLongTimeout(() => fired++, 5)
    await new Promise((r) => setTimeout(r, 50))
    t.clear()
    soon.clear()
    process.off('warning', onWarning)
    expect(fired).toBe(1)
    expect(warnings).not.toContain('TimeoutOverflowWarning')
  })
})

describe('ownedBytes', () => {
  it('copies the range into memory of its own: later writes to the source do not reach it', () => {
    const reply = Buffer.from('hdr:value:trailer')
    const value = ownedBytes(reply, 4, 9)
    expect(value.constructor).toBe(Uint8Array) // a plain Uint8Array, not a Buffer
    expect(Buffer.from(value).toString()).toBe('value')
    reply.fill(0)
    expect(Buffer.from(value).toString()).toBe('value')
  })

  it('copies all of a Uint8Array by default, clamps a range past the end, and takes empty ones', () => {
    const source = new Uint8Array([1, 2, 3])
    expect([...ownedBytes(source)]).toEqual([1, 2, 3])
    expect([...ownedBytes(source, 1, 99)]).toEqual([2, 3])
    expect(ownedBytes(source, 3).byteLength).toBe(0)
    expect(ownedBytes(new Uint8Array()).byteLength).toBe(0)
  })

  it('a large value is copied whole', () => {
    const big = Buffer.alloc(100_000, 7)
    const copy = ownedBytes(big, 10)
    expect(copy.byteLength).toBe(99_990)
    expect(copy.every((b) => b === 7)).toBe(true)
  })
})
