/**
 * The HTTP side: one `consul` driver client per agent address, typed to the few calls the
 * registry makes, with a dial timeout, a deadline per request, cancellation, failover to the
 * next agent when one cannot be reached, and every failure turned into a MicroError that says
 * what went wrong and where.
 */
import { EventEmitter } from 'node:events'
import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import { isIP } from 'node:net'
import type { MicroError } from '@micro-ts/core'
import type { KindErrors } from '@micro-ts/core/plugin'
import Consul from 'consul'

/** One agent: where it is and how to talk to it. */
export interface AgentAddress {
  /** `host:port` as written in messages (`[v6]:port` for IPv6). */
  readonly label: string
  readonly host: string
  readonly port: number
  readonly secure: boolean
}

/** The TLS material for https agents (PEM text). */
export interface AgentTls {
  ca?: string
  cert?: string
  key?: string
}

export interface AgentsOptions {
  addresses: readonly AgentAddress[]
  token?: string
  tls?: AgentTls
  /** How long opening a TCP connection may take, ms. */
  connectTimeout: number
  /** Deadline of every request that is not a blocking query, ms. */
  timeout: number
  errors: KindErrors
}

/** The fields of Consul's `api.AgentServiceRegistration` the registry writes. */
export interface Registration {
  ID: string
  Name: string
  Tags: string[]
  Address: string
  Port: number
  Meta: Record<string, string>
  Check?: { TTL: string; Status: 'passing'; DeregisterCriticalServiceAfter: string }
}

/** The parts of Consul's `api.ServiceEntry` (GET /v1/health/service/:name) the registry reads. */
export interface ServiceEntry {
  Node?: { Node?: string; Address?: string } | null
  Service?: {
    ID?: string
    Service?: string
    Tags?: string[] | null
    Address?: string
    Port?: number
    Meta?: Record<string, string> | null
  } | null
  Checks?: { CheckID?: string; Status?: string; ServiceID?: string }[] | null
}

/** Read options: datacenter and consistency (`?dc=`, `?stale`, `?consistent`). */
export interface ReadOptions {
  dc?: string
  stale?: boolean
  consistent?: boolean
}

/** A blocking query: wait at most `wait` for the index to move past `index`. */
export interface Blocking {
  index: string
  /** Go duration text (`60s`). */
  wait: string
  /** The request's own deadline, ms: the wait plus a margin. */
  timeout: number
}

interface CallOptions extends ReadOptions {
  index?: string
  wait?: string
  timeout?: number
  ctx?: RequestContext
}

/** What the `consul` package's methods take as `ctx`: an emitter that cancels on 'cancel'. */
type RequestContext = EventEmitter & { includeResponse?: boolean }

/** The driver's surface as this package uses it (its bundled types omit most call options). */
interface Driver {
  agent: {
    service: {
      register(o: Record<string, unknown> & CallOptions): Promise<[IncomingMessage]>
      deregister(o: { id: string } & CallOptions): Promise<[IncomingMessage]>
      list(o: CallOptions): Promise<[IncomingMessage, Record<string, { ID?: string }>]>
    }
    check: { pass(o: { id: string } & CallOptions): Promise<[IncomingMessage]> }
  }
  health: { service(o: { service: string } & CallOptions): Promise<[IncomingMessage, ServiceEntry[] | null]> }
  catalog: {
    service: { list(o: CallOptions): Promise<[IncomingMessage, Record<string, string[] | null> | null]> }
  }
  status: { leader(o: CallOptions): Promise<[IncomingMessage, string?]> }
  destroy(): void
}

/** What an agent answered, with the headers blocking queries need. */
export interface Answer<T> {
  body: T
  /** `X-Consul-Index`, when the agent sent one. */
  index?: bigint
  /** `X-Consul-Results-Filtered-By-ACLs: true`: the token may not see everything. */
  filteredByAcl: boolean
  /** `X-Consul-Default-Acl-Policy` (`allow` or `deny`) when ACLs are on. */
  aclPolicy?: string
  /** Which agent answered (an index into the address list). */
  agent: number
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ETIMEDOUT',
  'EADDRNOTAVAIL',
])

