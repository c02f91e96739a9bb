/**
 * The etcd registry, in go-micro's layout (registry/etcd/etcd.go) so Go and TypeScript services
 * share one etcd: key `/micro/registry/<service>/<node-id>`, value the JSON of a Service with
 * exactly one node, one lease per node kept alive in the background. Lookups read the prefix
 * in pages (`scan.ts`) and merge the records in one pass (`merge.ts`).
 */
import { createHash } from 'node:crypto'
import type {
  Logger,
  Node,
  RegisterOptions,
  Registry,
  Service,
  WatchEvent,
  Watcher,
  WatchOptions,
} from '@micro-ts/core'
import { silentLogger } from '@micro-ts/core'
import {
  abortReason,
  backoff,
  decodeServiceJson,
  encodeServiceJson,
  KeyedLock,
  type LongTimer,
  mergeServices,
  serviceNotFound,
  setLongTimeout,
  validateService,
  WatchQueue,
} from '@micro-ts/core/plugin'
import { ConsecutiveBreaker, circuitBreaker, ExponentialBackoff, handleWhen, retry } from 'cockatiel'
import {
  Etcd3,
  type Watcher as EtcdWatch,
  type IKeyValue,
  type IOptions,
  type Lease,
  LeaseState,
} from 'etcd3'
import { errors, errorText, isConnectionError, isTimeout, toMicroError } from './errors.js'
import { type EtcdRegistryOptions, type ResolvedEtcdOptions, resolveOptions } from './options.js'
import { scanPrefix } from './scan.js'

type WatchBackoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>

/** go-micro's key prefix. */
export const PREFIX = '/micro/registry/'

/** `/micro/registry/<service>/<node>`; a `/` in either name becomes `-`, as go-micro does. */
export function nodeKey(service: string, nodeId: string): string {
  return `${servicePrefix(service)}${nodeId.replaceAll('/', '-')}`
}

/** The prefix of every node key of `service`, trailing slash included. */
export function servicePrefix(service: string): string {
  return `${PREFIX}${service.replaceAll('/', '-')}/`
}

/** One node this registry keeps registered. */
interface NodeEntry {
  readonly key: string
  /** The JSON written to etcd. */
  readonly value: string
  /** Of value and TTL: an unchanged re-registration is skipped. */
  readonly hash: string
  /** Lease TTL in seconds; 0 = no lease. */
  readonly ttl: number
  lease?: Lease
  /** Pending re-registration after the lease was lost. */
  retry?: LongTimer
  /** Fires when the owner has not registered the node again within its TTL. */
  expiry?: LongTimer
}

/** Attempts of one single-key call within `requestTimeout` (see `EtcdRegistry.call`). */
const ATTEMPTS = 3

/** Waits between attempts to register a node again after its lease was lost (the first is at once). */
const reregisterDelay = backoff({ base: 250, max: 5000 })

export class EtcdRegistry implements Registry {
  readonly name = 'etcd'
  private readonly client: Etcd3
  private readonly options: ResolvedEtcdOptions
  private readonly logger: Logger
  private readonly nodes = new Map<string, NodeEntry>()
  /** Per-key chains: register, deregister and re-registration of one node never interleave. */
  private readonly locks = new KeyedLock()
  private readonly watchers = new Set<WatchQueue>()
  private closed = false
  /** Bytes per record in the last page read: the next lookup's first page is sized from it. */
  private recordSize: number | undefined

  constructor(options: EtcdRegistryOptions = {}) {
    this.options = resolveOptions(options)
    this.logger = (options.logger ?? silentLogger).child({ registry: 'etcd' })
    const { hosts, auth, connectTimeout, requestTimeout, maxMessageSize, tls } = this.options
    const config: IOptions = {
      hosts,
      dialTimeout: connectTimeout,
      // Unary calls get the deadline; streams (watch, keepalive) live until closed.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + requestTimeout }),
      grpcOptions: { 'grpc.max_receive_message_length': maxMessageSize },
      faultHandling: {
        // etcd3's defaults retry, and count towards a host's circuit breaker, every "recoverable"
        // error, an answer over the message limit among them: one oversized lookup then failed
        // every unrelated call for 5 s. Only a host that cannot be reached is retried and set aside.
        host: () =>
          circuitBreaker(handleWhen(isConnectionError), {
            halfOpenAfter: 5000,
            breaker: new ConsecutiveBreaker(3),
          }),
        global: retry(handleWhen(isConnectionError), { maxAttempts: 3 }),
        // etcd3 waits up to 30 s between watch reconnects by default: after an etcd restart the
        // watchers would stay deaf that long. Retry within a second or two instead.
        // (etcd3 calls `.next()` on it, i.e. wants a backoff factory; its type says IBackoff.)
        watchBackoff: new ExponentialBackoff({
          initialDelay: 100,
          maxDelay: 2000,
        }) as unknown as WatchBackoff,
      },
    }
    if (auth) config.auth = { ...auth, callOptions: () => ({ deadline: Date.now() + requestTimeout }) }
    if (tls && (tls.ca || tls.cert || tls.key)) {
      // grpc takes null for "system roots"; etcd3's type insists on a Buffer.
      config.credentials = {
        rootCertificate: tls.ca ?? (null as unknown as Buffer),
        privateKey: tls.key,
        certChain: tls.cert,
      }
    }
    this.client = new Etcd3(config)
  }

