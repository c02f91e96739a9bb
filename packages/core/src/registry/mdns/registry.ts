/**
 * The mDNS registry, the zero-config default on one host (go-micro's registry/mdns_registry.go).
 *
 * Each registry owns at most two UDP sockets, both opened on first use:
 * - a responder bound to the mDNS port (5353, shared with SO_REUSEADDR so several registries and
 *   processes on one host coexist) that answers questions about the nodes registered here,
 *   announces them, says goodbye (TTL 0) when they go, and feeds watchers;
 * - a querier on an ephemeral port that sends the questions of getService/listServices and
 *   collects the answers for `timeout` ms. go-micro's responders answer a question by unicast to
 *   the asking port, so queries must not come from the shared 5353 port.
 *
 * Records, TXT payload and timing follow go-micro (./records.ts, ./txt.ts), so Go and TypeScript
 * services see each other. close() says goodbye for the local nodes and releases sockets and timers.
 */
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { hostname } from 'node:os'
import makeMdns, { type MulticastDNS, type QueryPacket, type ResponsePacket } from 'multicast-dns'
import { MicroError } from '../../errors.js'
import { type Logger, silentLogger } from '../../logger.js'
import type { Node, RegisterOptions, Registry, Service, WatchEvent, Watcher, WatchOptions } from '../types.js'
import {
  copyNode,
  copyService,
  REGISTRY_ERROR_ID,
  serviceNotFound,
  validateService,
  WatchQueue,
} from '../util.js'
import type { Question } from './dns.js'
import {
  announcement,
  collectEntries,
  DEFAULT_DOMAIN,
  type Entry,
  fqdn,
  isComplete,
  LIST_SERVICE,
  RECORD_TTL,
  serviceAddr,
  WILDCARD_PORT,
  type Zone,
  zoneRecords,
} from './records.js'
import { decodeTxt, encodeTxt, type MdnsTxt } from './txt.js'

export interface MdnsRegistryOptions {
  logger?: Logger
  /** The mDNS domain (default `micro`, go-micro's). */
  domain?: string
  /** How long getService/listServices collect answers, in ms (default 100, go-micro's). */
  timeout?: number
  /** UDP port (default 5353). Only peers on the same port see each other. */
  port?: number
  /** Multicast group (default 224.0.0.251). */
  group?: string
  /** IPv4 address of the interface to use for multicast (default: every interface). */
  interface?: string
  /** Host name put in SRV/A records (default: the OS host name). */
  hostname?: string
}

/** Most instances one query or the watch de-duplication keeps track of. */
const MAX_ENTRIES = 4096
/** Questions per query packet when listServices asks about many services at once. */
const QUESTIONS_PER_PACKET = 16
/** A record past this many bytes would not fit a UDP datagram with room to spare. */
const MAX_RECORD_BYTES = 60_000
/** Delay of the second unsolicited announcement (RFC 6762 §8.3: at least two, one second apart). */
const REANNOUNCE_MS = 1000

interface LocalNode {
  zone: Zone
  /** Identifies the record content; a re-register that changes it is announced again. */
  fingerprint: string
  expiresAt?: number
  reannounce?: NodeJS.Timeout
}

interface LocalService {
  wildcard: Zone
  nodes: Map<string, LocalNode>
}

interface PendingQuery {
  entries: Map<string, Entry>
}

interface WatchSub {
  service?: string
  queue: WatchQueue
}

interface SeenNode {
  fingerprint: string
  expiresAt: number
}

function numberOption(v: unknown, fallback: number): number {
  const n = typeof v === 'string' ? Number(v) : v
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : fallback
}

/** `host:port` / `[v6]:port` → parts; undefined when there is no numeric port. */
function splitHostPort(address: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]*)\]:(\d+)$/.exec(address) ?? /^([^:]*):(\d+)$/.exec(address)
  if (!m) return undefined
  return { host: m[1], port: Number(m[2]) }
}

function joinHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`
}

function checkLabels(what: string, name: string): void {
  for (const label of name.split('.')) {
    if (Buffer.byteLength(label) > 63) {
      throw new MicroError(
        REGISTRY_ERROR_ID,
        400,
        `mdns: ${what} "${name}" has a DNS label longer than 63 bytes`,
      )
    }
  }
}

export class MdnsRegistry implements Registry {
  readonly name = 'mdns'
  readonly domain: string
  readonly timeout: number
  private readonly logger: Logger
  private readonly port: number
  private readonly group: string
  private readonly iface?: string
  private readonly hostName: string
  private readonly local = new Map<string, LocalService>()
  private readonly pending = new Set<PendingQuery>()
  private readonly subs = new Set<WatchSub>()
  private readonly seen = new Map<string, SeenNode>()
  private responder?: Promise<MulticastDNS>
  private querier?: Promise<MulticastDNS>
  private readonly sockets: MulticastDNS[] = []
  private readonly sleeps = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>()
  private expiryTimer?: NodeJS.Timeout
  private expiryAt = Number.POSITIVE_INFINITY
  private closed = false

  constructor(options: MdnsRegistryOptions = {}) {
    this.logger = options.logger ?? silentLogger
    this.domain = String(options.domain ?? DEFAULT_DOMAIN).replace(/^\.+|\.+$/g, '') || DEFAULT_DOMAIN
    this.timeout = numberOption(options.timeout, 100)
    this.port = numberOption(options.port, 5353)
    this.group = options.group ?? '224.0.0.251'
    this.iface = options.interface
    this.hostName = `${String(options.hostname ?? hostname()).replace(/\.+$/, '') || 'localhost'}.`
  }

  async register(service: Service, options: RegisterOptions = {}): Promise<void> {
    this.checkOpen()
    validateService(service)
    checkLabels('service name', service.name)
    const ttl = numberOption(options.ttl, 0)
    const expiresAt = ttl > 0 ? Date.now() + ttl : undefined
    // Resolve every node before touching state, so a bad node leaves nothing half-registered.
    const zones: Zone[] = []
    for (const node of service.nodes ?? []) zones.push(await this.nodeZone(service, node))
    // Nothing to advertise: go-micro would still start the listing entry, but a name without nodes is not a service.
    if (zones.length === 0) return
    const mdns = await this.ensureResponder()
    this.checkOpen()

    let existing = this.local.get(service.name)
    if (!existing) {
      existing = {
        wildcard: {
          instance: service.name,
          service: LIST_SERVICE,
          domain: this.domain,
          hostName: this.hostName,
          port: WILDCARD_PORT,
          ips: ['0.0.0.0'],
          txt: [],
        },
        nodes: new Map(),
      }
      this.local.set(service.name, existing)
    }
    const svc = existing
    const sends: Promise<void>[] = []
    for (const zone of zones) {
      const fingerprint = JSON.stringify(zone)
      const prev = svc.nodes.get(zone.instance)
      if (prev && prev.fingerprint === fingerprint) {
        prev.expiresAt = expiresAt
        continue
      }
      if (prev?.reannounce) clearTimeout(prev.reannounce)
      const entry: LocalNode = { zone, fingerprint, expiresAt }
      svc.nodes.set(zone.instance, entry)
      sends.push(this.send(mdns, { type: 'response', answers: announcement(zone) }))
      entry.reannounce = setTimeout(() => {
        entry.reannounce = undefined
        if (svc.nodes.get(zone.instance) === entry && !this.closed) {
          void this.send(mdns, { type: 'response', answers: announcement(zone) })
        }
      }, REANNOUNCE_MS)
      entry.reannounce.unref()
      this.logger.debug({ service: service.name, node: zone.instance }, 'mdns: node registered')
    }
    if (expiresAt !== undefined) this.scheduleExpiry(expiresAt)
    await Promise.all(sends)
  }

  async deregister(service: Service): Promise<void> {
    validateService(service)
    const svc = this.local.get(service.name)
    if (!svc) return
    const gone: Zone[] = []
    for (const node of service.nodes ?? []) {
      const entry = svc.nodes.get(node.id)
      if (!entry) continue
      svc.nodes.delete(node.id)
      if (entry.reannounce) clearTimeout(entry.reannounce)
      gone.push(entry.zone)
    }
    if (svc.nodes.size === 0) {
      this.local.delete(service.name)
      gone.push(svc.wildcard)
    }
    await this.goodbye(gone)
  }

  async getService(name: string): Promise<Service[]> {
    this.checkOpen()
    if (typeof name !== 'string' || name === '') throw serviceNotFound()
    const entries = await this.query([{ name: serviceAddr(name, this.domain), type: 'PTR' }])
    const services = this.toServices(entries, new Set([name])).get(name)
    if (!services || services.size === 0) throw serviceNotFound()
    return [...services.values()]
  }

  async listServices(): Promise<Service[]> {
    this.checkOpen()
    const listed = await this.query([{ name: serviceAddr(LIST_SERVICE, this.domain), type: 'PTR' }])
    const suffix = `.${LIST_SERVICE}.${this.domain}.`
    const names = new Set<string>(this.local.keys())
    for (const e of listed.values()) {
      if (e.ttl > 0 && e.port && e.name.endsWith(suffix)) names.add(e.name.slice(0, -suffix.length))
    }
    if (names.size === 0) return []
    // go-micro lists bare names; ask every service once more so each entry carries its version.
    const questions: Question[] = [...names].map((n) => ({ name: serviceAddr(n, this.domain), type: 'PTR' }))
    const entries = await this.query(questions)
    const out: Service[] = []
    for (const versions of this.toServices(entries, names).values()) out.push(...versions.values())
    return out.sort((a, b) =>
      a.name === b.name ? a.version.localeCompare(b.version) : a.name.localeCompare(b.name),
    )
  }

  watch(options: WatchOptions = {}): Watcher {
    const sub: WatchSub = { service: options.service, queue: undefined as unknown as WatchQueue }
    sub.queue = new WatchQueue({ signal: options.signal, onStop: () => this.subs.delete(sub) })
    if (this.closed) {
      sub.queue.stop()
      return sub.queue
    }
    if (sub.queue.stopped) return sub.queue
    this.subs.add(sub)
    // The watch listens on the responder socket; a watcher that cannot listen ends at once.
    this.ensureResponder().catch((err: unknown) => {
      this.logger.error({ err }, 'mdns: watch could not listen')
      sub.queue.stop()
    })
    return sub.queue
  }

  /** Answers while open, without a multicast query (a probe every second would be traffic for nothing). */
  async ping(): Promise<void> {
    this.checkOpen()
  }

  async close(): Promise<void> {
    if (this.closed) return
    // Goodbyes first, while the socket is still open.
    const gone: Zone[] = []
    for (const svc of this.local.values()) {
      for (const n of svc.nodes.values()) {
        if (n.reannounce) clearTimeout(n.reannounce)
        gone.push(n.zone)
      }
      gone.push(svc.wildcard)
    }
    this.local.clear()
    if (gone.length > 0 && this.responder) await this.goodbye(gone).catch(() => {})
    this.closed = true
    if (this.expiryTimer) clearTimeout(this.expiryTimer)
    this.expiryTimer = undefined
    for (const s of this.sleeps) {
      clearTimeout(s.timer)
      s.resolve()
    }
    this.sleeps.clear()
    for (const sub of [...this.subs]) sub.queue.stop()
    this.seen.clear()
    const sockets = this.sockets.splice(0)
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.destroy(() => resolve()))))
  }

  // ---- sockets ----

  private checkOpen(): void {
    if (this.closed) throw new MicroError(REGISTRY_ERROR_ID, 503, 'mdns registry is closed')
  }

  private open(options: makeMdns.Options, what: string): Promise<MulticastDNS> {
    return new Promise((resolve, reject) => {
      const mdns = makeMdns({
        ip: this.group,
        interface: this.iface,
        reuseAddr: true,
        loopback: true,
        ...options,
      })
      this.sockets.push(mdns)
      const onError = (err: Error) => {
        mdns.destroy()
        reject(new MicroError(REGISTRY_ERROR_ID, 500, `mdns: cannot open the ${what} socket: ${err.message}`))
      }
      mdns.once('error', onError)
      mdns.once('ready', () => {
        mdns.off('error', onError)
        // Always listen for errors: an unhandled 'error' event would crash the process.
        mdns.on('error', (err) => this.logger.warn({ err }, `mdns: ${what} socket error`))
        resolve(mdns)
      })
      mdns.on('warning', (err) => this.logger.debug({ err }, `mdns: ${what} socket warning`))
    })
  }

  private ensureResponder(): Promise<MulticastDNS> {
    this.responder ??= this.open({ port: this.port }, 'responder').then((mdns) => {
      mdns.on('query', (q, rinfo) => this.safely(() => this.answer(mdns, q, rinfo)))
      mdns.on('response', (r) => this.safely(() => this.onMulticastResponse(r)))
      return mdns
    })
    this.responder.catch(() => {
      this.responder = undefined // let a later call try again
    })
    return this.responder
  }

  private ensureQuerier(): Promise<MulticastDNS> {
    // Port 0: an ephemeral port, bound on the first send; answers come back to it by unicast.
    this.querier ??= this.open({ port: 0 }, 'query').then((mdns) => {
      mdns.on('response', (r) => this.safely(() => this.feedPending(r)))
      return mdns
    })
    this.querier.catch(() => {
      this.querier = undefined
    })
    return this.querier
  }

  /** A bad packet must never take the process down. */
  private safely(fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.logger.debug({ err }, 'mdns: packet ignored')
    }
  }

  private send(
    mdns: MulticastDNS,
    packet: Parameters<MulticastDNS['respond']>[0],
    rinfo?: { address: string; port: number },
  ) {
    return new Promise<void>((resolve) => {
      const target = rinfo ?? { address: this.group, port: this.port }
      try {
        mdns.respond(packet, target, (err) => {
          if (err) this.logger.debug({ err }, 'mdns: send failed')
          resolve()
        })
      } catch (err) {
        this.logger.warn({ err }, 'mdns: packet could not be encoded')
        resolve()
      }
    })
  }

  // ---- responder ----

  /** Answer like go-micro's server: one packet per matching zone, questions echoed. */
  private answer(mdns: MulticastDNS, query: QueryPacket, rinfo: { address: string; port: number }): void {
    if (this.closed || this.local.size === 0) return
    const q = query as QueryPacket & { opcode?: string; rcode?: string; flag_tc?: boolean }
    if ((q.opcode && q.opcode !== 'QUERY') || (q.rcode && q.rcode !== 'NOERROR') || q.flag_tc) return
    const questions = (query.questions ?? []).filter((x) => x && typeof x.name === 'string').slice(0, 32)
    if (questions.length === 0) return
    const now = Date.now()
    // A querier on another port (go-micro's client, ours) gets a unicast reply, as go-micro's server
    // sends it; a full mDNS peer asking from 5353 gets the multicast reply RFC 6762 expects.
    const unicast = rinfo.port !== this.port
    for (const svc of this.local.values()) {
      const zones = [svc.wildcard]
      for (const n of svc.nodes.values()) if (!n.expiresAt || n.expiresAt > now) zones.push(n.zone)
      for (const zone of zones) {
        const answers = questions.flatMap((question) =>
          zoneRecords(zone, { ...question, name: fqdn(question.name) }),
        )
        if (answers.length === 0) continue
        const packet = { type: 'response' as const, id: unicast ? query.id : 0, questions, answers }
        void this.send(mdns, packet, unicast ? rinfo : undefined)
      }
    }
  }

  private async goodbye(zones: Zone[]): Promise<void> {
    if (zones.length === 0 || !this.responder) return
    const mdns = await this.responder.catch(() => undefined)
    if (!mdns) return
    await Promise.all(zones.map((z) => this.send(mdns, { type: 'response', answers: announcement(z, 0) })))
  }

  /** Local nodes past their lease stop being answered for and say goodbye. One timer for the earliest. */
  private scheduleExpiry(at: number): void {
    if (this.closed || at >= this.expiryAt) return
    if (this.expiryTimer) clearTimeout(this.expiryTimer)
    this.expiryAt = at
    this.expiryTimer = setTimeout(() => void this.expire(), Math.max(0, at - Date.now()))
    this.expiryTimer.unref()
  }

  private async expire(): Promise<void> {
    this.expiryTimer = undefined
    this.expiryAt = Number.POSITIVE_INFINITY
    const now = Date.now()
    let next = Number.POSITIVE_INFINITY
    const gone: Zone[] = []
    for (const [name, svc] of this.local) {
      for (const [id, n] of svc.nodes) {
        if (n.expiresAt === undefined) continue
        if (n.expiresAt <= now) {
          svc.nodes.delete(id)
          if (n.reannounce) clearTimeout(n.reannounce)
          gone.push(n.zone)
          this.logger.debug({ service: name, node: id }, 'mdns: node lease expired')
        } else if (n.expiresAt < next) next = n.expiresAt
      }
      if (svc.nodes.size === 0) {
        this.local.delete(name)
        gone.push(svc.wildcard)
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.scheduleExpiry(next)
    await this.goodbye(gone)
  }

  private async nodeZone(service: Service, node: Node): Promise<Zone> {
    const hp = splitHostPort(node.address)
    const bad = (why: string) => new MicroError(REGISTRY_ERROR_ID, 400, `mdns: node ${node.id}: ${why}`)
    if (!hp || hp.port < 1 || hp.port > 65535)
      throw bad(`address "${node.address}" needs a host and a port (1-65535)`)
    if (hp.host === '') throw bad(`address "${node.address}" has no host (go-micro needs an IP)`)
    checkLabels('node id', node.id)
    let ip = hp.host
    if (!isIP(ip)) {
      try {
        ip = (await lookup(hp.host)).address
      } catch (err) {
        throw bad(`cannot resolve host "${hp.host}": ${(err as Error).message}`)
      }
    }
    const txt = encodeTxt({
      service: service.name,
      version: service.version ?? '',
      endpoints: service.endpoints,
      metadata: node.metadata,
    })
    if (txt.reduce((n, s) => n + s.length + 1, 0) > MAX_RECORD_BYTES) {
      throw bad('the encoded record (endpoints and metadata) is too large for an mDNS packet')
    }
    return {
      instance: node.id,
      service: service.name,
      domain: this.domain,
      hostName: this.hostName,
      port: hp.port,
      ips: [ip],
      txt,
    }
  }

  // ---- querier ----

  /** Ask `questions` and collect every instance heard of within the timeout. */
  private async query(questions: Question[]): Promise<Map<string, Entry>> {
    const mdns = await this.ensureQuerier()
    this.checkOpen()
    const pending: PendingQuery = { entries: new Map() }
    this.pending.add(pending)
    try {
      const target = { address: this.group, port: this.port }
      for (let i = 0; i < questions.length; i += QUESTIONS_PER_PACKET) {
        const batch = questions.slice(i, i + QUESTIONS_PER_PACKET)
        await new Promise<void>((resolve, reject) => {
          mdns.query({ questions: batch }, target, (err) =>
            err
              ? reject(new MicroError(REGISTRY_ERROR_ID, 500, `mdns: query failed: ${err.message}`))
              : resolve(),
          )
        })
      }
      await this.sleep(this.timeout)
      return pending.entries
    } finally {
      this.pending.delete(pending)
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const s = {
        timer: setTimeout(() => {
          this.sleeps.delete(s)
          resolve()
        }, ms),
        resolve,
      }
      this.sleeps.add(s)
    })
  }

  private feedPending(packet: ResponsePacket): void {
    if (this.pending.size === 0) return
    const records = [...(packet.answers ?? []), ...(packet.additionals ?? [])]
    for (const p of this.pending) collectEntries(records, p.entries, MAX_ENTRIES)
  }

  /** Complete, live instances of `names` (plus this registry's own nodes), one Service per version. */
  private toServices(entries: Map<string, Entry>, names: Set<string>): Map<string, Map<string, Service>> {
    const out = new Map<string, Map<string, Service>>()
    const add = (txt: MdnsTxt, node: Node) => {
      let versions = out.get(txt.service)
      if (!versions) {
        versions = new Map()
        out.set(txt.service, versions)
      }
      let svc = versions.get(txt.version)
      if (!svc) {
        svc = { name: txt.service, version: txt.version, nodes: [] }
        if (txt.endpoints) svc.endpoints = txt.endpoints
        versions.set(txt.version, svc)
      }
      if (!svc.nodes.some((n) => n.id === node.id)) svc.nodes.push(node)
    }
    for (const e of entries.values()) {
      const found = this.entryToNode(e)
      if (found && names.has(found.txt.service)) add(found.txt, found.node)
    }
    // Our own nodes are known without the network (and are usually answered over it as well).
    const now = Date.now()
    for (const name of names) {
      for (const n of this.local.get(name)?.nodes.values() ?? []) {
        if (n.expiresAt && n.expiresAt <= now) continue
        const txt = decodeTxt(n.zone.txt)
        if (txt) add(txt, { ...this.zoneNode(n.zone, txt) })
      }
    }
    return out
  }

  private zoneNode(zone: Zone, txt: MdnsTxt): Node {
    const node: Node = { id: zone.instance, address: joinHostPort(zone.ips[0], zone.port) }
    if (txt.metadata) node.metadata = txt.metadata
    return node
  }

  private entryToNode(e: Entry): { txt: MdnsTxt; node: Node } | undefined {
    if (e.ttl === 0 || !isComplete(e)) return undefined
    const txt = decodeTxt(e.txt ?? [])
    if (!txt) return undefined
    const suffix = `.${txt.service}.${this.domain}.`
    if (!e.name.endsWith(suffix) || e.name.length === suffix.length) return undefined
    const node: Node = {
      id: e.name.slice(0, -suffix.length),
      address: joinHostPort(e.v4 ?? e.v6 ?? '', e.port ?? 0),
    }
    if (txt.metadata) node.metadata = txt.metadata
    return { txt, node }
  }

  // ---- watch ----

  /** Announcements, goodbyes and multicast answers: create/update/delete for the watchers. */
  private onMulticastResponse(packet: ResponsePacket): void {
    this.feedPending(packet)
    if (this.subs.size === 0) return
    const records = [...(packet.answers ?? []), ...(packet.additionals ?? [])]
    const entries = new Map<string, Entry>()
    const now = Date.now()
    for (const e of collectEntries(records, entries, MAX_ENTRIES)) {
      if (!isComplete(e)) continue
      const txt = decodeTxt(e.txt ?? [])
      if (!txt?.version) continue
      const suffix = `.${txt.service}.${this.domain}.`
      if (!e.name.endsWith(suffix) || e.name.length === suffix.length) continue
      const node: Node = {
        id: e.name.slice(0, -suffix.length),
        address: joinHostPort(e.v4 ?? e.v6 ?? '', e.port ?? 0),
      }
      if (txt.metadata) node.metadata = txt.metadata
      const service: Service = { name: txt.service, version: txt.version, nodes: [node] }
      if (txt.endpoints) service.endpoints = txt.endpoints
      const key = e.name
      const prev = this.seen.get(key)
      let action: WatchEvent['action'] | undefined
      if (e.ttl === 0) {
        this.seen.delete(key)
        action = 'delete'
      } else {
        // Repeated announcements of an unchanged node are not news; a changed record is an update.
        const fingerprint = JSON.stringify(service)
        const live = prev && prev.expiresAt > now
        if (!live) action = 'create'
        else if (prev.fingerprint !== fingerprint) action = 'update'
        this.seen.delete(key)
        this.seen.set(key, { fingerprint, expiresAt: now + Math.min(e.ttl, RECORD_TTL) * 1000 })
        if (this.seen.size > MAX_ENTRIES) this.seen.delete(this.seen.keys().next().value as string)
      }
      if (!action) continue
      for (const sub of this.subs) {
        if (sub.service && sub.service !== service.name) continue
        sub.queue.push({ action, service: copyService(service, service.nodes.map(copyNode)) })
      }
    }
  }
}

/** The mDNS registry (`MICRO_REGISTRY=mdns`, the default). */
export function createMdnsRegistry(options?: MdnsRegistryOptions): MdnsRegistry {
  return new MdnsRegistry(options)
}
