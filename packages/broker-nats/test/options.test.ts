/**
 * Options, addresses, the wire format and topic rules, without a server: every declared option
 * from the environment through the plugin loader, the 400s for unknown and bad ones, and the
 * README's option table against the declarations.
 */
import { readFileSync } from 'node:fs'
import { declaredCapabilities } from '@micro-ts/conformance'
import { expectMicroError, expectReadmeOptions } from '@micro-ts/conformance/testing'
import { silentLogger } from '@micro-ts/core'
import { createPlugin, decodeBrokerEnvelope, encodeBrokerEnvelope } from '@micro-ts/core/plugin'
import { describe, expect, it } from 'vitest'
import plugin, {
  CORE_CAPABILITIES,
  createNatsBroker,
  JETSTREAM_CAPABILITIES,
  type NatsBroker,
  natsBrokerOptions,
} from '../src/index.js'
import { checkTopic, decodeMessage } from '../src/message.js'
import { parseAddress, type ResolvedNatsOptions, resolveOptions } from '../src/options.js'
import { tlsFile } from './helpers.js'

const pem = (name: string) => readFileSync(tlsFile(name), 'utf8')

async function fromEnv(env: Record<string, string>): Promise<ResolvedNatsOptions> {
  const broker = (await createPlugin(plugin, { env, logger: silentLogger })) as NatsBroker
  return broker.resolvedOptions
}

describe('addresses', () => {
  it('parses host:port and nats/tls URLs and takes credentials from the URL', () => {
    expect(parseAddress('127.0.0.1')).toEqual({ server: '127.0.0.1:4222', tls: false })
    expect(parseAddress('nats://n1:4333')).toEqual({ server: 'n1:4333', tls: false })
    expect(parseAddress('nats://bob:s%40cret@n1:4222')).toEqual({
      server: 'n1:4222',
      tls: false,
      user: 'bob',
      pass: 's@cret',
    })
    expect(parseAddress('nats://tok3n@n1')).toEqual({ server: 'n1:4222', tls: false, token: 'tok3n' })
    expect(parseAddress('tls://n1:4443').tls).toBe(true)
  })

  it('refuses malformed addresses with a 400 of the broker', async () => {
    for (const bad of ['http://n1:4222', 'nats://', 'nats://n1:4222/path', 'n1:port', 'nats://n1?x=1']) {
      const err = await expectMicroError(() => parseAddress(bad), 400)
      expect(err.id, bad).toBe('go.micro.broker')
      expect(err.detail, bad).toMatch(/^nats broker: /)
    }
    await expectMicroError(() => createNatsBroker({ addresses: ['http://x:1'] }), 400)
  })

  it('defaults to nats://127.0.0.1:4222; options win over credentials in the URL', () => {
    expect(resolveOptions({}).servers).toEqual(['127.0.0.1:4222'])
    expect(resolveOptions({ addresses: ['a:1', 'nats://u:p@b:2'] })).toMatchObject({
      servers: ['a:1', 'b:2'],
      user: 'u',
      pass: 'p',
    })
    expect(resolveOptions({ addresses: ['nats://u:p@b:2'], user: 'o', pass: 'q' })).toMatchObject({
      user: 'o',
      pass: 'q',
    })
    expect(resolveOptions({ addresses: ['tls://b:2'] }).tls).toEqual({})
  })
})