  /** The endpoints in use (`http(s)://host:port`, credentials removed). */
  get addresses(): readonly string[] {
    return this.options.hosts
  }

  /** @internal The options after defaults and checks, for tests and diagnostics. */
  get resolvedOptions(): Readonly<ResolvedEtcdOptions> {
    return this.options
  }

  async register(service: Service, options: RegisterOptions = {}): Promise<void> {
    this.assertOpen('register')
    checkService(service, 'register')
    const ttl = options.ttl ?? 0
    if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 0) {
      throw errors.badRequest(
        `register: ttl must be a non-negative number of milliseconds, got ${String(ttl)}`,
      )
    }
    const results = await Promise.allSettled(service.nodes.map((n) => this.registerNode(service, n, ttl)))
    const failed = results.find((r) => r.status === 'rejected')
    if (failed) throw (failed as PromiseRejectedResult).reason
  }

  async deregister(service: Service): Promise<void> {
    this.assertOpen('deregister')
    checkService(service, 'deregister')
    const results = await Promise.allSettled(
      service.nodes.map((n) => {
        const key = nodeKey(service.name, n.id)
        return this.locked(key, async () => {
          const entry = this.nodes.get(key)
          this.nodes.delete(key)
          entry?.retry?.clear()
          entry?.expiry?.clear()
          try {
            await this.call('deregister', (call) => this.client.delete().key(key).options(call).exec())
          } finally {
            // After the delete: revoking first would make watchers see the delete twice over.
            entry?.lease?.revoke().catch(() => entry.lease?.release())
          }
        })
      }),
    )
    const failed = results.find((r) => r.status === 'rejected')
    if (failed) throw (failed as PromiseRejectedResult).reason
  }

  async getService(name: string): Promise<Service[]> {
    this.assertOpen('getService')
    if (typeof name !== 'string' || name === '') throw serviceNotFound()
    // '/' → '-' folds `a/b` and `a-b` onto one prefix: keep only records of the exact name.
    const services = mergeServices(await this.records('getService', servicePrefix(name), name), {
      copy: false,
    })
    if (services.length === 0) throw serviceNotFound()
    return services
  }

  async listServices(): Promise<Service[]> {
    this.assertOpen('listServices')
    return mergeServices(await this.records('listServices', PREFIX), { copy: false }).sort((a, b) =>
      a.name === b.name ? a.version.localeCompare(b.version) : a.name.localeCompare(b.name),
    )
  }

  /**
   * The service records under `prefix` (of service `name` only, when given), read a page at a
   * time and decoded as each page arrives. Values that are not records, and records too large to
   * read, are skipped.
   */
  private async records(op: string, prefix: string, name?: string): Promise<Service[]> {
    const out: Service[] = []
    const pages = scanPrefix((request) => this.deadline(op, () => this.client.kv.range(request)), prefix, {
      pageSize: this.options.pageSize,
      maxMessageSize: this.options.maxMessageSize,
      recordSize: this.recordSize,
      onRecordSize: (bytes) => {
        this.recordSize = bytes
      },
      onSkip: (key) =>
        this.logger.warn(
          { key, maxMessageSize: this.options.maxMessageSize },
          `etcd registry: ${op}: record skipped: larger than maxMessageSize alone`,
        ),
    })
    try {
      for await (const page of pages) {
        for (const kv of page) {
          const service = decodeServiceJson(kv.value.toString())
          if (service && (name === undefined || service.name === name)) out.push(service)
        }
      }
    } catch (err) {
      throw toMicroError(err, op, this.options.hosts)
    }
    return out
  }

  watch(options: WatchOptions = {}): Watcher {
    this.assertOpen('watch')
    const service = options.service
    if (service !== undefined && (typeof service !== 'string' || service === '')) {
      throw errors.badRequest('watch: service must be a non-empty string')
    }
    const prefix = service ? servicePrefix(service) : PREFIX
    const watch = new PrefixWatch(this.client, prefix, this.logger)
    const queue: WatchQueue = new WatchQueue({
      signal: options.signal,
      onStop: () => {
        watch.cancel()
        this.watchers.delete(queue)
      },
    })
    // '/' → '-' folds names together: a service filter keeps only the exact name.
    watch.onEvent = (event) => {
      if (service === undefined || event.service.name === service) queue.push(event)
    }
    if (!queue.stopped) this.watchers.add(queue)
    else watch.cancel()
    return queue
  }

  /**
   * What /health/ready asks: resolves once etcd answers a linearizable read of one key (counted,
   * not fetched), which only a member that reaches the cluster's leader can answer. A 503 when no
   * member answers within `requestTimeout` and after close(); the signal's 408/499 when it fires.
   */
  async ping(signal?: AbortSignal): Promise<void> {
    this.assertOpen('ping')
    try {
      await this.deadline('ping', () => this.client.get(PREFIX).exists(), signal)
    } catch (err) {
      if (signal?.aborted) throw abortReason(signal, errors.id)
      const { hosts, requestTimeout } = this.options
      // Our deadline or the gRPC call's, whichever fired first.
      const why = isTimeout(err) ? `no answer within ${requestTimeout}ms` : errorText(err)
      throw errors.unavailable(`ping: etcd at ${hosts.join(', ')} did not answer: ${why}`, err)
    }
  }

  /**
   * Stops watchers, keep-alives and re-registrations and closes the connection. Leases are
   * released, not revoked: nodes not deregistered disappear when their TTL runs out.
   */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const w of [...this.watchers]) w.stop()
    for (const entry of this.nodes.values()) {
      entry.retry?.clear()
      entry.expiry?.clear()
      entry.lease?.release()
    }
    this.nodes.clear()
    // Let in-flight operations settle so none of them runs against a closed client.
    await this.locks.idle()
    this.client.close()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /**
   * `ttlMs` is the contract's TTL. The etcd lease is that, in whole seconds (at least 1, rounded
   * up), kept alive in the background as go-micro does, so a crashed process's node expires on
   * its own. A node whose owner stops registering it again within `ttlMs` is removed too.
   */
  private async registerNode(service: Service, node: Node, ttlMs: number): Promise<void> {
    const key = nodeKey(service.name, node.id)
    const value = encodeServiceJson(service, [node])
    const ttl = ttlMs > 0 ? Math.max(1, Math.ceil(ttlMs / 1000)) : 0
    const hash = createHash('sha256').update(value).update(`\0${ttl}`).digest('hex')
    await this.locked(key, async () => {
      const current = this.nodes.get(key)
      // The owner is alive and refreshing, even when etcd is away and this call fails.
      if (current) this.armExpiry(current, ttlMs)
      const alive = ttl === 0 || (current?.lease !== undefined && !current.lease.revoked())
      if (current && current.hash === hash && alive && !current.retry) {
        // Unchanged: the keep-alive refreshes the lease. Only check that nobody removed the key.
        if (await this.call('register', (call) => this.client.get(key).options(call).exists())) return
        this.logger.warn({ key }, 'etcd registry: node key vanished; writing it again')
      }
      const entry: NodeEntry = { key, value, hash, ttl }
      await this.write(entry, current)
      current?.retry?.clear()
      current?.expiry?.clear()
      this.nodes.set(key, entry)
      this.armExpiry(entry, ttlMs)
    })
  }

  /** (Re)start the countdown after which a node that was not registered again is removed. */
  private armExpiry(entry: NodeEntry, ttlMs: number): void {
    entry.expiry?.clear()
    entry.expiry = undefined
    if (ttlMs <= 0) return
    entry.expiry = setLongTimeout(() => {
      this.locked(entry.key, async () => {
        if (this.closed || this.nodes.get(entry.key) !== entry) return
        this.nodes.delete(entry.key)
        entry.retry?.clear()
        this.logger.info(
          { key: entry.key, ttl: ttlMs },
          'etcd registry: node not registered again within its TTL; removed',
        )
        // Revoking the lease deletes the key; if etcd is away the lease runs out by itself.
        if (entry.lease)
          await this.call('expire', (call) => entry.lease!.revoke(call)).catch(() => entry.lease?.release())
      }).catch(() => {})
    }, ttlMs)
  }

  /**
   * Put `entry` under a lease (reusing `previous`'s live lease of the same TTL), then drop the
   * previous lease. On failure nothing changes and the new lease is released.
   */
  private async write(entry: NodeEntry, previous?: NodeEntry): Promise<void> {
    if (entry.ttl === 0) {
      await this.call('register', (call) =>
        this.client.put(entry.key).value(entry.value).options(call).exec(),
      )
      if (previous?.lease) this.dropLease(previous.lease)
      return
    }
    const reuse = previous?.lease && !previous.lease.revoked() && previous.ttl === entry.ttl
    let pending = reuse ? previous.lease : undefined
    const unused: Lease[] = []
    let lease: Lease
    try {
      lease = await this.call('register', async (call) => {
        // A grant that got no answer within the last attempt is left behind (nothing was
        // written under it); a granted lease is kept, so every attempt sends the same put.
        if (pending && !reuse && pending.state !== LeaseState.Alive) {
          unused.push(pending)
          pending = undefined
        }
        const current = pending ?? this.client.lease(entry.ttl, call)
        pending = current
        await current.put(entry.key).value(entry.value).options(call).exec()
        return current
      })
    } catch (err) {
      if (pending && !reuse) unused.push(pending)
      throw err
    } finally {
      // Released, not revoked: one a put did reach keeps the key only until its TTL runs out.
      for (const l of unused) l.release()
    }
    entry.lease = lease
    if (!reuse) {
      lease.on('lost', (err) => this.onLeaseLost(entry, lease, err))
      if (previous?.lease) this.dropLease(previous.lease)
    }
  }

  private dropLease(lease: Lease): void {
    lease.revoke().catch(() => lease.release())
  }

  /** The lease expired or was revoked (etcd restarted without its data, a partition, `etcdctl lease revoke`). */
  private onLeaseLost(entry: NodeEntry, lease: Lease, err: Error): void {
    if (this.closed || this.nodes.get(entry.key) !== entry || entry.lease !== lease) return
    this.logger.warn({ key: entry.key, err: err.message }, 'etcd registry: lease lost; registering again')
    entry.lease = undefined
    this.scheduleReregister(entry, 0)
  }

  private scheduleReregister(entry: NodeEntry, attempt: number): void {
    entry.retry = setLongTimeout(
      () => {
        this.locked(entry.key, async () => {
          entry.retry = undefined
          if (this.closed || this.nodes.get(entry.key) !== entry || entry.lease) return
          try {
            await this.write(entry)
            this.logger.info(
              { key: entry.key, attempt },
              'etcd registry: registered again after losing the lease',
            )
          } catch (err) {
            if (this.closed || this.nodes.get(entry.key) !== entry) return
            this.logger.warn(
              { key: entry.key, attempt, err: errorText(err) },
              'etcd registry: registering again failed; retrying',
            )
            this.scheduleReregister(entry, attempt + 1)
          }
        }).catch(() => {})
      },
      attempt === 0 ? 0 : reregisterDelay(attempt),
    )
  }

  private locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(key, fn)
  }

  /**
   * Run one etcd operation with a hard deadline, `ms` (default `requestTimeout`; a 408 when it
   * passes) and, when given, a signal (its 408/499 when it fires; etcd3 cannot cancel a call,
   * which then ends at its own deadline); other failures are passed on as etcd3 raised them.
   */
  private async deadline<T>(
    op: string,
    fn: () => Promise<T>,
    signal?: AbortSignal,
    ms = this.options.requestTimeout,
  ): Promise<T> {
    const { requestTimeout, hosts } = this.options
    if (signal?.aborted) throw abortReason(signal, errors.id)
    let timer: LongTimer | undefined
    let onAbort: (() => void) | undefined
    const promise = fn()
    const late = new Promise<never>((_, reject) => {
      timer = setLongTimeout(
        () =>
          reject(
            errors.timeout(`${op}: no answer from etcd at ${hosts.join(', ')} within ${requestTimeout}ms`),
          ),
        ms,
      )
      onAbort = () => reject(abortReason(signal!, errors.id))
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    try {
      return await Promise.race([promise, late])
    } catch (err) {
      promise.catch(() => {}) // the losing side of the race must not become an unhandled rejection
      throw err
    } finally {
      timer?.clear()
      if (onAbort) signal?.removeEventListener('abort', onAbort)
    }
  }

  /**
   * One idempotent single-key write or read (the node's own key, lease or count) within
   * `requestTimeout`, every failure a MicroError. An attempt that gets no answer within a third
   * of it is sent again, with a fresh deadline `fn` passes to etcd3: a member that took a write
   * just as the leader died forwards it to the dead leader and never answers (etcd gives up after
   * its own 7 s), while the next attempt, once the others have elected a leader, succeeds. Other
   * failures are not retried here (etcd3 already sends a call refused by one member to the next).
   */
  private async call<T>(op: string, fn: (call: { deadline: number }) => Promise<T>): Promise<T> {
    const { requestTimeout, hosts } = this.options
    const end = Date.now() + requestTimeout
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= ATTEMPTS
      const deadline = last ? end : Math.min(end, Date.now() + requestTimeout / ATTEMPTS)
      try {
        return await this.deadline(op, () => fn({ deadline }), undefined, deadline - Date.now())
      } catch (err) {
        if (!isTimeout(err)) throw toMicroError(err, op, hosts)
        if (last || Date.now() >= end) {
          throw errors.timeout(
            `${op}: no answer from etcd at ${hosts.join(', ')} within ${requestTimeout}ms (${attempt} attempts)`,
            err,
          )
        }
        this.logger.debug(
          { op, attempt, err: errorText(err) },
          'etcd registry: no answer in time; sending again',
        )
      }
    }
  }

  private assertOpen(op: string): void {
    if (this.closed) throw errors.unavailable(`${op}: the registry is closed`)
  }
}