interface DriverError extends Error {
  code?: string
  isTimeout?: boolean
  isAbort?: boolean
  isResponse?: boolean
  isValidation?: boolean
  response?: IncomingMessage & { body?: unknown }
  cause?: unknown
}

/** A socket that is not connected within `ms` is destroyed with ETIMEDOUT. */
function withDialTimeout(socket: Socket, ms: number): Socket {
  const timer = setTimeout(() => {
    const err = Object.assign(new Error(`connect timed out after ${ms} ms`), { code: 'ETIMEDOUT' })
    socket.destroy(err)
  }, ms)
  timer.unref()
  const clear = () => clearTimeout(timer)
  socket.once('connect', clear)
  socket.once('close', clear)
  return socket
}

type CreateConnection = (options: object, callback?: (err: Error | null, socket: Socket) => void) => Socket

/** A keep-alive agent whose connections must be up within `connectTimeout`. */
function httpAgent(secure: boolean, connectTimeout: number): http.Agent {
  const agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true })
  const base = (agent as unknown as { createConnection: CreateConnection }).createConnection.bind(agent)
  ;(agent as unknown as { createConnection: CreateConnection }).createConnection = (options, callback) =>
    withDialTimeout(base(options, callback), connectTimeout)
  return agent
}

/** The agents of one registry; requests go to the last one that answered. */
export class Agents {
  readonly addresses: readonly AgentAddress[]
  private readonly drivers: Driver[]
  private readonly agents: http.Agent[]
  private readonly timeout: number
  private readonly errors: KindErrors
  private readonly hasToken: boolean
  private current = 0
  private readonly contexts = new Set<RequestContext>()

  constructor(options: AgentsOptions) {
    this.addresses = options.addresses
    this.timeout = options.timeout
    this.errors = options.errors
    this.hasToken = Boolean(options.token)
    this.agents = options.addresses.map((a) => httpAgent(a.secure, options.connectTimeout))
    this.drivers = options.addresses.map((a, i) => {
      const config: Record<string, unknown> = {
        host: a.host,
        port: a.port,
        secure: a.secure,
        agent: this.agents[i],
        ...(options.token ? { defaults: { token: options.token } } : {}),
      }
      if (a.secure && options.tls) {
        if (options.tls.ca) config.ca = options.tls.ca
        if (options.tls.cert) config.cert = options.tls.cert
        if (options.tls.key) config.key = options.tls.key
      }
      // The driver takes the TLS and agent settings; its bundled types list only a few options.
      return new Consul(config as ConstructorParameters<typeof Consul>[0]) as unknown as Driver
    })
  }

  /** True when requests carry an ACL token. */
  get tokenGiven(): boolean {
    return this.hasToken
  }

  /** The address of agent `i`, for messages. */
  label(i: number): string {
    return this.addresses[i]?.label ?? '?'
  }

  register(body: Registration, agent?: number): Promise<Answer<undefined>> {
    return this.call(
      'register',
      (d, o) =>
        d.agent.service.register({
          name: body.Name,
          id: body.ID,
          tags: body.Tags,
          address: body.Address,
          port: body.Port,
          meta: body.Meta,
          ...(body.Check
            ? {
                check: {
                  ttl: body.Check.TTL,
                  status: body.Check.Status,
                  deregistercriticalserviceafter: body.Check.DeregisterCriticalServiceAfter,
                },
              }
            : {}),
          ...o,
        }),
      { agent },
    )
  }

  /** PUT /v1/agent/check/pass/service:<id> on the agent that holds the node. */
  passTtl(serviceId: string, agent: number): Promise<Answer<undefined>> {
    return this.call('register', (d, o) => d.agent.check.pass({ id: `service:${serviceId}`, ...o }), {
      agent,
      only: true,
    })
  }

  /** The ids of the services agent `agent` holds (GET /v1/agent/services). */
  async agentServiceIds(agent: number): Promise<Set<string>> {
    const a = await this.call('register', (d, o) => d.agent.service.list(o), { agent, only: true })
    return new Set(Object.values(a.body ?? {}).map((s) => s.ID ?? ''))
  }

