/**
 * The querier's side: ask questions from an ephemeral port (go-micro's responders answer by
 * unicast to the asking port, so queries must not come from the shared 5353 port) and collect
 * every instance heard of within the timeout, then fold the answers into Services.
 */
import type { MulticastDNS, ResponsePacket } from 'multicast-dns'
import { MicroError } from '../../errors.js'
import type { Node, Service } from '../types.js'
import { REGISTRY_ERROR_ID } from '../util.js'
import type { Question } from './dns.js'
import { collectEntries, type Entry, entryNode, type Zone, zoneNode } from './records.js'
import type { MdnsSockets } from './sockets.js'
import { decodeTxt, type MdnsTxt } from './txt.js'

/** Most instances one query keeps track of. */
export const MAX_ENTRIES = 4096
/** Questions per query packet when listServices asks about many services at once. */
const QUESTIONS_PER_PACKET = 16

interface PendingQuery {
  entries: Map<string, Entry>
}

export class Querier {
  private socket?: Promise<MulticastDNS>
  private readonly pending = new Set<PendingQuery>()
  private readonly sleeps = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>()

  constructor(
    private readonly sockets: MdnsSockets,
    /** How long answers are collected, ms. */
    private readonly timeout: number,
  ) {}

  /** Ask `questions` and collect every instance heard of within the timeout. */
  async query(questions: Question[], checkOpen: () => void): Promise<Map<string, Entry>> {
    const mdns = await this.open()
    checkOpen()
    const pending: PendingQuery = { entries: new Map() }
    this.pending.add(pending)
    try {
      const target = { address: this.sockets.group, port: this.sockets.port }
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

  /** Answers heard elsewhere (the responder hears multicast answers too) count for open queries. */
  feed(packet: ResponsePacket): void {
    if (this.pending.size === 0) return
    const records = [...(packet.answers ?? []), ...(packet.additionals ?? [])]
    for (const p of this.pending) collectEntries(records, p.entries, MAX_ENTRIES)
  }

  /** End the queries in flight at once (they return what they heard). */
  stop(): void {
    for (const s of this.sleeps) {
      clearTimeout(s.timer)
      s.resolve()
    }
    this.sleeps.clear()
  }

  private open(): Promise<MulticastDNS> {
    // Port 0: an ephemeral port, bound on the first send; answers come back to it by unicast.
    this.socket ??= this.sockets.openSocket(0, 'query').then((mdns) => {
      mdns.on('response', (r) => this.sockets.safely(() => this.feed(r)))
      return mdns
    })
    this.socket.catch(() => {
      this.socket = undefined
    })
    return this.socket
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
}

/**
 * Complete, live instances of `names` from `entries`, plus this registry's own nodes (known
 * without the network, and usually answered over it as well), one Service per version.
 */
export function servicesOf(
  entries: Map<string, Entry>,
  names: Set<string>,
  domain: string,
  localZones: (name: string) => Iterable<Zone>,
): Map<string, Map<string, Service>> {
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
    if (e.ttl === 0) continue
    const found = entryNode(e, domain)
    if (found && names.has(found.txt.service)) add(found.txt, found.node)
  }
  for (const name of names) {
    for (const zone of localZones(name)) {
      const txt = decodeTxt(zone.txt)
      if (txt) add(txt, zoneNode(zone, txt))
    }
  }
  return out
}
