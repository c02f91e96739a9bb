/**
 * What every transport group shares: the resolved knobs, per-test instances, a server and
 * client pair, a handler that hangs until aborted, and the one way a failed request is read.
 */
import {
  type Listener,
  MicroError,
  type Transport,
  type TransportHandler,
  type TransportMessage,
} from '@micro-ts/core'
import { type Harness, harness, has } from '../suite.js'
import { describeError, type ErrorShape, header, isMicroErrorShape, text, utf8 } from '../util.js'
import type { TransportCapability, TransportConformanceSpec } from './index.js'

export function message(body: string | Uint8Array, headers: Record<string, string> = {}): TransportMessage {
  return { headers, body: typeof body === 'string' ? utf8(body) : body }
}

/** Echo the body and every `x-` header back, plus `x-reply`. */
export const echo: TransportHandler = {
  async request(m) {
    const headers: Record<string, string> = { 'X-Reply': 'yes' }
    for (const [k, v] of Object.entries(m.headers)) if (k.toLowerCase().startsWith('x-')) headers[k] = v
    return { headers, body: m.body }
  },
}

/**
 * The error a request ended with: transports may reject with a MicroError, or answer with the
 * error in a `Micro-Error` header (go-micro's HTTP transport); both are accepted, nothing else.
 */
export async function failure(request: Promise<TransportMessage>, within: number): Promise<ErrorShape> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<'hang'>((resolve) => {
    timer = setTimeout(() => resolve('hang'), within)
  })
  try {
    const outcome = await Promise.race([
      request.then(
        (m) => ({ ok: true as const, m }),
        (e: unknown) => ({ ok: false as const, e }),
      ),
      hang,
    ])
    if (outcome === 'hang') throw new Error(`the request neither failed nor answered within ${within} ms`)
    if (!outcome.ok) {
      if (!isMicroErrorShape(outcome.e))
        throw new Error(`expected a MicroError, got ${describeError(outcome.e)}`)
      return outcome.e
    }
    const remote = header(outcome.m.headers, 'micro-error')
    if (remote === undefined)
      throw new Error(`expected an error, got an answer: ${text(outcome.m.body).slice(0, 200)}`)
    return MicroError.parse(remote)
  } finally {
    clearTimeout(timer)
  }
}

export interface Hanging {
  handler: TransportHandler
  started: () => boolean
  aborted: () => boolean
}

/** A handler that waits until its request is aborted (or 30 s), recording that it saw the abort. */
export function hanging(): Hanging {
  let started = false
  let aborted = false
  const handler: TransportHandler = {
    request: (_m, ctx) =>
      new Promise((resolve) => {
        started = true
        const timer = setTimeout(() => resolve(message('late')), 30_000)
        const done = () => {
          aborted = true
          clearTimeout(timer)
          resolve(message('aborted'))
        }
        if (ctx.signal.aborted) done()
        else ctx.signal.addEventListener('abort', done, { once: true })
      }),
  }
  return { handler, started: () => started, aborted: () => aborted }
}

export interface TransportSuite {
  spec: TransportConformanceSpec
  has(capability: TransportCapability): boolean
  h: Harness<Transport>
  listenAddress: string
  large: number
  concurrency: number
  deadline: number
  failWithin: number
  closeTimeout: number
  /** A server transport listening with `handler`, and a separate client transport. */
  pair(
    handler: TransportHandler,
    options?: { maxBodySize?: number },
  ): Promise<{ client: Transport; listener: Listener; address: string }>
}

/** Must be called inside the suite's `describe` body (the harness registers an `afterEach`). */
export function transportContext(spec: TransportConformanceSpec): TransportSuite {
  const o = spec.options ?? {}
  const listenAddress = o.listenAddress ?? '127.0.0.1:0'
  const closeTimeout = o.closeTimeout ?? 10_000
  const h = harness('transport', spec, (t) => t.close(), closeTimeout)
  return {
    spec,
    has: (capability) => has(spec, capability),
    h,
    listenAddress,
    large: o.largeMessageSize ?? 4 * 1024 * 1024,
    concurrency: o.concurrency ?? 1_000,
    deadline: o.deadline ?? 200,
    failWithin: o.failWithin ?? 5_000,
    closeTimeout,
    async pair(handler, options) {
      const server = await h.fresh()
      const listener = await server.listen(listenAddress, handler, options)
      h.defer('listener.close()', () => listener.close(0).catch(() => {}))
      const client = await h.fresh()
      return { client, listener, address: listener.address }
    },
  }
}
