/** Broker basics: the connection lifecycle and the 400s for bad input. */
import type { BrokerMessage } from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import { expectMicroError, uniqueName, utf8 } from '../util.js'
import { type BrokerSuite, msg } from './context.js'

export function brokerBasics(t: BrokerSuite): void {
  const { h, connected } = t

  describe('basics', () => {
    it('publish before connect() rejects with a MicroError', async () => {
      const broker = await h.fresh()
      await expectMicroError(broker.publish(uniqueName('topic'), msg('x')))
    })

    it('publish after disconnect() rejects with a MicroError; connect/disconnect twice is harmless', async () => {
      const broker = await connected()
      await broker.connect()
      expect(typeof broker.address()).toBe('string')
      expect(broker.address()).not.toBe('')
      await broker.disconnect()
      await broker.disconnect()
      expect(broker.address()).toBe('')
      await expectMicroError(broker.publish(uniqueName('topic'), msg('x')))
    })

    it('an empty topic or a message that is not {headers, body: bytes} rejects with a 400 MicroError', async () => {
      const broker = await connected()
      await expectMicroError(broker.publish('', msg('x')), 400)
      const notBytes = { headers: {}, body: 'text' } as unknown as BrokerMessage
      await expectMicroError(broker.publish(uniqueName('topic'), notBytes), 400)
      const badHeaders = { headers: { n: 1 }, body: utf8('x') } as unknown as BrokerMessage
      await expectMicroError(broker.publish(uniqueName('topic'), badHeaders), 400)
    })
  })
}
