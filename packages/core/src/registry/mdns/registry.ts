/**
 * The mDNS registry, the zero-config default on one host (go-micro's registry/mdns_registry.go).
 *
 * Each registry owns at most two UDP sockets, both opened on first use:
 * - a responder bound to the mDNS port (5353, shared with SO_REUSEADDR so several registries and
 *   processes on one host coexist) that answers questions about the nodes registered here
 *   (./local.ts), announces them and says goodbye, and feeds watchers (./watch.ts);
 * - a querier on an ephemeral port that sends the questions of getService/listServices and
 *   collects the answers for `timeout` ms (./querier.ts).
 *
 * Records, TXT payload and timing follow go-micro (./records.ts, ./txt.ts), so Go and TypeScript
 * services see each other. close() says goodbye for the local nodes and releases sockets and timers.
 */
import { hostname } from 'node:os'
import type { MulticastDNS, QueryPacket } from 'multicast-dns'
import { MicroError } from '../../errors.js'
import { type Logger, silentLogger } from '../../logger.js'
import type { RegisterOptions, Registry, Service, Watcher, WatchOptions } from '../types.js'
import { REGISTRY_ERROR_ID, serviceNotFound, validateService } from '../util.js'
import type { Question } from './dns.js'
import { LocalZones } from './local.js'
import { type MdnsRegistryOptions, resolveMdnsOptions } from './options.js'
import { Querier, servicesOf } from './querier.js'
import { announcement, LIST_SERVICE, serviceAddr, type Zone } from './records.js'
import { MdnsSockets } from './sockets.js'
import { WatchFeed } from './watch.js'

export type { MdnsRegistryOptions } from './options.js'

export class MdnsRegistry implements Registry {
  readonly name = 'mdns'
  readonly domain: string
  readonly timeout: number
  private readonly logger: Logger
  private readonly port: number
  private readonly sockets: MdnsSockets
  private readonly local: LocalZones
  private readonly querier: Querier
  private readonly watchers: WatchFeed
  private responder?: Promise<MulticastDNS>
  private closed = false

  constructor(options: MdnsRegistryOptions = {}) {
    const o = resolveMdnsOptions(options)
    this.logger = options.logger ?? silentLogger
    this.domain = o.domain.replace(/^\.+|\.+$/g, '') || 'micro'
    this.timeout = o.timeout
    this.port = o.port
    this.sockets = new MdnsSockets(o.group, o.port, o.interface, this.logger)
    const hostName = `${(o.hostname ?? hostname()).replace(/\.+$/, '') || 'localhost'}.`
    this.local = new LocalZones({
      domain: this.domain,
      hostName,
      logger: this.logger,
      announce: (zones, ttl) => this.announce(zones, ttl),
    })
    this.querier = new Querier(this.sockets, this.timeout)
    this.watchers = new WatchFeed(this.domain)
  }

  async register(service: Service, options: RegisterOptions = {}): Promise<void> {
    this.checkOpen()
    validateService(service)
    const ttl = options.ttl
    if (ttl !== undefined && !(typeof ttl === 'number' && ttl >= 0)) {
      throw new MicroError(
        REGISTRY_ERROR_ID,
        400,
        `mdns: ttl must be a non-negative number of ms, got ${String(ttl)}`,
      )
    }
    const expiresAt = ttl ? Date.now() + ttl : undefined
    // Resolve every node before touching state, so a bad node leaves nothing half-registered.
    const zones = await this.local.zonesOf(service)
    // Nothing to advertise: go-micro would still start the listing entry, but a name without nodes is not a service.
    if (zones.length === 0) return
    await this.ensureResponder()
    this.checkOpen()
    await this.local.add(service.name, zones, expiresAt)
  }

  async deregister(service: Service): Promise<void> {
    validateService(service)
    await this.local.remove(service)
  }

  async getService(name: string): Promise<Service[]> {
    this.checkOpen()
    if (typeof name !== 'string' || name === '') throw serviceNotFound()
    const entries = await this.querier.query([{ name: serviceAddr(name, this.domain), type: 'PTR' }], () =>
      this.checkOpen(),
    )
    const services = servicesOf(entries, new Set([name]), this.domain, (n) => this.local.liveZones(n)).get(
      name,
    )
    if (!services || services.size === 0) throw serviceNotFound()
    return [...services.values()]
  }

