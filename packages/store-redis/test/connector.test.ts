/**
 * The connector the store gives ioredis: a socket's second error is caught, not thrown. ioredis'
 * own connector is beside it to show why (a TLS refusal can raise two errors on one socket; with
 * ioredis' once-listener the second one is an uncaught exception). On the shared Redis.
 */
import { deadAddress } from '@micro-ts/conformance/testing'
import { describe, expect, it } from 'vitest'
import { lastingErrorConnector } from '../src/connector.js'
import { REDIS_URL, rawClient, sharedRedis } from './helpers.js'

const up = await sharedRedis()

describe.runIf(up)('lastingErrorConnector', () => {
  it("connects as ioredis' own does, over TCP, and a socket's second error reaches onLateError instead of throwing", async () => {
    const late: Error[] = []
    const reported: Error[] = []
    const client = rawClient(REDIS_URL, { Connector: lastingErrorConnector((err) => late.push(err)) })
    client.on('error', (err: Error) => reported.push(err))
    try {
      await client.connect()
      expect(await client.ping()).toBe('PONG')
      const stream = client.stream
      stream.emit('error', new Error('first'))
      expect(() => stream.emit('error', new Error('second'))).not.toThrow()
      expect(reported.map((e) => e.message)).toEqual(['first'])
      expect(late.map((e) => e.message)).toEqual(['second'])
    } finally {
      client.disconnect()
    }
  })

  it("with ioredis' own connector the same second error is thrown (what the store's connector prevents)", async () => {
    const client = rawClient(REDIS_URL)
    try {
      await client.connect()
      const stream = client.stream
      stream.emit('error', new Error('first'))
      expect(() => stream.emit('error', new Error('second'))).toThrow('second')
    } finally {
      client.disconnect()
    }
  })

  it('a refused connection is reported once, to ioredis, as with its own connector', async () => {
    const late: Error[] = []
    const dead = await deadAddress()
    for (const Connector of [undefined, lastingErrorConnector((err) => late.push(err))]) {
      const reported: Error[] = []
      const client = rawClient(`redis://${dead}`, Connector ? { Connector } : {})
      client.on('error', (err: Error) => reported.push(err))
      await expect(client.connect()).rejects.toThrow('Connection is closed.')
      expect(reported.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(['ECONNREFUSED'])
      client.disconnect()
    }
    expect(late).toEqual([])
  })
})
