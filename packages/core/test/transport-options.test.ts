/** The built-in transports' options: one intake (the plugin kit), one error shape, README tables made from the declarations. */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  createHttpTransport,
  createTcpTransport,
  type HttpTransportOptions,
  loadPlugin,
  type TcpTransportOptions,
} from '../src/index.js'
import { optionsTable } from '../src/plugin/options.js'
import { httpTransportOptions, tcpTransportOptions } from '../src/transport/builtins.js'
import { expectBadOption } from './transport-helpers.js'

const readme = (name: string) =>
  readFileSync(new URL(`../src/transport/${name}/README.md`, import.meta.url), 'utf8')

describe('http transport options', () => {
  it('a bad or unknown option is a 400 MicroError naming it, never a TypeError', () => {
    expectBadOption(
      () => createHttpTransport({ poolSize: 0 }),
      /http transport: option poolSize must be an integer >= 1, got 0/,
    )
    expectBadOption(() => createHttpTransport({ pipelining: 1.5 }), /option pipelining/)
    expectBadOption(
      () => createHttpTransport({ connectTimeout: 'soon' as unknown as number }),
      /option connectTimeout/,
    )
    expectBadOption(
      () => createHttpTransport({ connections: 2 } as unknown as HttpTransportOptions),
      /http transport: unknown option connections; accepted: poolSize, pipelining/,
    )
  })

  it('text (from a runner or the environment) is coerced', async () => {
    expect(() =>
      createHttpTransport({ poolSize: '8' as unknown as number, idleTimeout: '5s' as unknown as number }),
    ).not.toThrow()
    const t = await loadPlugin('transport', 'http', { env: { MICRO_TRANSPORT_HTTP_POOL_SIZE: '4' } })
    await t.close()
    await expect(
      loadPlugin('transport', 'http', { env: { MICRO_TRANSPORT_HTTP_POOL_SIZE: 'many' } }),
    ).rejects.toMatchObject({
      code: 400,
      id: 'go.micro.transport',
    })
  })

  it('the README table is the declarations', () => {
    expect(readme('http')).toContain(optionsTable(httpTransportOptions, { kind: 'transport', name: 'http' }))
  })
})

describe('tcp transport options', () => {
  it('a bad or unknown option is a 400 MicroError naming it, never a TypeError', () => {
    expectBadOption(
      () => createTcpTransport({ poolSize: 0 }),
      /tcp transport: option poolSize must be an integer >= 1, got 0/,
    )
    expectBadOption(() => createTcpTransport({ keepAlive: -1 }), /option keepAlive/)
    // `connections` was the old name of poolSize.
    expectBadOption(
      () => createTcpTransport({ connections: 2 } as unknown as TcpTransportOptions),
      /tcp transport: unknown option connections; accepted: poolSize/,
    )
  })

  it('text (from a runner or the environment) is coerced', async () => {
    expect(() => createTcpTransport({ poolSize: '3' as unknown as number })).not.toThrow()
    const t = await loadPlugin('transport', 'tcp', { env: { MICRO_TRANSPORT_TCP_POOL_SIZE: '2' } })
    await t.close()
  })

  it('the README table is the declarations', () => {
    expect(readme('tcp')).toContain(optionsTable(tcpTransportOptions, { kind: 'transport', name: 'tcp' }))
  })
})
