/**
 * Watchers: announcements, goodbyes and multicast answers heard on the responder become
 * create/update/delete events. Repeated announcements of an unchanged node are not news.
 */
import type { ResponsePacket } from 'multicast-dns'
import type { Service, WatchEvent, Watcher, WatchOptions } from '../types.js'
import { copyNode, copyService, WatchQueue } from '../util.js'
import { MAX_ENTRIES } from './querier.js'
import { collectEntries, type Entry, entryNode, RECORD_TTL } from './records.js'

interface WatchSub {
  service?: string
  queue: WatchQueue
}

interface SeenNode {
  fingerprint: string
  expiresAt: number
}

export class WatchFeed {
  private readonly subs = new Set<WatchSub>()
  private readonly seen = new Map<string, SeenNode>()

  constructor(private readonly domain: string) {}

  get size(): number {
    return this.subs.size
  }

  add(options: WatchOptions): { sub: Watcher; remove(): void } {
    const sub: WatchSub = { service: options.service, queue: undefined as unknown as WatchQueue }
    sub.queue = new WatchQueue({ signal: options.signal, onStop: () => this.subs.delete(sub) })
    if (!sub.queue.stopped) this.subs.add(sub)
    return { sub: sub.queue, remove: () => sub.queue.stop() }
  }

  stopAll(): void {
    for (const sub of [...this.subs]) sub.queue.stop()
    this.seen.clear()
  }

  onResponse(packet: ResponsePacket): void {
    if (this.subs.size === 0) return
    const records = [...(packet.answers ?? []), ...(packet.additionals ?? [])]
    const now = Date.now()
    for (const e of collectEntries(records, new Map<string, Entry>(), MAX_ENTRIES)) {
      const found = entryNode(e, this.domain)
      if (!found?.txt.version) continue
      const { txt, node } = found
      const service: Service = { name: txt.service, version: txt.version, nodes: [node] }
      if (txt.endpoints) service.endpoints = txt.endpoints
      const key = e.name
      const prev = this.seen.get(key)
      let action: WatchEvent['action'] | undefined
      if (e.ttl === 0) {
        this.seen.delete(key)
        action = 'delete'
      } else {
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
