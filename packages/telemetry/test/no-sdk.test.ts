/**
 * Without an OpenTelemetry SDK (this file registers none): nothing is added to calls, messages
 * or log lines, and the answer is the same.
 */

import { eventually } from '@micro-ts/conformance/testing'
import { activeTracer, createMemoryBroker, createMemoryRegistry, type MicroService } from '@micro-ts/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { capturedLogger, startService, TRANSPORTS } from './helpers.js'

describe.each(TRANSPORTS)('no SDK registered, %s transport', (transport) => {
  const registry = createMemoryRegistry()
  const broker = createMemoryBroker()
  const logs = capturedLogger(`plain.${transport}`)
  const messages: Record<string, string>[] = []
  let server: MicroService
  let client: MicroService

  beforeAll(async () => {
    server = await startService(
      transport,
      registry,
      { name: `plain.${transport}`, broker, logger: logs.logger },
      (s) =>
        s.subscribe('plain.events', (_body, ctx) => {
          messages.push(ctx.headers)
        }),
    )
    server.handle(
      {
        async Hello(_req: unknown, ctx: { headers: Record<string, string> }) {
          server.logger.info({ where: 'handler' }, 'handling')
          return { headers: Object.keys(ctx.headers) }
        },
      },
      { name: 'G' },
    )
    client = await startService(transport, registry, { name: `plain.${transport}.client`, broker })
  })
  afterAll(async () => {
    await client?.stop()
    await server?.stop()
  })

  it('core has no tracer', () => {
    expect(activeTracer()).toBeUndefined()
  })

  it('a call carries no trace context and its handler logs no ids', async () => {
    const rsp = await client.client.call<{ headers: string[] }>(`plain.${transport}`, 'G.Hello', {})
    expect(rsp.headers).toContain('micro-endpoint')
    expect(rsp.headers).not.toContain('traceparent')
    expect(rsp.headers).not.toContain('tracestate')
    const line = logs.lines.find((l) => l.msg === 'handling')
    expect(line).toMatchObject({ where: 'handler' })
    expect(line).not.toHaveProperty('trace_id')
  })

  it('a message carries no trace context', async () => {
    await client.client.publish('plain.events', { n: 1 })
    await eventually(() => expect(messages.length).toBe(1), 5000)
    expect(messages[0]).toHaveProperty('micro-topic', 'plain.events')
    expect(messages[0]).not.toHaveProperty('traceparent')
  })
})
