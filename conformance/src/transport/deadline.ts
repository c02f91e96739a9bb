/**
 * Transport deadlines and cancellation: 408 at the deadline, 499 on abort, both reach the
 * server; and, through core's RPC client and server, the caller's deadline reaches the handler
 * and a server honours a `Timeout` header on its own.
 */
import type { HandlerContext } from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import { describeError, eventually, isMicroErrorShape, sleep, utf8 } from '../util.js'
import { failure, hanging, message, type TransportSuite } from './context.js'
import { rpcPair } from './rpc.js'

export function transportDeadline(t: TransportSuite): void {
  const { pair, deadline, failWithin } = t

  describe('deadline', () => {
    it('a deadline rejects with a 408 MicroError and aborts the server side (go-micro)', async () => {
      const hang = hanging()
      const { client, address } = await pair(hang.handler)
      const err = await failure(client.request(address, message('slow'), { timeout: deadline }), failWithin)
      expect(err.code).toBe(408)
      await eventually(() => expect(hang.aborted(), 'server signal aborted').toBe(true), failWithin)
    })

    it('aborting the signal rejects with a 499 MicroError and aborts the server side', async () => {
      const hang = hanging()
      const { client, address } = await pair(hang.handler)
      const abort = new AbortController()
      const pending = client.request(address, message('cancel me'), { signal: abort.signal })
      await eventually(() => expect(hang.started()).toBe(true), failWithin)
      abort.abort()
      const err = await failure(pending, failWithin)
      expect(err.code).toBe(499)
      await eventually(() => expect(hang.aborted(), 'server signal aborted').toBe(true), failWithin)
    })

    it('an already-aborted signal rejects at once without reaching the server', async () => {
      let calls = 0
      const { client, address } = await pair({
        request: async (m) => {
          calls++
          return m
        },
      })
      const err = await failure(
        client.request(address, message('x'), { signal: AbortSignal.abort() }),
        failWithin,
      )
      expect(err.code).toBe(499)
      await sleep(100)
      expect(calls).toBe(0)
    })

    it('through core’s RPC client and server, a call’s deadline reaches the handler: a Timeout header of at most 5e9 ns', async () => {
      let seen: { timeout?: string; deadline?: number; at: number } | undefined
      const rpc = await rpcPair(t, {
        Seen: async (_req: unknown, ctx: HandlerContext) => {
          seen = { timeout: ctx.headers.timeout, deadline: ctx.deadline, at: Date.now() }
          return { ok: true }
        },
      })
      await rpc.client.call(rpc.service, 'Conformance.Seen', {}, { address: rpc.address, timeout: 5_000 })
      expect(seen, 'the handler ran').toBeDefined()
      const ns = Number(seen!.timeout)
      expect(Number.isFinite(ns) && ns > 0 && ns <= 5e9, `Timeout header ${seen!.timeout}`).toBe(true)
      expect(seen!.deadline, 'the handler’s deadline').toBeDefined()
      expect(seen!.deadline! - seen!.at).toBeGreaterThan(0)
      expect(seen!.deadline! - seen!.at).toBeLessThanOrEqual(5_000)
    })

    it('through core’s RPC server, a request carrying Timeout: 200e6 ns and no client deadline is aborted with a 408', async () => {
      let reason: unknown
      const rpc = await rpcPair(t, {
        Hang: (_req: unknown, ctx: HandlerContext) =>
          new Promise((resolve) => {
            const timer = setTimeout(() => resolve({ late: true }), 30_000)
            ctx.signal.addEventListener(
              'abort',
              () => {
                reason = ctx.signal.reason
                clearTimeout(timer)
                resolve({ aborted: true })
              },
              { once: true },
            )
          }),
      })
      const raw = await t.h.fresh()
      const request = raw.request(
        rpc.address,
        message(utf8('{}'), {
          'Content-Type': 'application/json',
          'Micro-Service': rpc.service,
          'Micro-Endpoint': 'Conformance.Hang',
          'Micro-Method': 'Conformance.Hang',
          Timeout: String(200e6),
        }),
      )
      const err = await failure(request, failWithin)
      expect(err.code, describeError(err)).toBe(408)
      await eventually(() => expect(reason, 'the handler’s signal aborted').toBeDefined(), failWithin)
      expect(isMicroErrorShape(reason) && reason.code === 408, `abort reason ${describeError(reason)}`).toBe(
        true,
      )
    })
  })
}
