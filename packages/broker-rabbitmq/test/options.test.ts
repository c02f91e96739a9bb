/**
 * Options, addresses and topic rules, without a server: every declared option from the
 * environment through the plugin loader, the 400s for unknown and bad ones, TLS, and the
 * README's option table against the declarations.
 */
import { expectMicroError, expectReadmeOptions, testCertificates } from '@micro-ts/conformance/testing'
import { isPluginDefinition, silentLogger } from '@micro-ts/core'
import { createPlugin, optionEnvName } from '@micro-ts/core/plugin'
import { describe, expect, it } from 'vitest'
import plugin, { createRabbitMQBroker, type RabbitMQBroker, rabbitmqBrokerOptions } from '../src/index.js'
import { resolveOptions } from '../src/options.js'
import { topicMatches } from '../src/subscription.js'

const owner = { kind: 'broker', name: 'rabbitmq' } as const
const certs = testCertificates()

async function fromEnv(env: Record<string, string>, addresses: string[] = []) {
  const broker = (await createPlugin(plugin, { env, addresses, logger: silentLogger })) as RabbitMQBroker
  return broker.options
}

describe('the plugin', () => {
  it('is a broker plugin named rabbitmq that declares its options and capabilities', () => {
    expect(isPluginDefinition(plugin)).toBe(true)
    expect(plugin.kind).toBe('broker')
    expect(plugin.name).toBe('rabbitmq')
    expect(plugin.options).toEqual(rabbitmqBrokerOptions)
    expect(plugin.capabilities).toEqual(['queue', 'ack', 'persistent', 'shared'])
  })

  it('takes the first of MICRO_BROKER_ADDRESS and masks the password', async () => {
    const o = await fromEnv({}, ['amqp://u:secret@example.invalid:5673/vh', 'amqp://other'])
    expect(o.displayAddress).toBe('amqp://u:***@example.invalid:5673/vh')
    expect(o.url).toContain('u:secret@example.invalid:5673/vh')
  })

  it('every option can be set from MICRO_BROKER_RABBITMQ_<OPTION>', async () => {
    const env: Record<string, string> = {
      [optionEnvName(owner, 'address')]: 'amqp://a:b@mq.internal:5999/prod',
      [optionEnvName(owner, 'exchange')]: 'events',
      [optionEnvName(owner, 'durableExchange')]: 'true',
      [optionEnvName(owner, 'durableQueues')]: 'false',
      [optionEnvName(owner, 'persistent')]: 'no',
      [optionEnvName(owner, 'prefetch')]: '7',
      [optionEnvName(owner, 'connectTimeout')]: '2s',
      [optionEnvName(owner, 'publishTimeout')]: '1500ms',
      [optionEnvName(owner, 'heartbeat')]: '30s',
      [optionEnvName(owner, 'reconnectWait')]: '250',
      [optionEnvName(owner, 'reconnectMaxWait')]: '3s',
      [optionEnvName(owner, 'maxDeliveries')]: '3',
      [optionEnvName(owner, 'redeliveryWait')]: '20ms',
      [optionEnvName(owner, 'redeliveryMaxWait')]: '1s',
      [optionEnvName(owner, 'deadLetterExchange')]: 'dead',
      [optionEnvName(owner, 'maxMessageSize')]: '1048576',
      [optionEnvName(owner, 'connectionName')]: 'billing',
      [optionEnvName(owner, 'tls.ca')]: certs.ca,
    }
    // The test names every declared option but the TLS group, which has its own case below.
    const plain = Object.keys(rabbitmqBrokerOptions).filter((k) => !k.startsWith('tls'))
    expect(Object.keys(env).length - 1).toBe(plain.length)
    expect(await fromEnv(env)).toMatchObject({
      url: expect.stringMatching(/^amqps:\/\/a:b@mq\.internal:5999\/prod\?heartbeat=30$/),
      exchange: 'events',
      durableExchange: true,
      durableQueues: false,
      persistent: false,
      prefetch: 7,
      connectTimeout: 2000,
      publishTimeout: 1500,
      heartbeat: 30,
      reconnectWait: 250,
      reconnectMaxWait: 3000,
      maxDeliveries: 3,
      redeliveryWait: 20,
      redeliveryMaxWait: 1000,
      deadLetterExchange: 'dead',
      maxMessageSize: 1_048_576,
      connectionName: 'billing',
      tls: { ca: expect.stringContaining('BEGIN CERTIFICATE') },
    })
  })

  it('MICRO_BROKER_ADDRESS wins over the address option; code wins over the environment', async () => {
    const env = {
      [optionEnvName(owner, 'address')]: 'amqp://env-host',
      [optionEnvName(owner, 'prefetch')]: '9',
    }
    expect((await fromEnv(env, ['amqp://loader-host'])).displayAddress).toMatch(/loader-host/)
    const b = (await createPlugin(plugin, {
      env,
      options: { prefetch: 3 },
      logger: silentLogger,
    })) as RabbitMQBroker
    expect(b.options.prefetch).toBe(3)
  })

  it('an unknown option and a bad value are 400s of the broker that name them', async () => {
    const unknown = await expectMicroError(
      createPlugin(plugin, { env: {}, options: { reconnectDelay: 100 }, logger: silentLogger }),
      400,
    )
    expect(unknown.id).toBe('go.micro.broker')
    expect(unknown.detail).toMatch(
      /^rabbitmq broker: unknown option reconnectDelay; accepted: address, exchange/,
    )
    const bad = await expectMicroError(
      createPlugin(plugin, { env: { MICRO_BROKER_RABBITMQ_PREFETCH: 'many' }, logger: silentLogger }),
      400,
    )
    expect(bad.detail).toBe(
      'rabbitmq broker: option prefetch must be an integer from 1 to 65535, got "many" (from MICRO_BROKER_RABBITMQ_PREFETCH)',
    )
    // The same shape from code.
    const code = await expectMicroError(() => createRabbitMQBroker({ prefetch: 0 }), 400)
    expect(code.detail).toMatch(/^rabbitmq broker: option prefetch must be an integer/)
  })

  it('malformed addresses, reserved names and inverted waits are 400s', async () => {
    for (const options of [
      { address: 'http://127.0.0.1:5672' },
      { address: 'amqp://' },
      { address: 'host name' },
      { exchange: 'amq.topic' },
      { exchange: '' },
      { deadLetterExchange: 'amq.direct' },
      { publishTimeout: -1 },
      { reconnectWait: 1000, reconnectMaxWait: 10 },
      { redeliveryWait: 1000, redeliveryMaxWait: 10 },
      { maxDeliveries: 0 },
    ]) {
      const err = await expectMicroError(() => createRabbitMQBroker(options), 400)
      expect(err.id, JSON.stringify(options)).toBe('go.micro.broker')
      expect(err.detail, JSON.stringify(options)).toMatch(/^rabbitmq broker: /)
    }
  })
})

