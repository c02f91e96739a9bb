/**
 * MICRO_TRANSPORT_ADDRESS reaches the transport plugin as `addresses`; the built-in http and tcp
 * transports have no address of their own and say once that it does not apply to them.
 */

import { recordingLogger } from '@micro-ts/conformance/testing'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createHttpTransport,
  createMemoryRegistry,
  createService,
  definePlugin,
  type MicroService,
} from '../src/index.js'

const open: MicroService[] = []
afterEach(async () => {
  for (const s of open.splice(0)) await s.stop()
})

const isTransportAddressWarning = (l: { level: string; fields: Record<string, unknown> }) =>
  l.level === 'warn' && l.fields.variable === 'MICRO_TRANSPORT_ADDRESS'

describe('MICRO_TRANSPORT_ADDRESS', () => {
  it('the built-in transports warn once that it does not apply to them', async () => {
    const logger = recordingLogger()
    for (const transport of ['http', 'tcp', 'http']) {
      const service = await createService({
        name: `addr.${transport}`,
        registry: createMemoryRegistry(),
        logger,
        env: { MICRO_BROKER: 'memory', MICRO_TRANSPORT: transport, MICRO_TRANSPORT_ADDRESS: '10.0.0.1:4222' },
      })
      open.push(service)
      expect(service.transport.name).toBe(transport)
    }
    const warnings = logger.lines.filter(isTransportAddressWarning)
    expect(warnings).toHaveLength(1)
    expect(warnings[0].msg).toContain('does not apply to the built-in http transport')
    expect(warnings[0].fields.value).toBe('10.0.0.1:4222')
  })

  it('a plugin transport gets it as its addresses', async () => {
    let seen: string[] | undefined
    const mesh = definePlugin({
      kind: 'transport',
      name: 'mesh',
      create: ({ addresses }) => {
        seen = addresses
        return createHttpTransport()
      },
    })
    const logger = recordingLogger()
    const service = await createService({
      name: 'addr.mesh',
      registry: createMemoryRegistry(),
      logger,
      plugins: [mesh],
      env: {
        MICRO_BROKER: 'memory',
        MICRO_TRANSPORT: 'mesh',
        MICRO_TRANSPORT_ADDRESS: 'mesh-a:7000, mesh-b:7000',
      },
    })
    open.push(service)
    expect(seen).toEqual(['mesh-a:7000', 'mesh-b:7000'])
    expect(logger.lines.filter(isTransportAddressWarning)).toEqual([])
  })
})