describe('options, declared once', () => {
  it('JetStream is off by default; on, it has finite delivery limits', () => {
    expect(resolveOptions({}).jetstream).toBeUndefined()
    expect(resolveOptions({ jetstream: true }).jetstream).toEqual({
      streamPrefix: 'MICRO',
      storage: 'file',
      replicas: 1,
      maxAge: 0,
      ackWait: 30_000,
      maxDeliver: 5,
      nakDelay: 100,
      nakDelayMax: 10_000,
      prefetch: 32,
      inactiveThreshold: 300_000,
      publishTimeout: 10_000,
    })
    // A nested object in code turns the mode on, and its keys are the dotted options.
    expect(resolveOptions({ jetstream: { ackWait: 1000 } }).jetstream?.ackWait).toBe(1000)
    expect(resolveOptions({ tls: { caFile: tlsFile('ca.pem') } }).tls?.ca).toBe(pem('ca.pem'))
  })

  it('an unknown option or a bad value is a 400 naming it, from code and from the environment', async () => {
    const unknown = await expectMicroError(() => createNatsBroker({ bogus: 1 } as never), 400)
    expect(unknown.id).toBe('go.micro.broker')
    expect(unknown.detail).toMatch(/unknown option bogus; accepted: user, pass, token, connectTimeout/)
    const loaded = await expectMicroError(createPlugin(plugin, { options: { nope: true }, env: {} }), 400)
    expect(loaded.detail).toMatch(/^nats broker: unknown option nope/)
    const bad = await expectMicroError(() => createNatsBroker({ connectTimeout: 0 }), 400)
    expect(bad.detail).toMatch(/option connectTimeout must be a duration/)
    const env = await expectMicroError(
      createPlugin(plugin, { env: { MICRO_BROKER_NATS_JETSTREAM_MAX_DELIVER: 'many' } }),
      400,
    )
    expect(env.detail).toMatch(
      /jetstream.maxDeliver must be an integer >= 1, got "many" \(from MICRO_BROKER_NATS_JETSTREAM_MAX_DELIVER\)/,
    )
    await expectMicroError(() => createNatsBroker({ jetstream: { streamPrefix: 'a.b' } }), 400)
    await expectMicroError(() => createNatsBroker({ jetstream: { maxDeliver: 0 } }), 400)
    await expectMicroError(() => createNatsBroker({ jetstream: { storage: 'disk' as 'file' } }), 400)
    await expectMicroError(() => createNatsBroker({ jetstream: { nakDelay: 500, nakDelayMax: 100 } }), 400)
    await expectMicroError(() => createNatsBroker({ tls: { caFile: '/nonexistent/ca.pem' } }), 400)
    await expectMicroError(() => createNatsBroker({ tls: { certFile: tlsFile('client.pem') } }), 400)
  })

  /** Each declared option: a value as text in its variable, and where it must arrive. */
  const cases: Record<string, [string, (o: ResolvedNatsOptions) => unknown, unknown]> = {
    user: ['alice', (o) => o.user, 'alice'],
    pass: ['s3cret', (o) => o.pass, 's3cret'],
    token: ['t0ken', (o) => o.token, 't0ken'],
    connectTimeout: ['2s', (o) => o.connectTimeout, 2000],
    reconnectWait: ['250ms', (o) => o.reconnectWait, 250],
    name: ['billing-1', (o) => o.name, 'billing-1'],
    tls: ['true', (o) => o.tls, {}],
    'tls.ca': [pem('ca.pem'), (o) => o.tls?.ca, pem('ca.pem')],
    'tls.caFile': [tlsFile('ca.pem'), (o) => o.tls?.ca, pem('ca.pem')],
    'tls.cert': [pem('client.pem'), (o) => o.tls?.cert, pem('client.pem')],
    'tls.certFile': [tlsFile('client.pem'), (o) => o.tls?.cert, pem('client.pem')],
    'tls.key': [pem('client-key.pem'), (o) => o.tls?.key, pem('client-key.pem')],
    'tls.keyFile': [tlsFile('client-key.pem'), (o) => o.tls?.key, pem('client-key.pem')],
    jetstream: ['on', (o) => o.jetstream !== undefined, true],
    'jetstream.streamPrefix': ['ORDERS', (o) => o.jetstream?.streamPrefix, 'ORDERS'],
    'jetstream.storage': ['memory', (o) => o.jetstream?.storage, 'memory'],
    'jetstream.replicas': ['3', (o) => o.jetstream?.replicas, 3],
    'jetstream.maxAge': ['1h', (o) => o.jetstream?.maxAge, 3_600_000],
    'jetstream.ackWait': ['10s', (o) => o.jetstream?.ackWait, 10_000],
    'jetstream.maxDeliver': ['9', (o) => o.jetstream?.maxDeliver, 9],
    'jetstream.nakDelay': ['20ms', (o) => o.jetstream?.nakDelay, 20],
    'jetstream.nakDelayMax': ['2s', (o) => o.jetstream?.nakDelayMax, 2000],
    'jetstream.prefetch': ['8', (o) => o.jetstream?.prefetch, 8],
    'jetstream.inactiveThreshold': ['1m', (o) => o.jetstream?.inactiveThreshold, 60_000],
    'jetstream.publishTimeout': ['3s', (o) => o.jetstream?.publishTimeout, 3000],
  }

  it('the cases below cover every declared option', () => {
    expect(Object.keys(cases).sort()).toEqual(Object.keys(natsBrokerOptions).sort())
  })

  for (const [name, [value, read, expected]] of Object.entries(cases)) {
    it(`${name} can be set from the environment`, async () => {
      const variable = `MICRO_BROKER_NATS_${name
        .replace(/([a-z])([A-Z])/g, '$1_$2')
        .replaceAll('.', '_')
        .toUpperCase()}`
      const env: Record<string, string> = { [variable]: value }
      // A client key needs its certificate and the other way round; jetstream.* apply in JetStream mode.
      if (name.startsWith('tls.cert')) env.MICRO_BROKER_NATS_TLS_KEY = pem('client-key.pem')
      if (name.startsWith('tls.key')) env.MICRO_BROKER_NATS_TLS_CERT = pem('client.pem')
      if (name.startsWith('jetstream.')) env.MICRO_BROKER_NATS_JETSTREAM = 'true'
      expect(read(await fromEnv(env))).toEqual(expected)
      // Code wins over the environment.
      if (name === 'connectTimeout') {
        const broker = (await createPlugin(plugin, { env, options: { connectTimeout: 700 } })) as NatsBroker
        expect(broker.resolvedOptions.connectTimeout).toBe(700)
      }
    })
  }

  it('MICRO_NATS_JETSTREAM still turns JetStream on', async () => {
    expect((await fromEnv({ MICRO_NATS_JETSTREAM: 'true' })).jetstream).toBeDefined()
    expect((await fromEnv({})).jetstream).toBeUndefined()
  })
})