describe('addresses and TLS', () => {
  it("a bare host[:port] is guest/guest on RabbitMQ's port; the default is the local server", () => {
    expect(resolveOptions({}).url).toBe('amqp://guest:guest@127.0.0.1:5672?heartbeat=10')
    expect(resolveOptions({ address: 'mq:5673' }).url).toBe('amqp://guest:guest@mq:5673?heartbeat=10')
    expect(resolveOptions({ address: 'amqp://mq/v?heartbeat=5' }).url).toBe('amqp://mq/v?heartbeat=5')
  })

  it('amqps:// and tls material turn TLS on; tls: false with amqps:// is a 400', async () => {
    expect(resolveOptions({ address: 'amqps://mq' }).tls).toEqual({})
    const o = resolveOptions({
      address: 'amqp://mq:5671',
      tls: { caFile: certs.files.ca, certFile: certs.files.clientCert, keyFile: certs.files.clientKey },
    })
    expect(o.url).toMatch(/^amqps:\/\/mq:5671\?/)
    expect(o.tls?.ca).toContain('BEGIN CERTIFICATE')
    expect(o.tls?.cert).toContain('BEGIN CERTIFICATE')
    expect(o.tls?.key).toContain('PRIVATE KEY')
    expect(resolveOptions({ address: 'amqp://mq', tls: true }).url).toMatch(/^amqps:\/\/mq\?/)
    expect(resolveOptions({ address: 'amqp://mq' }).tls).toBeUndefined()
    await expectMicroError(() => resolveOptions({ address: 'amqps://mq', tls: false }), 400)
    await expectMicroError(() => resolveOptions({ tls: { caFile: '/nonexistent/ca.pem' } }), 400)
    await expectMicroError(() => resolveOptions({ tls: { certFile: certs.files.clientCert } }), 400)
  })
})

describe('topic matching', () => {
  it('follows AMQP topic bindings', () => {
    expect(topicMatches('a.b', 'a.b')).toBe(true)
    expect(topicMatches('a.*', 'a.b')).toBe(true)
    expect(topicMatches('a.*', 'a.b.c')).toBe(false)
    expect(topicMatches('a.#', 'a')).toBe(true)
    expect(topicMatches('a.#', 'a.b.c')).toBe(true)
    expect(topicMatches('#.c', 'a.b.c')).toBe(true)
    expect(topicMatches('#', 'anything.at.all')).toBe(true)
    expect(topicMatches('*.b', 'b')).toBe(false)
    expect(topicMatches('a.b', 'a.bc')).toBe(false)
  })
})

describe('README', () => {
  it('carries the option table made from the declarations', () => {
    expectReadmeOptions(new URL('../README.md', import.meta.url), plugin)
  })
})