/**
 * One etcd prefix watch with previous values. Puts become `create` (first revision of the key)
 * or `update`; deletes (including lease expiry) decode the previous value, so the event names the
 * node that went away. etcd3 resumes the watch from the last seen revision after a reconnect.
 */
class PrefixWatch {
  onEvent: (event: WatchEvent) => void = () => {}
  private watch?: EtcdWatch
  private cancelled = false

  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {
    // etcd creates the watch asynchronously, once its stream is up: changes made in the first
    // moments after watch() returns can be missed (as with go-micro's clientv3 watcher).
    this.start()
  }

  private start(): void {
    const watch = this.client.watch().prefix(this.prefix).withPreviousKV().watcher()
    this.watch = watch
    watch.on('put', (kv, previous) => {
      this.emit(kv.create_revision === kv.mod_revision || !previous ? 'create' : 'update', kv)
    })
    watch.on('delete', (_kv, previous) => {
      if (previous) this.emit('delete', previous)
    })
    watch.on('disconnected', (err) => {
      if (!this.cancelled)
        this.logger.warn({ err: err.message }, 'etcd registry: watch disconnected; reconnecting')
    })
    watch.on('error', (err) => {
      // The server cancelled the watch (e.g. its revision was compacted): start a fresh one.
      if (this.cancelled || this.watch !== watch) return
      this.logger.warn({ err: err.message }, 'etcd registry: watch cancelled by etcd; watching again')
      this.drop(watch)
      setTimeout(() => {
        if (!this.cancelled) this.start()
      }, 250).unref?.()
    })
  }