describe('the plugin definition', () => {
  it('declares its options and capabilities; JetStream mode adds ack and persistent (definition and instance agree)', async () => {
    expect(plugin.kind).toBe('broker')
    expect(plugin.name).toBe('nats')
    expect(plugin.options).toEqual(natsBrokerOptions)
    expect(plugin.capabilities).toEqual(['queue', 'ordered', 'shared'])
    expect(CORE_CAPABILITIES).toEqual(plugin.capabilities)
    const core = (await createPlugin(plugin, { env: {} })) as NatsBroker
    expect(core.capabilities).toEqual(plugin.capabilities)
    const js = (await createPlugin(plugin, { env: { MICRO_NATS_JETSTREAM: '1' } })) as NatsBroker
    expect(js.jetstream).toBe(true)
    expect(js.capabilities).toEqual([...(plugin.capabilities ?? []), 'ack', 'persistent'])
    expect(js.capabilities).toEqual(JETSTREAM_CAPABILITIES)
    // What the conformance CLI and the suites read from the definition for each mode.
    expect(declaredCapabilities(plugin, { jetstream: true })).toEqual(js.capabilities)
    expect(declaredCapabilities(plugin, { jetstream: false })).toEqual(core.capabilities)
  })

  it("the README's option table is the declarations'", () => {
    expectReadmeOptions(new URL('../README.md', import.meta.url), plugin)
  })
})

describe('wire format', () => {
  it("puts the kit's go-micro envelope on the wire", () => {
    const body = Buffer.from('hi')
    expect(
      Buffer.from(encodeBrokerEnvelope({ headers: { 'Micro-Topic': 'events', a: 'b' }, body })).toString(),
    ).toBe('{"Header":{"Micro-Topic":"events","a":"b"},"Body":"aGk="}')
  })

  it('decodes what Go writes (any key case, null header/body) and passes other payloads through', () => {
    expect(decodeMessage(Buffer.from('{"Header":null,"Body":null}'))).toEqual({
      headers: {},
      body: new Uint8Array(),
    })
    expect(decodeMessage(Buffer.from('{"header":{"k":"v"},"body":"AAEC"}'))).toEqual({
      headers: { k: 'v' },
      body: new Uint8Array([0, 1, 2]),
    })
    const plain = decodeMessage(Buffer.from('{"name":"John"}'), () => [['X-Trace', ['1']]])
    expect(plain.headers).toEqual({ 'X-Trace': '1' })
    expect(Buffer.from(plain.body).toString()).toBe('{"name":"John"}')
    const notBase64 = decodeMessage(Buffer.from('{"Body":"not base64!"}'))
    expect(Buffer.from(notBase64.body).toString()).toBe('{"Body":"not base64!"}')
    // What the kit decodes strictly, NATS delivers as plain bytes instead of refusing.
    expect(() => decodeBrokerEnvelope('{"Body":"not base64!"}')).toThrow()
  })

  it('checks topics: no whitespace, no empty tokens, wildcards only to subscribe', async () => {
    expect(() => checkTopic('a.b', false)).not.toThrow()
    expect(() => checkTopic('a.*.c', true)).not.toThrow()
    expect(() => checkTopic('a.>', true)).not.toThrow()
    for (const bad of ['', 'a b', 'a..b', '.a', 'a.', 'a.>.b', 'a*'])
      await expectMicroError(() => checkTopic(bad, true), 400)
    expect(() => checkTopic('a.*', false)).toThrow(/wildcards/)
  })
})
