/**
 * The responder's side: the services registered in this process, as mDNS zones. It turns nodes
 * into zones, answers questions about them, announces new and changed nodes (twice, a second
 * apart: RFC 6762 §8.3), says goodbye (TTL 0) when they go, and lets leases expire.
 */
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { MicroError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import { parseAddress } from '../../util/address.js'
import type { Node, Service } from '../types.js'
import { REGISTRY_ERROR_ID } from '../util.js'
import type { Answer, Question } from './dns.js'
import { fqdn, LIST_SERVICE, WILDCARD_PORT, type Zone, zoneRecords } from './records.js'
import { encodeTxt } from './txt.js'

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

export interface LocalZonesOptions {
  domain: string
  /** Host name put in SRV/A records, with the trailing dot. */
  hostName: string
  logger: Logger
  /** Announce these zones (`ttl` 0: goodbye) on the responder. */
  announce(zones: Zone[], ttl?: number): Promise<void>
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

export class LocalZones {
  private readonly services = new Map<string, LocalService>()
  private expiryTimer?: NodeJS.Timeout
  private expiryAt = Number.POSITIVE_INFINITY
  private stopped = false

  constructor(private readonly o: LocalZonesOptions) {}

  get size(): number {
    return this.services.size
  }

  names(): IterableIterator<string> {
    return this.services.keys()
  }

  /** The zones of `service`'s nodes; a bad node (no host or port, unresolvable, too big) is a 400. */
  async zonesOf(service: Service): Promise<Zone[]> {
    checkLabels('service name', service.name)
    const zones: Zone[] = []
    for (const node of service.nodes ?? []) zones.push(await this.nodeZone(service, node))
    return zones
  }

  /** Add or refresh nodes; new and changed ones are announced. */
  async add(serviceName: string, zones: Zone[], expiresAt: number | undefined): Promise<void> {
    let svc = this.services.get(serviceName)
    if (!svc) {
      svc = {
        wildcard: {
          instance: serviceName,
          service: LIST_SERVICE,
          domain: this.o.domain,
          hostName: this.o.hostName,
          port: WILDCARD_PORT,
          ips: ['0.0.0.0'],
          txt: [],
        },
        nodes: new Map(),
      }
      this.services.set(serviceName, svc)
    }
    const service = svc
    const fresh: Zone[] = []
    for (const zone of zones) {
      const fingerprint = JSON.stringify(zone)
      const prev = service.nodes.get(zone.instance)
      if (prev && prev.fingerprint === fingerprint) {
        prev.expiresAt = expiresAt
        continue
      }
      if (prev?.reannounce) clearTimeout(prev.reannounce)
      const entry: LocalNode = { zone, fingerprint, expiresAt }
      service.nodes.set(zone.instance, entry)
      fresh.push(zone)
      entry.reannounce = setTimeout(() => {
        entry.reannounce = undefined
        if (service.nodes.get(zone.instance) === entry && !this.stopped) void this.o.announce([zone])
      }, REANNOUNCE_MS)
      entry.reannounce.unref()
      this.o.logger.debug({ service: serviceName, node: zone.instance }, 'mdns: node registered')
    }
    if (expiresAt !== undefined) this.scheduleExpiry(expiresAt)
    await this.o.announce(fresh)
  }

  /** Remove these nodes (and the service's listing when none is left), saying goodbye. */
  async remove(service: Service): Promise<void> {
    const svc = this.services.get(service.name)
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
      this.services.delete(service.name)
      gone.push(svc.wildcard)
    }
    await this.o.announce(gone, 0)
  }

  /** Forget everything and stop the timers; returns the zones to say goodbye for. */
  clear(): Zone[] {
    this.stopped = true
    if (this.expiryTimer) clearTimeout(this.expiryTimer)
    this.expiryTimer = undefined
    const gone: Zone[] = []
    for (const svc of this.services.values()) {
      for (const n of svc.nodes.values()) {
        if (n.reannounce) clearTimeout(n.reannounce)
        gone.push(n.zone)
      }
      gone.push(svc.wildcard)
    }
    this.services.clear()
    return gone
  }

  /** The answers to `questions`, one list per matching zone (go-micro answers one packet per zone). */
  answers(questions: Question[], now = Date.now()): Answer[][] {
    const out: Answer[][] = []
    for (const svc of this.services.values()) {
      const zones = [svc.wildcard]
      for (const n of svc.nodes.values()) if (!n.expiresAt || n.expiresAt > now) zones.push(n.zone)
      for (const zone of zones) {
        const answers = questions.flatMap((q) => zoneRecords(zone, { ...q, name: fqdn(q.name) }))
        if (answers.length > 0) out.push(answers)
      }
    }
    return out
  }

  /** The live zones of the service `name`. */
  *liveZones(name: string, now = Date.now()): Generator<Zone> {
    for (const n of this.services.get(name)?.nodes.values() ?? []) {
      if (!n.expiresAt || n.expiresAt > now) yield n.zone
    }
  }

  /** Local nodes past their lease stop being answered for and say goodbye. One timer for the earliest. */
  private scheduleExpiry(at: number): void {
    if (this.stopped || at >= this.expiryAt) return
    if (this.expiryTimer) clearTimeout(this.expiryTimer)
    this.expiryAt = at
    this.expiryTimer = setTimeout(
      () => void this.expire(),
      Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1),
    )
    this.expiryTimer.unref()
  }

  private async expire(): Promise<void> {
    this.expiryTimer = undefined
    this.expiryAt = Number.POSITIVE_INFINITY
    const now = Date.now()
    let next = Number.POSITIVE_INFINITY
    const gone: Zone[] = []
    for (const [name, svc] of this.services) {
      for (const [id, n] of svc.nodes) {
        if (n.expiresAt === undefined) continue
        if (n.expiresAt <= now) {
          svc.nodes.delete(id)
          if (n.reannounce) clearTimeout(n.reannounce)
          gone.push(n.zone)
          this.o.logger.debug({ service: name, node: id }, 'mdns: node lease expired')
        } else if (n.expiresAt < next) next = n.expiresAt
      }
      if (svc.nodes.size === 0) {
        this.services.delete(name)
        gone.push(svc.wildcard)
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.scheduleExpiry(next)
    await this.o.announce(gone, 0)
  }

  private async nodeZone(service: Service, node: Node): Promise<Zone> {
    const bad = (why: string) => new MicroError(REGISTRY_ERROR_ID, 400, `mdns: node ${node.id}: ${why}`)
    let host: string
    let port: number
    try {
      ;({ host, port } = parseAddress(node.address, REGISTRY_ERROR_ID))
    } catch {
      throw bad(`address "${node.address}" needs a host and a port (1-65535)`)
    }
    if (port < 1) throw bad(`address "${node.address}" needs a host and a port (1-65535)`)
    if (host === '') throw bad(`address "${node.address}" has no host (go-micro needs an IP)`)
    checkLabels('node id', node.id)
    let ip = host
    if (!isIP(ip)) {
      try {
        ip = (await lookup(host)).address
      } catch (err) {
        throw bad(`cannot resolve host "${host}": ${(err as Error).message}`)
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
      domain: this.o.domain,
      hostName: this.o.hostName,
      port,
      ips: [ip],
      txt,
    }
  }
}
