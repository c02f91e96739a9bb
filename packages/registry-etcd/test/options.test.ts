/**
 * Options and addresses, without a server: every declared option from the environment through
 * the plugin loader, the 400s for unknown and bad ones, the key layout, and the README's option
 * table against the declarations.
 */
import { readFileSync } from 'node:fs'
import { expectMicroError, expectReadmeOptions } from '@micro-ts/conformance/testing'
import { silentLogger } from '@micro-ts/core'
import { createPlugin } from '@micro-ts/core/plugin'
import { describe, expect, it } from 'vitest'
import plugin, { createEtcdRegistry, type EtcdRegistry, etcdRegistryOptions, nodeKey } from '../src/index.js'
import { parseAddress, type ResolvedEtcdOptions, resolveOptions } from '../src/options.js'
import { tlsFile } from './helpers.js'

const pem = (name: string) => readFileSync(tlsFile(name))

async function fromEnv(env: Record<string, string>, addresses: string[] = []): Promise<ResolvedEtcdOptions> {
  const registry = (await createPlugin(plugin, { addresses, env, logger: silentLogger })) as EtcdRegistry
  await registry.close()
  return registry.resolvedOptions
}

describe('addresses', () => {
  it('parses go-micro style and URL addresses', () => {
    expect(parseAddress('127.0.0.1').host).toBe('http://127.0.0.1:2379')
    expect(parseAddress('etcd.internal:2380').host).toBe('http://etcd.internal:2380')
    expect(parseAddress('[::1]:2379').host).toBe('http://[::1]:2379')
    expect(parseAddress('https://etcd:443').host).toBe('https://etcd:443')
    expect(parseAddress('http://etcd:80').host).toBe('http://etcd:80')
    expect(parseAddress('https://etcd').host).toBe('https://etcd:2379')
    expect(parseAddress('http://bob:p%40ss@etcd:2379')).toEqual({
      host: 'http://etcd:2379',
      secure: false,
      username: 'bob',
      password: 'p@ss',
    })
    expect(parseAddress('etcd:2379', true).host).toBe('https://etcd:2379')
  })

  it('refuses malformed addresses with a 400 of the registry', async () => {
    for (const bad of [
      'http://',
      'ftp://etcd:21',
      'http://etcd:2379/path',
      'etcd:notaport',
      'http://e?x=1',
    ]) {
      const err = await expectMicroError(() => parseAddress(bad), 400)
      expect(err.id, bad).toBe('go.micro.registry')
      expect(err.detail, bad).toMatch(/^etcd registry: /)
    }
    await expectMicroError(() => createEtcdRegistry({ addresses: ['http://etcd:2379/some/path'] }), 400)
  })

  it('defaults to 127.0.0.1:2379; credentials from the URL; options win over them; https turns TLS on', () => {
    expect(resolveOptions({}).hosts).toEqual(['http://127.0.0.1:2379'])
    expect(resolveOptions({ addresses: ['a:1', ' b '] }).hosts).toEqual(['http://a:1', 'http://b:2379'])
    expect(resolveOptions({ addresses: ['http://x:y@h:1'] }).auth).toEqual({ username: 'x', password: 'y' })
    expect(resolveOptions({ username: 'o', password: 'q', addresses: ['http://x:y@h:1'] }).auth).toEqual({
      username: 'o',
      password: 'q',
    })
    expect(resolveOptions({ addresses: ['https://h:1'] }).tls).toEqual({})
    expect(resolveOptions({ tls: { caFile: tlsFile('ca.pem') } }).hosts).toEqual(['https://127.0.0.1:2379'])
  })

  it("maps names to go-micro's keys, replacing '/' with '-'", () => {
    expect(nodeKey('greeter', 'greeter-1')).toBe('/micro/registry/greeter/greeter-1')
    expect(nodeKey('go.micro/srv', 'a/b')).toBe('/micro/registry/go.micro-srv/a-b')
  })
})

