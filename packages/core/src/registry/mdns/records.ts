/**
 * The DNS records of go-micro's mDNS registry, built and read exactly as go-micro's
 * internal/util/mdns does (zone.go `Records`, client.go `messageToEntry`):
 *
 * - a node is an instance `<nodeId>.<service>.<domain>.`: PTR `<service>.<domain>.` → instance,
 *   SRV instance → `<host>.` with the port, A/AAAA `<host>.` → the node's IP, TXT instance → the
 *   encoded payload (./txt.ts);
 * - a service also has a wildcard instance `<service>._services.<domain>.` (port 9999, IP 0.0.0.0,
 *   empty TXT) that `_services.<domain>.` lists;
 * - TTL 120 s, and TTL 0 for goodbyes.
 */
import { formatAddress } from '../../util/address.js'
import type { Node } from '../types.js'
import type { Answer } from './dns.js'
import { decodeTxt, type MdnsTxt } from './txt.js'

export const DEFAULT_DOMAIN = 'micro'
/** go-micro's `defaultTTL` for every record, in seconds. */
export const RECORD_TTL = 120
/** The port go-micro advertises for the `_services` wildcard entries. */
export const WILDCARD_PORT = 9999
export const LIST_SERVICE = '_services'

/** One advertised instance (go-micro's `MDNSService`). */
export interface Zone {
  /** Node id, or the service name for a wildcard entry. */
  instance: string
  /** Service name, or `_services` for a wildcard entry. */
  service: string
  /** Without dots, e.g. `micro`. */
  domain: string
  /** Fully qualified, ending in a dot. */
  hostName: string
  port: number
  ips: string[]
  txt: string[]
}

export const serviceAddr = (service: string, domain: string) => `${service}.${domain}.`
export const instanceAddr = (instance: string, service: string, domain: string) =>
  `${instance}.${service}.${domain}.`
export const enumAddr = (domain: string) => `_services._dns-sd._udp.${domain}.`

