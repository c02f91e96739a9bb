import { randomUUID } from 'node:crypto'
import http from 'node:http'
import { networkInterfaces } from 'node:os'
import { Agent } from 'undici'
import { MicroError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { Node, Registry, Service, Watcher } from '../registry/types.js'
import {
  brokerError,
  checkHandler,
  checkMessage,
  checkSignal,
  checkTopic,
  defaultLogger,
  notConnected,
  simpleEvent,
  TOPIC_HEADER,
} from './message.js'
import type {
  Broker,
  BrokerHandler,
  BrokerMessage,
  PublishOptions,
  SubscribeOptions,
  Subscription,
} from './types.js'

/** The registry service every HTTP broker subscriber registers under (go-micro broker/http.go). */
export const HTTP_BROKER_SERVICE = 'micro.http.broker'
/** The version a subscriber without a queue registers with; any other version is a queue name. */
export const BROADCAST_VERSION = 'ff.http.broadcast'

export interface HttpBrokerOptions {
  /** Where subscribers are registered and publishers find them. */
  registry: Registry
  /** `host:port` to listen on (default `127.0.0.1:0`). An unspecified host (`:0`, `0.0.0.0:0`) advertises this machine's first private IPv4. */
  address?: string
  logger?: Logger
  /** Lease of each subscriber's registration in ms (default 60 000, as go-micro). */
  registerTtl?: number
  /** How often registrations are refreshed, in ms (default 30 000). */
  registerInterval?: number
  /** How long a lookup of the subscriber list is reused, in ms (default 5 000); registry watch events and local (un)subscribes clear it earlier. */
  cacheTtl?: number
  /** Largest request body the broker's server accepts, in bytes (default 10 MiB); larger gets 413. */
  maxBodySize?: number
  /** Undelivered messages kept per topic for retry (default 64, as go-micro). */
  backlogSize?: number
  /** Keep-alive connections per subscriber address (default 16). */
  connections?: number
}

interface HttpSubscriber {
  readonly id: string
  readonly topic: string
  readonly queue: string | undefined
  readonly handler: BrokerHandler
  readonly service: Service
  active: boolean
}

/** A message that could not be delivered yet: to one broadcast node, or to any member of a queue group. */
interface Pending {
  readonly payload: string
  readonly target: { kind: 'node'; nodeId: string } | { kind: 'queue'; version: string }
  attempts: number
}

type SendResult = 'delivered' | 'retry' | 'drop'

const MAX_ATTEMPTS = 20
const RETRY_BASE_MS = 100
const RETRY_MAX_MS = 5_000
/** Nodes of one queue group tried for one message before it goes to the backlog. */
const GROUP_TRIES = 3

/**
 * go-micro's HTTP broker (`MICRO_BROKER=http`, the default): every broker runs a small HTTP server;
 * each subscription is registered as a node of `micro.http.broker` (version = queue name, or
 * `ff.http.broadcast`), and a publisher POSTs `{"Header":{...},"Body":"<base64>"}` to every
 * broadcast node of the topic and to one node of each queue group. Go and TypeScript brokers
 * deliver to each other.
 *
 * Departures from go-micro, none visible to a Go peer: each subscription gets its own node id
 * (`<topic>-<brokerId>`, then `<topic>-<brokerId>-2`, ...) so two subscriptions to one topic on one
 * broker never receive each other's messages; the server answers an unknown id with 404 (Go: 200)
 * and a failing handler with 500 (Go: 200), and a 404 makes this publisher try another member of
 * the queue group; the backlog is retried on a timer with backoff instead of on the next publish.
 */
export class HttpBroker implements Broker {
  readonly name = 'http'
  /** This broker's UUID, the suffix of its subscribers' node ids. */
  readonly id = randomUUID()
  private readonly registry: Registry
  private readonly logger: Logger
  private readonly listenAddress: string
  private readonly registerTtl: number
  private readonly registerInterval: number
  private readonly cacheTtl: number
  private readonly maxBodySize: number
  private readonly backlogSize: number
  private readonly connections: number

  private state: 'idle' | 'connecting' | 'connected' | 'disconnecting' = 'idle'
  private transition: Promise<void> | undefined
  private server: http.Server | undefined
  private agent: Agent | undefined
  private advertised = ''
  private refreshTimer: NodeJS.Timeout | undefined
  private watcher: Watcher | undefined
  private readonly subscribers = new Map<string, HttpSubscriber>()

  private cache: { services: Service[]; expires: number } | undefined
  private lookupInFlight: Promise<Service[]> | undefined
  private generation = 0

  private readonly backlog = new Map<string, Pending[]>()
  private readonly retryTimers = new Map<string, NodeJS.Timeout>()
  private readonly sending = new Set<Promise<unknown>>()

  constructor(options: HttpBrokerOptions) {
    if (!options?.registry) throw brokerError(400, 'http broker: a registry is required')
    this.registry = options.registry
    this.logger = (options.logger ?? defaultLogger()).child({ broker: 'http' })
    this.listenAddress = options.address || '127.0.0.1:0'
    this.registerTtl = options.registerTtl ?? 60_000
    this.registerInterval = options.registerInterval ?? 30_000
    this.cacheTtl = options.cacheTtl ?? 5_000
    this.maxBodySize = options.maxBodySize ?? 10 * 1024 * 1024
    this.backlogSize = options.backlogSize ?? 64
    this.connections = options.connections ?? 16
  }

  /** `host:port` subscribers of this broker are reached at; '' when not connected. */
  address(): string {
    return this.state === 'connected' ? this.advertised : ''
  }

  async connect(): Promise<void> {
    if (this.state === 'connected') return
    if (this.state === 'connecting') return this.transition
    if (this.state === 'disconnecting') await this.transition
    this.state = 'connecting'
    this.transition = this.start().then(
      () => {
        this.state = 'connected'
      },
      (err: unknown) => {
        this.state = 'idle'
        throw err
      },
    )
    return this.transition
  }

  /** Deregisters every subscription, closes the server, and waits briefly for messages still being sent. */
  async disconnect(): Promise<void> {
    if (this.state === 'idle') return
    if (this.state === 'disconnecting') return this.transition
    if (this.state === 'connecting') await this.transition?.catch(() => {})
    if (this.state !== 'connected') return
    this.state = 'disconnecting'
    this.transition = this.stop().finally(() => {
      this.state = 'idle'
    })
    return this.transition
  }

  async publish(topic: string, message: BrokerMessage, options: PublishOptions = {}): Promise<void> {
    if (this.state !== 'connected') throw notConnected(this.name, 'publish')
    checkTopic(topic)
    checkMessage(message)
    checkSignal(options.signal)
    const payload = encodeMessage(topic, message)
    const services = await this.lookup()
    checkSignal(options.signal)
    // Like go-micro, delivery continues in the background: a slow subscriber never blocks the publisher.
    for (const [version, nodes] of nodesByVersion(services, topic)) {
      if (version === BROADCAST_VERSION) {
        for (const node of nodes) {
          this.track(
            this.send(node, payload).then((r) => {
              if (r === 'retry')
                this.enqueue(topic, { payload, target: { kind: 'node', nodeId: node.id }, attempts: 0 })
            }),
          )
        }
      } else {
        this.track(
          this.sendToGroup(nodes, payload).then((r) => {
            if (r === 'retry')
              this.enqueue(topic, { payload, target: { kind: 'queue', version }, attempts: 0 })
          }),
        )
      }
    }
  }

  async subscribe(
    topic: string,
    handler: BrokerHandler,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    if (this.state !== 'connected') throw notConnected(this.name, 'subscribe')
    checkTopic(topic)
    checkHandler(handler)
    const queue = options.queue || undefined
    const id = this.nodeId(topic)
    const service: Service = {
      name: HTTP_BROKER_SERVICE,
      version: queue ?? BROADCAST_VERSION,
      nodes: [{ id, address: this.advertised, metadata: { broker: 'http', topic, secure: 'false' } }],
    }
    const sub: HttpSubscriber = { id, topic, queue, handler, service, active: true }
    this.subscribers.set(id, sub)
    try {
      await this.registry.register(service, { ttl: this.registerTtl })
    } catch (err) {
      this.subscribers.delete(id)
      throw brokerError(
        err instanceof MicroError && err.code ? err.code : 500,
        `subscribe to ${topic}: registering with the ${this.registry.name} registry failed: ${errorText(err)}`,
        err,
      )
    }
    this.invalidate()
    return { topic, queue, unsubscribe: () => this.unsubscribe(sub) }
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  private async start(): Promise<void> {
    const { host, port } = parseHostPort(this.listenAddress)
    const server = http.createServer((req, res) => {
      this.serve(req, res).catch((err: unknown) => {
        this.logger.error({ err: errorText(err) }, 'http broker: request failed')
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
      throw brokerError(500, `http broker: cannot listen on ${this.listenAddress}: ${errorText(err)}`, err)
    })
    server.on('error', (err) => this.logger.error({ err: err.message }, 'http broker: server error'))
    const bound = server.address()
    const boundPort = bound && typeof bound === 'object' ? bound.port : port
    this.server = server
    this.advertised = joinHostPort(advertiseHost(host), boundPort)
    this.agent = new Agent({ connections: this.connections, keepAliveTimeout: 4_000 })
    if (this.registerInterval > 0) {
      this.refreshTimer = setInterval(() => this.refresh(), this.registerInterval)
      this.refreshTimer.unref()
    }
    this.watch()
    this.logger.debug({ address: this.advertised, id: this.id }, 'http broker listening')
  }

  private async stop(): Promise<void> {
    clearInterval(this.refreshTimer)
    this.refreshTimer = undefined
    this.watcher?.stop()
    this.watcher = undefined
    await Promise.allSettled([...this.subscribers.values()].map((s) => this.unsubscribe(s)))

    const server = this.server
    this.server = undefined
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      // Handlers still running get 10 s to finish before their connections are cut.
      await withTimeout(closed, 10_000, () => server.closeAllConnections())
    }

    await withTimeout(Promise.allSettled([...this.sending]), 5_000)
    for (const t of this.retryTimers.values()) clearTimeout(t)
    this.retryTimers.clear()
    const dropped = [...this.backlog.values()].reduce((n, l) => n + l.length, 0)
    if (dropped > 0) this.logger.warn({ dropped }, 'http broker: undelivered messages dropped on disconnect')
    this.backlog.clear()

    const agent = this.agent
    this.agent = undefined
    if (agent) await withTimeout(agent.close(), 2_000, () => agent.destroy().catch(() => {}))
    this.invalidate()
    this.advertised = ''
  }

  private refresh(): void {
    for (const sub of this.subscribers.values()) {
      if (!sub.active) continue
      this.registry.register(sub.service, { ttl: this.registerTtl }).catch((err: unknown) => {
        this.logger.warn(
          { topic: sub.topic, err: errorText(err) },
          'http broker: refreshing a subscription failed',
        )
      })
    }
  }

  private async unsubscribe(sub: HttpSubscriber): Promise<void> {
    if (!sub.active) return
    sub.active = false
    this.subscribers.delete(sub.id)
    this.invalidate()
    try {
      await this.registry.deregister(sub.service)
    } catch (err) {
      this.logger.warn(
        { topic: sub.topic, err: errorText(err) },
        'http broker: deregistering a subscription failed',
      )
    }
  }

  /** `<topic>-<brokerId>` like go-micro, with a counter when this broker already has a subscription to the topic. */
  private nodeId(topic: string): string {
    const base = `${topic}-${this.id}`
    if (!this.subscribers.has(base)) return base
    for (let n = 2; ; n++) if (!this.subscribers.has(`${base}-${n}`)) return `${base}-${n}`
  }

  // ---- receiving ---------------------------------------------------------------------------

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
    const length = Number(req.headers['content-length'])
    if (length > this.maxBodySize) return this.tooLarge(req, res)

    const body = await readBody(req, this.maxBodySize)
    if (body === 'too large') return this.tooLarge(req, res)
    if (body === 'aborted') return

    let decoded: { topic: string; message: BrokerMessage }
    try {
      decoded = decodeMessage(body.toString('utf8'))
    } catch (err) {
      return reply(res, 400, MicroError.from(err, 'go.micro.broker'))
    }
    const id = queryId(req.url)
    const sub = id === undefined ? undefined : this.subscribers.get(id)
    if (!sub?.active || sub.topic !== decoded.topic) {
      // go-micro answers 200 and drops the message; a 404 tells a TypeScript publisher to try elsewhere.
      return reply(
        res,
        404,
        brokerError(
          404,
          `no subscriber ${JSON.stringify(id ?? '')} for topic ${JSON.stringify(decoded.topic)}`,
        ),
      )
    }
    try {
      await sub.handler(simpleEvent(decoded.topic, decoded.message))
    } catch (err) {
      this.logger.error({ topic: sub.topic, queue: sub.queue, err: errorText(err) }, 'broker handler failed')
      return reply(res, 500, MicroError.from(err, 'go.micro.broker'))
    }
    res.statusCode = 200
    res.end()
  }

  /** 413 and close: reading on would let a client make us buffer any amount. */
  private tooLarge(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.setHeader('Connection', 'close')
    reply(res, 413, brokerError(413, `message too large: the limit is ${this.maxBodySize} bytes`))
    // Let the client finish writing so it sees the 413, but not forever.
    req.resume()
    const t = setTimeout(() => req.destroy(), 1_000)
    t.unref()
    req.once('end', () => clearTimeout(t))
  }

  // ---- sending -----------------------------------------------------------------------------

  private track(p: Promise<unknown>): void {
    const tracked = p.catch((err: unknown) =>
      this.logger.error({ err: errorText(err) }, 'http broker: send failed'),
    )
    this.sending.add(tracked)
    tracked.finally(() => this.sending.delete(tracked))
  }

  /** One member of a queue group, starting at a random one and moving on when a node is gone. */
  private async sendToGroup(nodes: Node[], payload: string): Promise<SendResult> {
    const start = Math.floor(Math.random() * nodes.length)
    const tries = Math.min(nodes.length, GROUP_TRIES)
    for (let i = 0; i < tries; i++) {
      const r = await this.send(nodes[(start + i) % nodes.length], payload)
      if (r !== 'retry') return r
    }
    return 'retry'
  }

  private async send(node: Node, payload: string): Promise<SendResult> {
    const agent = this.agent
    if (!agent) return 'retry'
    const origin = `${node.metadata?.secure === 'true' ? 'https' : 'http'}://${node.address}`
    const path = `/?id=${encodeURIComponent(node.id)}`
    let status: number
    let text: string
    try {
      const res = await agent.request({
        origin,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: payload,
      })
      status = res.statusCode
      text = await res.body.text()
    } catch (err) {
      this.logger.debug(
        { node: node.id, address: node.address, err: errorText(err) },
        'http broker: post failed',
      )
      this.invalidate()
      return 'retry'
    }
    if (status >= 200 && status < 300) return 'delivered'
    const detail = text.slice(0, 500)
    if (status === 404 || status === 502 || status === 503 || status === 504) {
      this.logger.debug({ node: node.id, status, detail }, 'http broker: subscriber unavailable')
      this.invalidate()
      return 'retry'
    }
    if (status === 500) {
      // The subscriber got the message and its handler failed: that is the subscriber's to log.
      this.logger.debug({ node: node.id, detail }, 'http broker: subscriber handler failed')
      return 'delivered'
    }
    this.logger.error({ node: node.id, status, detail }, 'http broker: subscriber rejected the message')
    return 'drop'
  }

  private enqueue(topic: string, entry: Pending): void {
    if (this.state !== 'connected') {
      this.logger.warn({ topic }, 'http broker: message undeliverable while disconnecting, dropped')
      return
    }
    const list = this.backlog.get(topic) ?? []
    if (list.length >= this.backlogSize) {
      this.logger.warn({ topic, backlog: list.length }, 'http broker: backlog full, message dropped')
      return
    }
    list.push(entry)
    this.backlog.set(topic, list)
    this.scheduleRetry(topic)
  }

  private scheduleRetry(topic: string): void {
    if (this.retryTimers.has(topic)) return
    const list = this.backlog.get(topic)
    if (!list || list.length === 0) return
    const attempts = Math.min(...list.map((e) => e.attempts))
    const delay = Math.min(RETRY_BASE_MS * 2 ** attempts, RETRY_MAX_MS)
    const t = setTimeout(() => {
      this.retryTimers.delete(topic)
      this.track(this.retry(topic))
    }, delay)
    t.unref()
    this.retryTimers.set(topic, t)
  }

  private async retry(topic: string): Promise<void> {
    const entries = this.backlog.get(topic)
    this.backlog.delete(topic)
    if (!entries || entries.length === 0 || this.state !== 'connected') return
    this.invalidate()
    let byVersion: Map<string, Node[]>
    try {
      byVersion = nodesByVersion(await this.lookup(), topic)
    } catch (err) {
      this.logger.warn({ topic, err: errorText(err) }, 'http broker: registry lookup for retry failed')
      this.requeue(topic, entries)
      return
    }
    const failed: Pending[] = []
    for (const entry of entries) {
      entry.attempts++
      let result: SendResult
      if (entry.target.kind === 'node') {
        const id = entry.target.nodeId
        const node = byVersion.get(BROADCAST_VERSION)?.find((n) => n.id === id)
        // The subscriber is gone from the registry: nobody is waiting for this copy any more.
        result = node ? await this.send(node, entry.payload) : 'drop'
      } else {
        const nodes = byVersion.get(entry.target.version)
        result = nodes && nodes.length > 0 ? await this.sendToGroup(nodes, entry.payload) : 'drop'
      }
      if (result !== 'retry') continue
      if (entry.attempts >= MAX_ATTEMPTS) {
        this.logger.error({ topic, attempts: entry.attempts }, 'http broker: giving up on a message')
        continue
      }
      failed.push(entry)
    }
    this.requeue(topic, failed)
  }

  private requeue(topic: string, entries: Pending[]): void {
    if (entries.length === 0 || this.state !== 'connected') return
    const list = [...entries, ...(this.backlog.get(topic) ?? [])].slice(0, this.backlogSize)
    this.backlog.set(topic, list)
    this.scheduleRetry(topic)
  }

  // ---- registry lookup ---------------------------------------------------------------------

  private async lookup(): Promise<Service[]> {
    if (this.cache && this.cache.expires > Date.now()) return this.cache.services
    if (this.lookupInFlight) return this.lookupInFlight
    const generation = this.generation
    const p = this.fetchServices().then((services) => {
      if (generation === this.generation) {
        // Without a working watch, changes are only seen by looking again: keep the cache short.
        const ttl = this.watcher ? this.cacheTtl : Math.min(this.cacheTtl, 1_000)
        this.cache = { services, expires: Date.now() + ttl }
      }
      return services
    })
    this.lookupInFlight = p
    p.finally(() => {
      if (this.lookupInFlight === p) this.lookupInFlight = undefined
    }).catch(() => {})
    return p
  }

  private async fetchServices(): Promise<Service[]> {
    try {
      return await this.registry.getService(HTTP_BROKER_SERVICE)
    } catch (err) {
      if (err instanceof MicroError && err.code === 404) return []
      throw brokerError(
        503,
        `looking up ${HTTP_BROKER_SERVICE} in the ${this.registry.name} registry failed: ${errorText(err)}`,
        err,
      )
    }
  }

  private invalidate(): void {
    this.generation++
    this.cache = undefined
    this.lookupInFlight = undefined
  }

  private watch(): void {
    let watcher: Watcher
    try {
      watcher = this.registry.watch({ service: HTTP_BROKER_SERVICE })
    } catch (err) {
      this.logger.debug({ err: errorText(err) }, 'http broker: registry watch unavailable')
      return
    }
    this.watcher = watcher
    void (async () => {
      try {
        for await (const _event of watcher) this.invalidate()
      } catch (err) {
        this.logger.debug({ err: errorText(err) }, 'http broker: registry watch ended')
      } finally {
        if (this.watcher === watcher) this.watcher = undefined
      }
    })()
  }
}

// ---- wire format ---------------------------------------------------------------------------

/** go-micro's `broker.Message` as its JSON codec writes it: exported field names, `[]byte` as base64. */
export function encodeMessage(topic: string, message: BrokerMessage): string {
  const body = message.body
  return JSON.stringify({
    Header: { ...message.headers, [TOPIC_HEADER]: topic },
    Body: Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64'),
  })
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Parse a POSTed message the way Go's encoding/json would, with errors a sender can act on. */
export function decodeMessage(text: string): { topic: string; message: BrokerMessage } {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw brokerError(400, `malformed message: body is not JSON (${errorText(err)})`)
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw brokerError(400, 'malformed message: expected a JSON object {"Header":{...},"Body":"<base64>"}')
  }
  const obj = parsed as Record<string, unknown>
  const rawHeader = goField(obj, 'Header')
  const rawBody = goField(obj, 'Body')
  const headers: Record<string, string> = {}
  if (rawHeader !== undefined && rawHeader !== null) {
    if (typeof rawHeader !== 'object' || Array.isArray(rawHeader)) {
      throw brokerError(400, 'malformed message: "Header" must be an object of strings')
    }
    for (const [k, v] of Object.entries(rawHeader)) {
      if (v === null) continue
      if (typeof v !== 'string')
        throw brokerError(400, `malformed message: header ${JSON.stringify(k)} must be a string`)
      headers[k] = v
    }
  }
  let body = new Uint8Array()
  if (rawBody !== undefined && rawBody !== null) {
    const b64 = typeof rawBody === 'string' ? rawBody.replace(/[\r\n]/g, '') : undefined
    if (b64 === undefined || !BASE64.test(b64)) {
      throw brokerError(400, 'malformed message: "Body" must be a base64 string')
    }
    body = new Uint8Array(Buffer.from(b64, 'base64'))
  }
  const topic = headers[TOPIC_HEADER]
  if (!topic) throw brokerError(400, `malformed message: the ${TOPIC_HEADER} header is missing`)
  return { topic, message: { headers, body } }
}

/** Go matches JSON keys to untagged struct fields exactly first, then case-insensitively. */
function goField(obj: Record<string, unknown>, name: string): unknown {
  if (name in obj) return obj[name]
  const lower = name.toLowerCase()
  for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === lower) return v
  return undefined
}

// ---- helpers -------------------------------------------------------------------------------

function nodesByVersion(services: Service[], topic: string): Map<string, Node[]> {
  const out = new Map<string, Node[]>()
  for (const s of services) {
    for (const node of s.nodes ?? []) {
      if (node.metadata?.broker !== 'http' || node.metadata?.topic !== topic) continue
      const list = out.get(s.version) ?? []
      if (!list.some((n) => n.id === node.id)) list.push(node)
      out.set(s.version, list)
    }
  }
  return out
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

function parseHostPort(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(address.trim())
  const port = m ? Number(m[3]) : Number.NaN
  if (!m || port > 65535) {
    throw brokerError(
      400,
      `http broker: invalid address ${JSON.stringify(address)} (expected host:port, e.g. 127.0.0.1:0)`,
    )
  }
  return { host: m[1] ?? m[2], port }
}

function isUnspecified(host: string): boolean {
  return host === '' || host === '0.0.0.0' || host === '::'
}

/** What go-micro's addr.Extract does for an unspecified host: this machine's first private IPv4. */
function advertiseHost(host: string): string {
  if (!isUnspecified(host)) return host
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return '127.0.0.1'
}

function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

async function withTimeout<T>(p: Promise<T>, ms: number, onTimeout?: () => void): Promise<void> {
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

function errorText(err: unknown): string {
  if (err instanceof MicroError) return err.detail
  return err instanceof Error ? err.message : String(err)
}

/** Create the HTTP broker (the default broker). */
export function createHttpBroker(options: HttpBrokerOptions): HttpBroker {
  return new HttpBroker(options)
}