describe('options, declared once', () => {
  it('has defaults: 5 s to dial and per call, pages of up to 5,000 records, gRPC’s 4 MiB answers', () => {
    expect(resolveOptions({})).toMatchObject({
      connectTimeout: 5000,
      requestTimeout: 5000,
      pageSize: 5000,
      maxMessageSize: 4 * 1024 * 1024,
    })
    expect(resolveOptions({}).auth).toBeUndefined()
    expect(resolveOptions({}).tls).toBeUndefined()
  })

  it('an unknown option or a bad value is a 400 naming it, from code and from the environment', async () => {
    const unknown = await expectMicroError(() => createEtcdRegistry({ timeout: 500 } as never), 400)
    expect(unknown.id).toBe('go.micro.registry')
    expect(unknown.detail).toMatch(
      /^etcd registry: unknown option timeout; accepted: username, password, connectTimeout/,
    )
    await expectMicroError(createPlugin(plugin, { options: { nope: 1 }, env: {} }), 400)
    await expectMicroError(() => createEtcdRegistry({ connectTimeout: -1 }), 400)
    await expectMicroError(() => createEtcdRegistry({ pageSize: 0 }), 400)
    const env = await expectMicroError(
      createPlugin(plugin, { env: { MICRO_REGISTRY_ETCD_PAGE_SIZE: 'lots' } }),
      400,
    )
    expect(env.detail).toMatch(
      /pageSize must be an integer from 1 to 100000, got "lots" \(from MICRO_REGISTRY_ETCD_PAGE_SIZE\)/,
    )
    await expectMicroError(() => createEtcdRegistry({ addresses: ['https://h:1', 'http://g:1'] }), 400)
    const file = await expectMicroError(
      () => createEtcdRegistry({ tls: { caFile: '/nonexistent/ca.pem' } }),
      400,
    )
    expect(file.detail).toMatch(/cannot read the TLS CA file/)
    await expectMicroError(() => createEtcdRegistry({ tls: { keyFile: tlsFile('client-key.pem') } }), 400)
  })

  /** Each declared option: a value as text in its variable, and where it must arrive. */
  const cases: Record<string, [string, (o: ResolvedEtcdOptions) => unknown, unknown]> = {
    username: ['alice', (o) => o.auth, { username: 'alice', password: '' }],
    password: ['s3cret', (o) => o.auth?.password, 's3cret'],
    connectTimeout: ['2s', (o) => o.connectTimeout, 2000],
    requestTimeout: ['750ms', (o) => o.requestTimeout, 750],
    pageSize: ['50', (o) => o.pageSize, 50],
    maxMessageSize: ['65536', (o) => o.maxMessageSize, 65536],
    tls: ['true', (o) => [o.tls, o.hosts], [{}, ['https://127.0.0.1:2379']]],
    'tls.ca': [pem('ca.pem').toString(), (o) => o.tls?.ca, pem('ca.pem')],
    'tls.caFile': [tlsFile('ca.pem'), (o) => o.tls?.ca, pem('ca.pem')],
    'tls.cert': [pem('client.pem').toString(), (o) => o.tls?.cert, pem('client.pem')],
    'tls.certFile': [tlsFile('client.pem'), (o) => o.tls?.cert, pem('client.pem')],
    'tls.key': [pem('client-key.pem').toString(), (o) => o.tls?.key, pem('client-key.pem')],
    'tls.keyFile': [tlsFile('client-key.pem'), (o) => o.tls?.key, pem('client-key.pem')],
  }

  it('the cases below cover every declared option', () => {
    expect(Object.keys(cases).sort()).toEqual(Object.keys(etcdRegistryOptions).sort())
  })

  for (const [name, [value, read, expected]] of Object.entries(cases)) {
    it(`${name} can be set from the environment`, async () => {
      const variable = `MICRO_REGISTRY_ETCD_${name
        .replace(/([a-z])([A-Z])/g, '$1_$2')
        .replaceAll('.', '_')
        .toUpperCase()}`
      const env: Record<string, string> = { [variable]: value }
      // A client key needs its certificate and the other way round; a password its user.
      if (name.startsWith('tls.cert')) env.MICRO_REGISTRY_ETCD_TLS_KEY = pem('client-key.pem').toString()
      if (name.startsWith('tls.key')) env.MICRO_REGISTRY_ETCD_TLS_CERT = pem('client.pem').toString()
      if (name === 'password') env.MICRO_REGISTRY_ETCD_USERNAME = 'alice'
      expect(read(await fromEnv(env))).toEqual(expected)
    })
  }

  it("go-micro's ETCD_USERNAME / ETCD_PASSWORD set the credentials; options in code win", async () => {
    const env = { ETCD_USERNAME: 'u', ETCD_PASSWORD: 'p' }
    expect((await fromEnv(env)).auth).toEqual({ username: 'u', password: 'p' })
    // Set options (from code or variables) win over credentials in an address.
    expect((await fromEnv(env, ['http://x:y@h:1'])).auth).toEqual({ username: 'u', password: 'p' })
    expect((await fromEnv({}, ['http://x:y@h:1'])).auth).toEqual({ username: 'x', password: 'y' })
    const r = (await createPlugin(plugin, { env, options: { username: 'o', password: 'q' } })) as EtcdRegistry
    await r.close()
    expect(r.resolvedOptions.auth).toEqual({ username: 'o', password: 'q' })
  })
})

describe('the plugin definition', () => {
  it('declares its options and capabilities, and builds a registry from the loader context', async () => {
    expect(plugin.kind).toBe('registry')
    expect(plugin.name).toBe('etcd')
    expect(plugin.options).toEqual(etcdRegistryOptions)
    expect(plugin.capabilities).toEqual(['ttl', 'watch', 'shared', 'serviceMetadata'])
    const r = (await createPlugin(plugin, {
      addresses: ['127.0.0.1:1'],
      options: { connectTimeout: 500 },
      env: {},
    })) as EtcdRegistry
    expect(r.name).toBe('etcd')
    expect(r.addresses).toEqual(['http://127.0.0.1:1'])
    expect(r.resolvedOptions.connectTimeout).toBe(500)
    await r.close()
  })

  it("the README's option table is the declarations'", () => {
    expectReadmeOptions(new URL('../README.md', import.meta.url), plugin)
  })
})
