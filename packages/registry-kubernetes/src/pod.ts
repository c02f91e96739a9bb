/**
 * This process's own pod, as the registry wants it to look: one annotation per service record
 * (name + version) holding every node this process registered for it, one selector label per
 * service name, and `micro.mu/type=service`. Changes are made here synchronously and written by
 * one strategic merge patch at a time; changes made while a patch is in flight go out together in
 * the next one, so a burst of registrations costs a few requests, not one each.
 */
import type { Node, Service } from '@micro-ts/core'
import { copyService, encodeServiceJson, upsertNodes } from '@micro-ts/core/plugin'
import type { PodApi } from './client.js'
import {
  annotationKey,
  extraAnnotationKey,
  SELECTOR_VALUE,
  selectorLabel,
  TYPE_LABEL,
  TYPE_VALUE,
} from './layout.js'

export class OwnPod {
  /** Annotation key → the record it holds. */
  private readonly records = new Map<string, Service>()
  /** Keys the last successful patch set, so the next one can remove what is gone. */
  private writtenAnnotations = new Set<string>()
  private writtenLabels = new Set<string>()
  private running: Promise<void> | undefined
  private queued: Promise<void> | undefined

  constructor(
    private readonly api: PodApi,
    readonly name: string,
  ) {}

  private find(name: string, version: string): string | undefined {
    for (const [key, s] of this.records) if (s.name === name && s.version === version) return key
    return undefined
  }

  /**
   * go-micro's key for the record when it is free; another version of the same name, or another
   * name that sanitises the same, takes a key of its own.
   */
  private allocate(name: string, version: string): string {
    const primary = annotationKey(name)
    return this.records.has(primary) ? extraAnnotationKey(name, version) : primary
  }

  /** Add or replace `service`'s nodes; resolves when the pod carries them. */
  add(service: Service): Promise<void> {
    const version = service.version ?? ''
    const found = this.find(service.name, version)
    const key = found ?? this.allocate(service.name, version)
    const before = found === undefined ? undefined : this.records.get(found)
    const next = copyService(service, upsertNodes(before?.nodes ?? [], service.nodes))
    this.records.set(key, next)
    return this.commit(key, next, before)
  }

  /** Remove `service`'s nodes (the record goes with its last node); false when none was held. */
  remove(service: Service): Promise<void> | false {
    const key = this.find(service.name, service.version ?? '')
    if (key === undefined) return false
    const before = this.records.get(key) as Service
    const gone = new Set(service.nodes.map((n: Node) => n.id))
    const left = before.nodes.filter((n) => !gone.has(n.id))
    if (left.length === before.nodes.length) return false
    const next = left.length === 0 ? undefined : { ...before, nodes: left }
    if (next) this.records.set(key, next)
    else this.records.delete(key)
    return this.commit(key, next, before)
  }

  /**
   * Write, and if the patch fails undo this change (unless a later one replaced it), so a rejected
   * registration (too large, forbidden) is not sent again with every later patch.
   */
  private async commit(key: string, next: Service | undefined, before: Service | undefined): Promise<void> {
    try {
      await this.flush()
    } catch (err) {
      if (this.records.get(key) === next) {
        if (before) this.records.set(key, before)
        else this.records.delete(key)
      }
      throw err
    }
  }

  /**
   * Write the current state. A caller whose change is already covered by a queued patch shares
   * it; otherwise a new patch is queued behind the running one.
   */
  private flush(): Promise<void> {
    if (this.queued) return this.queued
    const before = this.running ?? Promise.resolve()
    const mine: Promise<void> = before
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined
        this.running = mine
        return this.write()
      })
      .finally(() => {
        if (this.running === mine) this.running = undefined
      })
    this.queued = mine
    return mine
  }

  /** The whole state in one patch (idempotent: a registration removed by hand comes back). */
  private async write(): Promise<void> {
    const annotations: Record<string, string | null> = {}
    const labels: Record<string, string | null> = { [TYPE_LABEL]: TYPE_VALUE }
    for (const [key, s] of this.records) {
      annotations[key] = encodeServiceJson(s)
      labels[selectorLabel(s.name)] = SELECTOR_VALUE
    }
    for (const key of this.writtenAnnotations) if (!(key in annotations)) annotations[key] = null
    for (const key of this.writtenLabels) if (!(key in labels)) labels[key] = null
    await this.api.patchMetadata(this.name, { labels, annotations })
    this.writtenAnnotations = new Set(Object.keys(annotations).filter((k) => annotations[k] !== null))
    this.writtenLabels = new Set(Object.keys(labels).filter((k) => labels[k] !== null && k !== TYPE_LABEL))
  }
}
