/**
 * A node address that can never be dialled is a TransportError marked not delivered (so the
 * client tries another node), on every built-in transport: never a bare TypeError from below.
 */
import { describe, expect, it } from 'vitest'
import { createMemoryBroker, createMemoryRegistry, createService, TransportError } from '../src/index.js'
import { closing, defer, message, rejection, TRANSPORTS } from './transport-helpers.js'

const UNDIALLABLE = ['[1:2:3]:1', '[::1', '[zz::1]:80', 'ho<st:80', 'a|b:80', '127.0.0.1:0', 'no-port-here']

describe.each(Object.keys(TRANSPORTS))('%s transport: undiallable addresses', (name) => {
  it.each(UNDIALLABLE)('request to %s: a 400 TransportError, not delivered', async (address) => {
    const err = await rejection(closing(TRANSPORTS[name]()).request(address, message('x')))
    expect(err).toBeInstanceOf(TransportError)
    expect((err as TransportError).delivered).toBe(false)
    expect(err.code).toBe(400)
  })

  it('a stream to [1:2:3]:1: a 400 TransportError, not delivered', async () => {
    const err = await rejection(closing(TRANSPORTS[name]()).stream('[1:2:3]:1', message('')))
    expect(err).toBeInstanceOf(TransportError)
    expect((err as TransportError).delivered).toBe(false)
  })

  it('the RPC client skips a node at [1:2:3]:1 and answers from the good one', async () => {
    const registry = createMemoryRegistry()
    const env = { MICRO_TRANSPORT: name, MICRO_LOG_LEVEL: 'silent' }
    const server = await createService({
      name: `dial.${name}`,
      address: '127.0.0.1:0',
      registry,
      broker: createMemoryBroker(),
      env,
    })
    defer(() => server.stop())
    server.handle(
      {
        async Ping() {
          return { pong: true }
        },
      },
      { name: 'Dial' },
    )
    await server.start()
    // A second node whose address no transport can dial, as a broken registry record would give.
    const [record] = await registry.getService(server.name)
    await registry.register({
      ...record,
      nodes: [{ ...record.nodes[0], id: `${record.nodes[0].id}-bad`, address: '[1:2:3]:1' }],
    })
    const caller = await createService({
      name: `dial.${name}.client`,
      registry,
      broker: createMemoryBroker(),
      env,
    })
    defer(() => caller.stop())
    for (let i = 0; i < 10; i++) {
      expect(await caller.client.call(server.name, 'Dial.Ping', {})).toEqual({ pong: true })
    }
  })
})
