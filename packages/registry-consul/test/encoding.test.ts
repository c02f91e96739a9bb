/** go-micro's tag encoding and registration layout, and the option intake, without an agent. */
import { deflateSync } from 'node:zlib'
import { expectMicroError } from '@micro-ts/conformance/testing'
import type { Endpoint } from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import {
  decodeEndpoints,
  decodeMetadata,
  decodeVersion,
  deregisterAfter,
  encodeTags,
  goDuration,
  parseAgentAddress,
  registration,
  resolveOptions,
} from '../src/index.js'
import { hostPort, servicesFromEntries, splitHostPort } from '../src/records.js'

const hex = (text: string) => deflateSync(Buffer.from(text)).toString('hex')

describe('tags', () => {
  const endpoints: Endpoint[] = [
    {
      name: 'Greeter.Hello',
      request: { name: 'HelloRequest', type: 'HelloRequest', values: [{ name: 'name', type: 'string' }] },
      response: { name: 'HelloResponse', type: 'HelloResponse' },
      metadata: { stream: 'false' },
    },
    { name: 'Greeter.Bare' },
  ]

  it('round-trip version, endpoints and metadata', () => {
    const tags = encodeTags('v1.2.3', endpoints, { a: '1', 'quote"s': "it's", unicode: 'ünï 日本' })
    expect(tags.every((t) => /^[tev]-[0-9a-f]+$/.test(t))).toBe(true)
    expect(decodeVersion(tags)).toBe('v1.2.3')
    expect(decodeEndpoints(tags)).toEqual(endpoints)
    expect(decodeMetadata(tags)).toEqual({ a: '1', 'quote"s': "it's", unicode: 'ünï 日本' })
  })

  it("write endpoints as Go's json.Marshal does: every field, null when absent", () => {
    const [bare] = encodeTags('', endpoints.slice(1), undefined)
    expect(bare).toBe(`e-${hex('{"name":"Greeter.Bare","request":null,"response":null,"metadata":null}')}`)
  })

  it('one t- tag per metadata pair, then endpoints, then the version (go-micro order)', () => {
    const tags = encodeTags('1', endpoints, { a: '1', b: '2' })
    expect(tags.map((t) => t[0])).toEqual(['t', 't', 'e', 'e', 'v'])
    expect(tags[0]).toBe(`t-${hex('{"a":"1"}')}`)
    expect(tags[4]).toBe(`v-${hex('1')}`)
  })

  it("read go-micro's legacy plain forms, and only the first form found", () => {
    expect(decodeVersion(['v=1.0.0'])).toBe('1.0.0')
    expect(decodeMetadata(['t={"a":"1"}', `t-${hex('{"b":"2"}')}`])).toEqual({ a: '1' })
    expect(decodeEndpoints([`e-${hex('{"name":"A.B"}')}`, 'e={"name":"C.D"}'])).toEqual([{ name: 'A.B' }])
  })

  it('ignore tags that are not theirs or do not decode', () => {
    const tags = ['traefik.enable=true', 't', 'e', 'v', 'v-zz', 't-00ff', `e-${hex('not json')}`, 'primary']
    expect(decodeMetadata(tags)).toEqual({})
    expect(decodeEndpoints(tags)).toEqual([])
    expect(decodeVersion(['primary', `v-${hex('2')}`])).toBe('2')
    expect(decodeVersion([])).toBe('')
  })
})

describe('registration', () => {
  it("is go-micro's: ID = node id, Name, Address/Port split, Meta, TTL check with its deregister rule", () => {
    const body = registration(
      { name: 'greeter', version: '1', nodes: [] },
      { id: 'greeter-1', address: '10.0.0.7:8080', metadata: { protocol: 'mucp' } },
      90_000,
    )
    expect(body).toMatchObject({
      ID: 'greeter-1',
      Name: 'greeter',
      Address: '10.0.0.7',
      Port: 8080,
      Meta: { protocol: 'mucp' },
      Check: { TTL: '1m30s', Status: 'passing', DeregisterCriticalServiceAfter: '1m35s' },
    })
    expect(
      registration({ name: 'g', version: '', nodes: [] }, { id: 'g-1', address: 'h:1' }, 0).Check,
    ).toBeUndefined()
  })

  it('keeps only Meta pairs Consul accepts (all of them stay in the tags)', () => {
    const metadata = { ok_key: 'v', 'bad key': 'v', 'consul-x': 'v', long: 'x'.repeat(513) }
    const body = registration(
      { name: 'g', version: '', nodes: [] },
      { id: 'g-1', address: 'h:1', metadata },
      0,
    )
    expect(body.Meta).toEqual({ ok_key: 'v' })
    expect(decodeMetadata(body.Tags)).toEqual(metadata)
  })

  it("formats durations as Go's time.Duration.String and applies the 1 minute floor", () => {
    expect([500, 1_000, 1_500, 60_000, 65_000, 90_000, 3_600_000, 3_725_250].map(goDuration)).toEqual([
      '500ms',
      '1s',
      '1.5s',
      '1m0s',
      '1m5s',
      '1m30s',
      '1h0m0s',
      '1h2m5.25s',
    ])
    expect(deregisterAfter(500)).toBe(65_000)
    expect(deregisterAfter(120_000)).toBe(125_000)
  })

  it("splits and joins addresses as Go's net package does for go-micro", () => {
    expect(splitHostPort('127.0.0.1:80')).toEqual({ host: '127.0.0.1', port: 80 })
    expect(splitHostPort('[::1]:80')).toEqual({ host: '::1', port: 80 })
    expect(splitHostPort('queue-name')).toEqual({ host: 'queue-name', port: 0 })
    expect(hostPort('::1', 80)).toBe('[::1]:80')
    expect(hostPort('queue-name', 0)).toBe('queue-name')
    expect(hostPort('127.0.0.1', 0)).toBe('127.0.0.1:0')
  })
})

