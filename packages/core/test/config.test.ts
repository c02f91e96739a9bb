import { describe, expect, it } from 'vitest'
import {
  ConfigError,
  createService,
  loadPlugin,
  pluginSpecifier,
  readEnv,
  silentLogger,
} from '../src/index.js'

describe('MICRO_* environment', () => {
  it('reads every variable of the table', () => {
    const s = readEnv({
      MICRO_REGISTRY: 'etcd',
      MICRO_REGISTRY_ADDRESS: '10.0.0.1:2379, 10.0.0.2:2379',
      MICRO_BROKER: 'nats',
      MICRO_BROKER_ADDRESS: 'nats://127.0.0.1:4222',
      MICRO_TRANSPORT: 'http',
      MICRO_STORE: 'postgres',
      MICRO_STORE_ADDRESS: 'postgresql://127.0.0.1/test',
      MICRO_STORE_DATABASE: 'db',
      MICRO_STORE_TABLE: 'tbl',
      MICRO_SERVER_NAME: 'greeter',
      MICRO_SERVER_VERSION: '1.2.3',
      MICRO_SERVER_ID: 'abc',
      MICRO_SERVER_ADDRESS: ':8080',
      MICRO_SERVER_ADVERTISE: '10.1.1.1:8080',
      MICRO_SERVER_METADATA: 'a=1,b=x=y',
      MICRO_REGISTER_TTL: '60',
      MICRO_REGISTER_INTERVAL: '15s',
      MICRO_CLIENT_RETRIES: '3',
      MICRO_CLIENT_REQUEST_TIMEOUT: '1500ms',
      MICRO_CLIENT_POOL_SIZE: '8',
      MICRO_SELECTOR: 'roundrobin',
      MICRO_LOG_LEVEL: 'DEBUG',
    })
    expect(s.registry).toEqual({ name: 'etcd', addresses: ['10.0.0.1:2379', '10.0.0.2:2379'] })
    expect(s.store).toEqual({
      name: 'postgres',
      addresses: ['postgresql://127.0.0.1/test'],
      database: 'db',
      table: 'tbl',
    })
    expect(s.server).toEqual({
      name: 'greeter',
      version: '1.2.3',
      id: 'abc',
      address: ':8080',
      advertise: '10.1.1.1:8080',
      metadata: { a: '1', b: 'x=y' },
    })
    expect(s.registerTtl).toBe(60_000)
    expect(s.registerInterval).toBe(15_000)
    expect(s.client).toEqual({ retries: 3, requestTimeout: 1500, poolSize: 8 })
    expect(s.selector).toBe('roundrobin')
    expect(s.logLevel).toBe('debug')
    const more = readEnv({ MICRO_LOG_FORMAT: 'Pretty', MICRO_HEALTH_ADDRESS: ':8081' })
    expect(more.logFormat).toBe('pretty')
    expect(more.healthAddress).toBe(':8081')
    expect(readEnv({ MICRO_HEALTH_ADDRESS: 'off' }).healthAddress).toBe(false)
  })

  it.each([
    ['MICRO_CLIENT_RETRIES', 'many'],
    ['MICRO_CLIENT_RETRIES', '-1'],
    ['MICRO_CLIENT_POOL_SIZE', '0'],
    ['MICRO_CLIENT_REQUEST_TIMEOUT', '5'],
    ['MICRO_CLIENT_REQUEST_TIMEOUT', 'soon'],
    ['MICRO_REGISTER_TTL', '1x'],
    ['MICRO_SELECTOR', 'fastest'],
    ['MICRO_LOG_LEVEL', 'loud'],
    ['MICRO_SERVER_METADATA', 'novalue'],
    ['MICRO_LOG_FORMAT', 'xml'],
    ['MICRO_HEALTH_ADDRESS', 'localhost'],
    ['MICRO_HEALTH_ADDRESS', '127.0.0.1:99999'],
  ])('%s=%s is a start-up error naming the variable', (key, value) => {
    expect(() => readEnv({ [key]: value })).toThrow(ConfigError)
    expect(() => readEnv({ [key]: value })).toThrow(key)
  })
})

describe('plugin resolution', () => {
  it('maps short names to @micro-ts packages and keeps package names and paths', () => {
    expect(pluginSpecifier('registry', 'consul')).toBe('@micro-ts/registry-consul')
    expect(pluginSpecifier('store', 'postgres')).toBe('@micro-ts/store-postgres')
    expect(pluginSpecifier('registry', '@acme/registry-zookeeper')).toBe('@acme/registry-zookeeper')
    expect(pluginSpecifier('broker', './my-broker.js')).toBe('./my-broker.js')
  })

  it('resolves built-in names inside core', async () => {
    const registry = await loadPlugin('registry', 'memory')
    expect(registry.name).toBe('memory')
    const store = await loadPlugin('store', 'memory')
    expect(store.name).toBe('memory')
    await store.close()
  })

  it('an unknown name names the variable, the package to install and the accepted values', async () => {
    const err = await loadPlugin('registry', 'nosuch').catch((e) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect(err.message).toContain('MICRO_REGISTRY=nosuch')
    expect(err.message).toContain('pnpm add @micro-ts/registry-nosuch')
    expect(err.message).toContain('mdns')
    expect(err.message).toContain('memory')
  })

  it('a path that is not a plugin is a clear error', async () => {
    const err = await loadPlugin('store', './does/not/exist.js').catch((e) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect(err.message).toContain('MICRO_STORE=./does/not/exist.js')
    const notPlugin = await loadPlugin(
      'store',
      new URL('./fixtures/not-a-plugin.mjs', import.meta.url).pathname,
    ).catch((e) => e)
    expect(notPlugin.message).toContain('definePlugin')
  })

  it('loads a third-party plugin from a path, and checks its kind', async () => {
    const path = new URL('./fixtures/memory-store-plugin.mjs', import.meta.url).pathname
    const store = await loadPlugin('store', path, { database: 'd' })
    expect(store.name).toBe('fixture')
    const err = await loadPlugin('broker', path).catch((e) => e)
    expect(err.message).toContain('is a store plugin, not a broker plugin')
  })

  it('createService fails at start-up on an unknown registry', async () => {
    const err = await createService({ logger: silentLogger, env: { MICRO_REGISTRY: 'nosuch' } }).catch(
      (e) => e,
    )
    expect(err).toBeInstanceOf(ConfigError)
    expect(err.message).toContain('MICRO_REGISTRY')
  })
})