const isV4 = (ip: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(ip)

/** The records `zone` answers `q` with; nothing when the question is not about it. */
export function zoneRecords(zone: Zone, q: { name: string; type: string }, ttl = RECORD_TTL): Answer[] {
  const svcAddr = serviceAddr(zone.service, zone.domain)
  const instAddr = instanceAddr(zone.instance, zone.service, zone.domain)
  switch (q.name) {
    case enumAddr(zone.domain):
      return q.type === 'PTR' || q.type === 'ANY' ? [{ name: q.name, type: 'PTR', ttl, data: svcAddr }] : []
    case svcAddr:
      if (q.type !== 'PTR' && q.type !== 'ANY') return []
      return [{ name: q.name, type: 'PTR', ttl, data: instAddr }, ...instanceRecords(zone, 'ANY', ttl)]
    case instAddr:
      return instanceRecords(zone, q.type, ttl)
    case zone.hostName:
      return q.type === 'A' || q.type === 'AAAA' ? instanceRecords(zone, q.type, ttl) : []
    default:
      return []
  }
}

function instanceRecords(zone: Zone, type: string, ttl: number): Answer[] {
  const instAddr = instanceAddr(zone.instance, zone.service, zone.domain)
  switch (type) {
    case 'ANY':
      return [...instanceRecords(zone, 'SRV', ttl), ...instanceRecords(zone, 'TXT', ttl)]
    case 'A':
      return zone.ips.filter(isV4).map((ip) => ({ name: zone.hostName, type: 'A', ttl, data: ip }))
    case 'AAAA':
      return zone.ips
        .filter((ip) => !isV4(ip))
        .map((ip) => ({ name: zone.hostName, type: 'AAAA', ttl, data: ip }))
    case 'SRV':
      return [
        {
          name: instAddr,
          type: 'SRV',
          ttl,
          data: { priority: 10, weight: 1, port: zone.port, target: zone.hostName },
        },
        ...instanceRecords(zone, 'A', ttl),
        ...instanceRecords(zone, 'AAAA', ttl),
      ]
    case 'TXT':
      return [{ name: instAddr, type: 'TXT', ttl, data: zone.txt }]
    default:
      return []
  }
}

/**
 * What a node announces unsolicited, and (with ttl 0) its goodbye: the PTR that names it plus its
 * instance records, as go-micro's server sends them.
 */
export function announcement(zone: Zone, ttl = RECORD_TTL): Answer[] {
  return zoneRecords(zone, { name: serviceAddr(zone.service, zone.domain), type: 'PTR' }, ttl)
}

/** An instance assembled from records, possibly over several packets (go-micro's `ServiceEntry`). */
export interface Entry {
  /** The instance name, e.g. `greeter-1.greeter.micro.`. */
  name: string
  host?: string
  port?: number
  v4?: string
  v6?: string
  txt?: (string | Uint8Array)[]
  /** The TTL of the last record that touched the entry; 0 means goodbye. */
  ttl: number
}

/** A name as go-micro writes it, with the trailing dot (dns-packet decodes names without one). */
export function fqdn(name: string): string {
  return name.endsWith('.') ? name : `${name}.`
}

export function isComplete(e: Entry): boolean {
  return (e.v4 !== undefined || e.v6 !== undefined) && !!e.port && e.txt !== undefined
}

interface RecordLike {
  name: string
  type: string
  ttl?: number
  data?: unknown
}

/**
 * Fold a packet's answers and additionals into `entries` (keyed by instance name) and return the
 * entries it touched. An SRV's target is aliased to its instance until the next SRV with that
 * target, so an A record named after the host lands on the instance whose SRV came just before
 * it: go-micro's rule, which keeps nodes that share a host name but not an IP apart.
 */
export function collectEntries(
  records: readonly RecordLike[],
  entries: Map<string, Entry>,
  maxEntries = 4096,
): Entry[] {
  const touched = new Set<Entry>()
  const aliases = new Map<string, Entry>()
  const ensure = (name: string): Entry | undefined => {
    let e = entries.get(name)
    if (!e) {
      if (entries.size >= maxEntries) return undefined
      e = { name, ttl: 0 }
      entries.set(name, e)
    }
    return e
  }
  for (const rr of records) {
    if (!rr || typeof rr.name !== 'string') continue
    const name = fqdn(rr.name)
    let e: Entry | undefined
    switch (rr.type) {
      case 'PTR':
        if (typeof rr.data === 'string') e = ensure(fqdn(rr.data))
        break
      case 'SRV': {
        const d = rr.data as { port?: unknown; target?: unknown } | undefined
        e = ensure(name)
        if (e && d && typeof d.port === 'number' && typeof d.target === 'string') {
          const target = fqdn(d.target)
          e.port = d.port
          e.host = target
          if (target !== name) aliases.set(target, e)
        }
        break
      }
      case 'TXT':
        e = ensure(name)
        if (e) e.txt = Array.isArray(rr.data) ? (rr.data as (string | Uint8Array)[]) : []
        break
      case 'A':
      case 'AAAA':
        e = aliases.get(name) ?? entries.get(name)
        if (e && typeof rr.data === 'string') {
          if (rr.type === 'A') e.v4 ??= rr.data
          else e.v6 ??= rr.data
        }
        break
    }
    if (e) {
      e.ttl = typeof rr.ttl === 'number' ? rr.ttl : 0
      touched.add(e)
    }
  }
  return [...touched]
}

/**
 * The node (and its TXT payload) a complete entry of `domain` describes, or undefined when the
 * entry is incomplete, undecodable or not named `<node>.<service>.<domain>.`. Goodbyes (TTL 0)
 * are returned too: the caller decides what a goodbye means.
 */
export function entryNode(e: Entry, domain: string): { txt: MdnsTxt; node: Node } | undefined {
  if (!isComplete(e)) return undefined
  const txt = decodeTxt(e.txt ?? [])
  if (!txt) return undefined
  const suffix = `.${txt.service}.${domain}.`
  if (!e.name.endsWith(suffix) || e.name.length === suffix.length) return undefined
  const node: Node = {
    id: e.name.slice(0, -suffix.length),
    address: formatAddress(e.v4 ?? e.v6 ?? '', e.port ?? 0),
  }
  if (txt.metadata) node.metadata = txt.metadata
  return { txt, node }
}

/** The node a local zone advertises. */
export function zoneNode(zone: Zone, txt: MdnsTxt): Node {
  const node: Node = { id: zone.instance, address: formatAddress(zone.ips[0], zone.port) }
  if (txt.metadata) node.metadata = txt.metadata
  return node
}