describe('health entries', () => {
  const entry = (id: string, version: string, status = 'passing', extra: object = {}) => ({
    Node: { Node: 'n1', Address: '10.1.1.1' },
    Service: {
      ID: id,
      Service: 'svc',
      Tags: encodeTags(version, [{ name: `E.${version}` }], { id }),
      Address: '',
      Port: 80,
      ...extra,
    },
    Checks: [
      { CheckID: 'serfHealth', Status: 'passing' },
      { CheckID: `service:${id}`, Status: status },
    ],
  })

  it('become one Service per version, critical nodes and other names left out', () => {
    const services = servicesFromEntries('svc', [
      entry('a', '1'),
      entry('b', '1', 'warning'),
      entry('c', '2', 'critical'),
      entry('d', '3'),
      { ...entry('e', '1'), Service: { ...entry('e', '1').Service, Service: 'SVC' } },
    ])
    expect(services).toEqual([
      {
        name: 'svc',
        version: '1',
        endpoints: [{ name: 'E.1' }],
        nodes: [
          { id: 'a', address: '10.1.1.1:80', metadata: { id: 'a' } },
          { id: 'b', address: '10.1.1.1:80', metadata: { id: 'b' } },
        ],
      },
      {
        name: 'svc',
        version: '3',
        endpoints: [{ name: 'E.3' }],
        nodes: [{ id: 'd', address: '10.1.1.1:80', metadata: { id: 'd' } }],
      },
    ])
  })

  it("of a service registered by another tool use Consul's Meta as node metadata", () => {
    const [svc] = servicesFromEntries('svc', [
      {
        Node: { Address: '10.0.0.1' },
        Service: {
          ID: 'x',
          Service: 'svc',
          Tags: ['primary'],
          Address: '10.0.0.2',
          Port: 81,
          Meta: { team: 'a' },
        },
      },
    ])
    expect(svc).toEqual({
      name: 'svc',
      version: '',
      nodes: [{ id: 'x', address: '10.0.0.2:81', metadata: { team: 'a' } }],
    })
  })
})

describe('options', () => {
  it('addresses: bare hosts get :8500, URLs keep their scheme, several agents in order', () => {
    const o = resolveOptions({ addresses: ['consul.internal', '10.0.0.2:8600', 'https://c3:8501', '[::1]'] })
    expect(o.addresses).toEqual([
      { label: 'consul.internal:8500', host: 'consul.internal', port: 8500, secure: false },
      { label: '10.0.0.2:8600', host: '10.0.0.2', port: 8600, secure: false },
      { label: 'c3:8501', host: 'c3', port: 8501, secure: true },
      { label: '[::1]:8500', host: '::1', port: 8500, secure: false },
    ])
    expect(resolveOptions().addresses.map((a) => a.label)).toEqual(['127.0.0.1:8500'])
    expect(parseAgentAddress('c1:8501', true).secure).toBe(true)
  })

  it("Consul's own variables set the token, the address and TLS, when the environment is given", () => {
    const o = resolveOptions(
      {},
      { CONSUL_HTTP_TOKEN: 'secret', CONSUL_HTTP_ADDR: 'c1:8501,c2', CONSUL_HTTP_SSL: 'true' },
    )
    expect(o.token).toBe('secret')
    expect(o.addresses.map((a) => `${a.secure ? 'https' : 'http'}://${a.label}`)).toEqual([
      'https://c1:8501',
      'https://c2:8500',
    ])
    // Without an environment only code and defaults count.
    expect(resolveOptions({}).token).toBeUndefined()
  })

  it('consistency and datacenter', () => {
    expect(resolveOptions({}).consistency).toBe('stale')
    expect(resolveOptions({ consistency: 'consistent', datacenter: 'dc2' })).toMatchObject({
      consistency: 'consistent',
      datacenter: 'dc2',
    })
  })

  it('a bad option or address is a 400 naming it', async () => {
    await expectMicroError(() => resolveOptions({ consistency: 'eventual' as 'stale' }), 400)
    await expectMicroError(() => resolveOptions({ nope: 1 } as object), 400)
    await expectMicroError(() => resolveOptions({ addresses: ['ftp://x'] }), 400)
    await expectMicroError(() => resolveOptions({ addresses: ['http://x:8500/v1'] }), 400)
    await expectMicroError(
      () => resolveOptions({ tls: { certFile: '/nonexistent.pem', keyFile: '/nonexistent.key' } }),
      400,
    )
    const err = await expectMicroError(
      () => resolveOptions({}, { MICRO_REGISTRY_CONSUL_TIMEOUT: 'soon' }),
      400,
    )
    expect(err.detail).toMatch(/MICRO_REGISTRY_CONSUL_TIMEOUT/)
  })
})