  deregister(serviceId: string, agent?: number): Promise<Answer<undefined>> {
    return this.call('deregister', (d, o) => d.agent.service.deregister({ id: serviceId, ...o }), { agent })
  }

  health(
    op: string,
    service: string,
    read: ReadOptions,
    blocking?: Blocking,
    signal?: AbortSignal,
  ): Promise<Answer<ServiceEntry[]>> {
    return this.call(
      op,
      (d, o) => d.health.service({ service, ...read, ...blockingOptions(blocking), ...o }),
      { signal, timeout: blocking?.timeout },
    ).then((a) => ({ ...a, body: Array.isArray(a.body) ? a.body : [] }))
  }

  services(
    op: string,
    read: ReadOptions,
    blocking?: Blocking,
    signal?: AbortSignal,
  ): Promise<Answer<Record<string, string[]>>> {
    return this.call(op, (d, o) => d.catalog.service.list({ ...read, ...blockingOptions(blocking), ...o }), {
      signal,
      timeout: blocking?.timeout,
    }).then((a) => ({ ...a, body: normalizeServices(a.body) }))
  }

  /** The cluster's leader as an agent reports it (`/v1/status/leader`): the cheapest round trip. */
  leader(signal?: AbortSignal): Promise<Answer<string>> {
    return this.call('ping', (d, o) => d.status.leader({ ...o }), {
      signal,
    })
  }

  /** Cancel every request in flight and close the connections. */
  close(): void {
    for (const ctx of [...this.contexts]) ctx.emit('cancel')
    this.contexts.clear()
    for (const d of this.drivers) d.destroy()
    for (const a of this.agents) a.destroy()
  }

  /**
   * Run `fn` against the preferred agent, then each other one in turn while the failure is the
   * network's (refused, reset, timed out) or the agent's own (5xx). `only` pins the call to
   * `agent`: a TTL check lives on the agent that registered the node.
   */
  private async call<T>(
    op: string,
    fn: (driver: Driver, options: { ctx: RequestContext; timeout: number }) => Promise<[IncomingMessage, T?]>,
    how: { agent?: number; only?: boolean; signal?: AbortSignal; timeout?: number } = {},
  ): Promise<Answer<T>> {
    const n = this.drivers.length
    const first = how.agent !== undefined && how.agent >= 0 && how.agent < n ? how.agent : this.current
    const order = how.only ? [first] : Array.from({ length: n }, (_, k) => (first + k) % n)
    let last: MicroError | undefined
    for (const i of order) {
      how.signal?.throwIfAborted()
      const ctx: RequestContext = Object.assign(new EventEmitter(), { includeResponse: true })
      const abort = () => ctx.emit('cancel')
      how.signal?.addEventListener('abort', abort, { once: true })
      this.contexts.add(ctx)
      try {
        const [res, body] = await fn(this.drivers[i], { ctx, timeout: how.timeout ?? this.timeout })
        if (!how.only) this.current = i
        return {
          body: body as T,
          index: parseIndex(res?.headers['x-consul-index']),
          filteredByAcl: res?.headers['x-consul-results-filtered-by-acls'] === 'true',
          aclPolicy: headerText(res?.headers['x-consul-default-acl-policy']),
          agent: i,
        }
      } catch (err) {
        if (how.signal?.aborted) throw how.signal.reason
        const e = err as DriverError
        last = this.toMicroError(e, op, i, how.timeout ?? this.timeout)
        if (!isFailover(e)) throw last
      } finally {
        how.signal?.removeEventListener('abort', abort)
        this.contexts.delete(ctx)
      }
    }
    throw last ?? this.errors.unavailable(`${op}: no Consul agent configured`)
  }