  private emit(action: WatchEvent['action'], kv: IKeyValue): void {
    if (this.cancelled) return
    const service = decodeServiceJson(kv.value.toString())
    if (service) this.onEvent({ action, service })
  }

  private drop(watch: EtcdWatch): void {
    watch.removeAllListeners()
    // Keep an error listener: etcd3 may still emit while the cancel is in flight.
    watch.on('error', () => {})
    watch.cancel().catch(() => {})
  }

  cancel(): void {
    if (this.cancelled) return
    this.cancelled = true
    if (this.watch) this.drop(this.watch)
  }
}

/** core's record checks, plus go-micro's "Require at least one node". */
function checkService(service: Service, op: string): void {
  try {
    validateService(service, errors.id)
  } catch (err) {
    throw errors.badRequest(`${op}: ${(err as { detail?: string }).detail ?? errorText(err)}`)
  }
  if (!Array.isArray(service.nodes) || service.nodes.length === 0) {
    throw errors.badRequest(`${op}: service ${JSON.stringify(service.name)} needs at least one node`)
  }
}

/** Create an etcd registry; see {@link EtcdRegistryOptions}. Nothing connects until the first call. */
export function createEtcdRegistry(options: EtcdRegistryOptions = {}): EtcdRegistry {
  return new EtcdRegistry(options)
}
