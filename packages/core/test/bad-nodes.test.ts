/**
 * Records read from a registry may carry nodes whose address can never be dialled (written by
 * another program, a Go service, or by hand). They are skipped with one warning per node and
 * never picked, whatever the registry; and a deadline past Node's timer limit (2^31 ms) is a
 * deadline, not an immediate timeout.
 */

import { recordingLogger } from '@micro-ts/conformance/testing'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createMemoryRegistry,
  createSelector,
  type HandlerContext,
  type MicroService,
  type Service,
} from '../src/index.js'
import { clientService, startService } from './helpers.js'

const open: MicroService[] = []
afterEach(async () => {
  for (const s of open.splice(0).reverse()) await s.stop()
})

const BAD = ['', ':0', '127.0.0.1:8080/x', '127.0.0.1:70000', '[1:2:3]:1', 'no-port', 'host:-1']

function withBadNodes(record: Service): Service {
  return {
    ...record,
    nodes: [...record.nodes, ...BAD.map((address, i) => ({ id: `bad-${i}`, address, metadata: {} }))],
  }
}

describe('nodes that cannot be dialled', () => {
  it('one good node among bad ones: every call succeeds, one warning per bad node', async () => {
    const registry = createMemoryRegistry()
    const server = await startService(registry, { name: 'mixed' })
    server.handle({ Hello: async () => ({ ok: true }) }, { name: 'Greeter' })
    open.push(server)
    const [record] = await registry.getService('mixed')
    await registry.register(withBadNodes(record))
    expect((await registry.getService('mixed'))[0].nodes).toHaveLength(1 + BAD.length)

    const logger = recordingLogger()
    // No retries: a bad node picked even once would fail the call.
    const client = await clientService(registry, { logger, client: { retries: 0 } })
    open.push(client)
    for (let i = 0; i < 40; i++) {
      expect(await client.client.call('mixed', 'Greeter.Hello', {})).toEqual({ ok: true })
      // Ask the registry again now and then: the warning still comes once per node.
      if (i % 10 === 9) client.selector.reset('mixed')
    }
    const warnings = logger.lines.filter((l) => l.level === 'warn' && l.fields.node !== undefined)
    expect(warnings.map((w) => w.fields.address).sort()).toEqual([...BAD].sort())
  })

  it('records arriving by watch are checked too, and bad nodes alone are "none available"', async () => {
    const registry = createMemoryRegistry()
    const selector = createSelector({ registry, logger: recordingLogger() })
    await registry.register({ name: 'w', version: '1', nodes: [{ id: 'good', address: '127.0.0.1:1000' }] })
    expect((await selector.select('w')).id).toBe('good')
    // The cache is warm and watching: this arrives as an update event.
    await registry.register({ name: 'w', version: '1', nodes: [{ id: 'bad', address: '127.0.0.1:99999' }] })
    await new Promise((resolve) => setTimeout(resolve, 50))
    for (let i = 0; i < 20; i++) expect((await selector.select('w')).id).toBe('good')
    await registry.deregister({ name: 'w', version: '1', nodes: [{ id: 'good', address: '127.0.0.1:1000' }] })
    selector.reset('w')
    await expect(selector.select('w')).rejects.toMatchObject({ code: 503 })
    await selector.close()
  })
})

describe('deadlines past 2^31 ms', () => {
  it('a call with a 25-day timeout runs, carries its deadline, and no timer overflows', async () => {
    const warnings: string[] = []
    const onWarning = (w: Error) => warnings.push(w.name)
    process.on('warning', onWarning)
    try {
      const registry = createMemoryRegistry()
      const server = await startService(registry, { name: 'long' })
      server.handle(
        {
          Deadline: async (_req: unknown, ctx: HandlerContext) => {
            await new Promise((resolve) => setTimeout(resolve, 50))
            return { timeout: ctx.headers.timeout, aborted: ctx.signal.aborted }
          },
        },
        { name: 'Probe' },
      )
      open.push(server)
      // A wrapper that reads the call's signal makes the client build its deadline timer.
      const client = await clientService(registry, {
        wrappers: {
          call: [
            (next) => (node, req, opts) => {
              void opts.signal
              return next(node, req, opts)
            },
          ],
        },
      })
      open.push(client)
      const days25 = 25 * 24 * 3600 * 1000
      const rsp = await client.client.call<{ timeout: string; aborted: boolean }>(
        'long',
        'Probe.Deadline',
        {},
        { timeout: days25 },
      )
      expect(rsp.aborted).toBe(false)
      expect(Number(rsp.timeout) / 1e6).toBeGreaterThan(days25 - 60_000)
      // Longer than a Go time.Duration holds: the header carries its maximum.
      const forever = await client.client.call<{ timeout: string }>(
        'long',
        'Probe.Deadline',
        {},
        { timeout: Infinity },
      )
      expect(forever.timeout).toBe('9223372036854775807')
      expect(warnings).not.toContain('TimeoutOverflowWarning')
    } finally {
      process.off('warning', onWarning)
    }
  })
})
