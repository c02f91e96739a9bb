/**
 * The subscriber side: the HTTP server a publisher POSTs go-micro envelopes to
 * (`POST /?id=<nodeId>`). A message is checked (method, size, envelope, topic, subscriber) and
 * answered before its handler runs, so a publisher learns at once whether it was accepted — a
 * refusal (400, 404, 413) rejects its publish — without waiting for the handler. At most
 * `maxHandlers` handlers run at a time; beyond that the answer waits for a free slot, which keeps
 * a fast publisher from piling up work.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { MicroError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import { decodeBrokerEnvelope } from '../envelope.js'
import { brokerError, simpleEvent, TOPIC_HEADER } from '../message.js'
import type { BrokerHandler } from '../types.js'
import { errorText } from './directory.js'

export interface LocalSubscriber {
  readonly id: string
  readonly topic: string
  readonly queue: string | undefined
  readonly handler: BrokerHandler
  active: boolean
}

export interface ReceiverOptions {
  /** Largest message accepted, bytes of the POSTed envelope; larger is a 413. */
  maxBodySize: number
  /** Handlers running at once before answers wait. */
  maxHandlers: number
  logger: Logger
  find(id: string): LocalSubscriber | undefined
}

export class Receiver {
  private server: http.Server | undefined
  private readonly running = new Set<Promise<void>>()
  private readonly waiting: (() => void)[] = []

  constructor(private readonly options: ReceiverOptions) {}

  /** Listen on host:port; resolves to the bound port. A failure is a 500 MicroError. */
  async listen(host: string, port: number, label: string): Promise<number> {
    const server = http.createServer((req, res) => {
      this.serve(req, res).catch((err: unknown) => {
        this.options.logger.error({ err: errorText(err) }, 'http broker: request failed')
        if (!res.headersSent) reply(res, 500, brokerError(500, 'internal error'))
        else res.destroy()
      })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host: host || undefined, port }, () => {
        server.off('error', reject)
        resolve()
      })
    }).catch((err: unknown) => {
      throw brokerError(500, `http broker: cannot listen on ${label}: ${errorText(err)}`, err)
    })
    server.on('error', (err) => this.options.logger.error({ err: err.message }, 'http broker: server error'))
    this.server = server
    return (server.address() as AddressInfo).port
  }

  /** Stop accepting; handlers still running get `graceMs` before connections are cut. */
  async close(graceMs = 10_000): Promise<void> {
    const server = this.server
    this.server = undefined
    if (!server) return
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeIdleConnections()
    await withTimeout(Promise.all([closed, Promise.allSettled([...this.running])]), graceMs, () =>
      server.closeAllConnections(),
    )
    for (const wake of this.waiting.splice(0)) wake()
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      req.resume()
      res.setHeader('Allow', 'POST')
      return reply(
        res,
        405,
        brokerError(405, `method ${req.method} not allowed: the http broker accepts POST only`),
      )
    }
    const max = this.options.maxBodySize
    if (Number(req.headers['content-length']) > max) return this.tooLarge(req, res)
    const body = await readBody(req, max)
    if (body === 'too large') return this.tooLarge(req, res)
    if (body === 'aborted') return

    let decoded: ReturnType<typeof decodeBrokerEnvelope>
    try {
      decoded = decodeBrokerEnvelope(body)
    } catch (err) {
      return reply(res, 400, MicroError.from(err, 'go.micro.broker'))
    }
    const topic = decoded.headers[TOPIC_HEADER]
    if (!topic) {
      return reply(res, 400, brokerError(400, `malformed message: the ${TOPIC_HEADER} header is missing`))
    }
    const id = queryId(req.url)
    const sub = id === undefined ? undefined : this.options.find(id)
    if (!sub?.active || sub.topic !== topic) {
      // go-micro answers 200 and drops the message; a 404 tells a TypeScript publisher to try elsewhere.
      return reply(
        res,
        404,
        brokerError(404, `no subscriber ${JSON.stringify(id ?? '')} for topic ${JSON.stringify(topic)}`),
      )
    }
    await this.slot()
    res.statusCode = 200
    res.end()
    const run = Promise.resolve()
      .then(() => sub.handler(simpleEvent(topic, decoded)))
      .catch((err: unknown) => {
        this.options.logger.error(
          {
            topic,
            queue: sub.queue,
            err: errorText(err),
            stack: err instanceof Error ? err.stack : undefined,
          },
          'http broker: subscriber handler failed',
        )
      })
      .finally(() => {
        this.running.delete(run)
        this.waiting.shift()?.()
      })
    this.running.add(run)
  }

  private slot(): Promise<void> {
    if (this.running.size < this.options.maxHandlers || !this.server) return Promise.resolve()
    return new Promise((resolve) => this.waiting.push(resolve))
  }

  /** 413 and close: reading on would let a client make us buffer any amount. */
  private tooLarge(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.setHeader('Connection', 'close')
    reply(res, 413, brokerError(413, `message too large: the limit is ${this.options.maxBodySize} bytes`))
    // Let the client finish writing so it sees the 413, but not forever.
    req.resume()
    const t = setTimeout(() => req.destroy(), 1_000)
    t.unref()
    req.once('end', () => clearTimeout(t))
  }
}

/**
 * The request body, or why there is none. Reads with listeners rather than an async iterator:
 * leaving an iterator early destroys the socket, and the client would never see the 413.
 */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | 'too large' | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    const finish = (v: Buffer | 'too large' | 'aborted') => {
      if (done) return
      done = true
      chunks.length = 0
      resolve(v)
    }
    req.on('data', (chunk: Buffer) => {
      if (done) return
      size += chunk.length
      if (size > limit) finish('too large')
      else chunks.push(chunk)
    })
    req.on('end', () => {
      if (!done) finish(Buffer.concat(chunks, size))
    })
    req.on('error', () => finish('aborted'))
    req.on('close', () => finish('aborted'))
  })
}

function reply(res: http.ServerResponse, status: number, err: MicroError): void {
  res.statusCode = status
  res.setHeader('Content-Type', 'application/json')
  res.end(err.toString())
}

function queryId(url: string | undefined): string | undefined {
  try {
    return new URL(url ?? '/', 'http://broker').searchParams.get('id') ?? undefined
  } catch {
    return undefined
  }
}

export async function withTimeout<T>(p: Promise<T>, ms: number, onTimeout?: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onTimeout?.()
      resolve()
    }, ms)
    timer.unref()
  })
  await Promise.race([p.then(() => {}), timeout])
  clearTimeout(timer)
}