  private toMicroError(e: DriverError, op: string, i: number, timeout: number): MicroError {
    const where = `the Consul agent at ${this.label(i)}`
    if (e.isResponse && e.response) {
      const status = e.response.statusCode ?? 0
      const text = responseText(e.response.body) || e.message
      if (status === 403) {
        if (/acl not found/i.test(text)) {
          return this.errors.unauthorized(`${op}: ${where} does not know the token (${text})`, e)
        }
        const hint = this.hasToken ? '' : '; no token given (option token or CONSUL_HTTP_TOKEN)'
        return this.errors.forbidden(`${op}: ${where} refused: ${text}${hint}`, e)
      }
      if (status === 401) return this.errors.unauthorized(`${op}: ${where} refused: ${text}`, e)
      if (status === 400) return this.errors.badRequest(`${op}: ${where} rejected the request: ${text}`, e)
      if (status === 404) return this.errors.notFound(`${op}: ${where}: ${text}`, e)
      if (status === 429 || status >= 500) {
        return this.errors.unavailable(`${op}: ${where} failed (${status}): ${text}`, e)
      }
      return this.errors.internal(`${op}: ${where} answered ${status}: ${text}`, e)
    }
    if (e.isTimeout) return this.errors.timeout(`${op}: ${where} did not answer within ${timeout} ms`, e)
    const tls = tlsCode(e)
    if (tls) return this.errors.unavailable(`${op}: TLS with ${where} failed (${tls}): ${e.message}`, e)
    const code = networkCode(e)
    if (code === 'ETIMEDOUT') return this.errors.timeout(`${op}: cannot connect to ${where}: ${e.message}`, e)
    if (code) return this.errors.unavailable(`${op}: ${where} is unreachable (${code}): ${e.message}`, e)
    if (e.isValidation) return this.errors.badRequest(`${op}: ${e.message}`, e)
    return this.errors.unavailable(`${op}: ${where} failed: ${e.message}`, e)
  }
}

function blockingOptions(b: Blocking | undefined): { index?: string; wait?: string } {
  return b ? { index: b.index, wait: b.wait } : {}
}

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}

function parseIndex(v: string | string[] | undefined): bigint | undefined {
  const s = Array.isArray(v) ? v[0] : v
  if (!s || !/^\d+$/.test(s)) return undefined
  return BigInt(s)
}

function normalizeServices(
  body: Record<string, string[] | null> | null | undefined,
): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  if (!body || typeof body !== 'object') return out
  for (const [name, tags] of Object.entries(body)) out[name] = Array.isArray(tags) ? tags : []
  return out
}

function responseText(body: unknown): string {
  if (typeof body === 'string') return body.trim().slice(0, 500)
  if (Buffer.isBuffer(body)) return body.toString('utf8').trim().slice(0, 500)
  return ''
}

/** The network error code of `e` or its cause, if it is one. */
function networkCode(e: DriverError): string | undefined {
  for (let x: unknown = e, depth = 0; x && depth < 4; x = (x as DriverError).cause, depth++) {
    const code = (x as DriverError).code
    if (code && NETWORK_CODES.has(code)) return code
    if ((x as Error).message === 'socket hang up') return 'ECONNRESET'
  }
  return undefined
}

/** The code of a TLS failure (an untrusted or mismatched certificate, a refused handshake). */
function tlsCode(e: DriverError): string | undefined {
  for (let x: unknown = e, depth = 0; x && depth < 4; x = (x as DriverError).cause, depth++) {
    const code = (x as DriverError).code
    if (!code) continue
    if (/^(ERR_SSL_|ERR_TLS_|EPROTO$)/.test(code) || /CERT|SIGNATURE|ISSUER/.test(code)) return code
  }
  return undefined
}

/** Worth trying the next agent: the network failed, the agent timed out, or it failed itself. */
function isFailover(e: DriverError): boolean {
  if (e.isResponse) {
    const status = e.response?.statusCode ?? 0
    return status === 429 || status >= 500
  }
  return Boolean(e.isTimeout || networkCode(e))
}

/** `host:port` for messages and Go's `net.JoinHostPort`: brackets around IPv6 hosts. */
export function joinHostPort(host: string, port: number): string {
  return isIP(host) === 6 || host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}