  async listServices(): Promise<Service[]> {
    this.checkOpen()
    const listed = await this.querier.query(
      [{ name: serviceAddr(LIST_SERVICE, this.domain), type: 'PTR' }],
      () => this.checkOpen(),
    )
    const suffix = `.${LIST_SERVICE}.${this.domain}.`
    const names = new Set<string>(this.local.names())
    for (const e of listed.values()) {
      if (e.ttl > 0 && e.port && e.name.endsWith(suffix)) names.add(e.name.slice(0, -suffix.length))
    }
    if (names.size === 0) return []
    // go-micro lists bare names; ask every service once more so each entry carries its version.
    const questions: Question[] = [...names].map((n) => ({ name: serviceAddr(n, this.domain), type: 'PTR' }))
    const entries = await this.querier.query(questions, () => this.checkOpen())
    const out: Service[] = []
    for (const versions of servicesOf(entries, names, this.domain, (n) => this.local.liveZones(n)).values()) {
      out.push(...versions.values())
    }
    return out.sort((a, b) =>
      a.name === b.name ? a.version.localeCompare(b.version) : a.name.localeCompare(b.name),
    )
  }

  watch(options: WatchOptions = {}): Watcher {
    const { sub, remove } = this.watchers.add(options)
    if (this.closed) {
      remove()
      return sub
    }
    // The watch listens on the responder socket; a watcher that cannot listen ends at once.
    this.ensureResponder().catch((err: unknown) => {
      this.logger.error({ err }, 'mdns: watch could not listen')
      remove()
    })
    return sub
  }

  /** Answers while open, without a multicast query (a probe every second would be traffic for nothing). */
  async ping(): Promise<void> {
    this.checkOpen()
  }

  async close(): Promise<void> {
    if (this.closed) return
    // Goodbyes first, while the socket is still open.
    const gone = this.local.clear()
    if (gone.length > 0 && this.responder) await this.announce(gone, 0).catch(() => {})
    this.closed = true
    this.querier.stop()
    this.watchers.stopAll()
    await this.sockets.closeAll()
  }

  private checkOpen(): void {
    if (this.closed) throw new MicroError(REGISTRY_ERROR_ID, 503, 'mdns registry is closed')
  }

  private ensureResponder(): Promise<MulticastDNS> {
    this.responder ??= this.sockets.openSocket(this.port, 'responder').then((mdns) => {
      mdns.on('query', (q, rinfo) => this.sockets.safely(() => this.answer(mdns, q, rinfo)))
      mdns.on('response', (r) =>
        this.sockets.safely(() => {
          this.querier.feed(r)
          this.watchers.onResponse(r)
        }),
      )
      return mdns
    })
    this.responder.catch(() => {
      this.responder = undefined // let a later call try again
    })
    return this.responder
  }

  /** Announce zones on the responder (`ttl` 0: goodbye). */
  private async announce(zones: Zone[], ttl?: number): Promise<void> {
    if (zones.length === 0 || !this.responder) return
    const mdns = await this.responder.catch(() => undefined)
    if (!mdns) return
    await Promise.all(
      zones.map((z) => this.sockets.send(mdns, { type: 'response', answers: announcement(z, ttl) })),
    )
  }

  /** Answer like go-micro's server: one packet per matching zone, questions echoed. */
  private answer(mdns: MulticastDNS, query: QueryPacket, rinfo: { address: string; port: number }): void {
    if (this.closed || this.local.size === 0) return
    const q = query as QueryPacket & { opcode?: string; rcode?: string; flag_tc?: boolean }
    if ((q.opcode && q.opcode !== 'QUERY') || (q.rcode && q.rcode !== 'NOERROR') || q.flag_tc) return
    const questions = (query.questions ?? []).filter((x) => x && typeof x.name === 'string').slice(0, 32)
    if (questions.length === 0) return
    // A querier on another port (go-micro's client, ours) gets a unicast reply, as go-micro's server
    // sends it; a full mDNS peer asking from 5353 gets the multicast reply RFC 6762 expects.
    const unicast = rinfo.port !== this.port
    for (const answers of this.local.answers(questions)) {
      const packet = { type: 'response' as const, id: unicast ? query.id : 0, questions, answers }
      void this.sockets.send(mdns, packet, unicast ? rinfo : undefined)
    }
  }
}

/** The mDNS registry (`MICRO_REGISTRY=mdns`, the default). */
export function createMdnsRegistry(options?: MdnsRegistryOptions): MdnsRegistry {
  return new MdnsRegistry(options)
}
