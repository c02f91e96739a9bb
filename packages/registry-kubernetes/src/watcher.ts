/**
 * A registry watch on pods: list (silently, as go-micro builds its cache without emitting), then
 * watch from the list's resourceVersion. Each pod event is compared with what was known of the
 * pod, record by record and node by node, and turned into create/update/delete events. When the
 * watch ends it resumes from the last resourceVersion seen (bookmarks keep it fresh); a 410 Gone
 * means that version is compacted away, so it lists again and emits the difference. 401 and 403
 * end the watch with the error; anything else (the API server restarting) is retried with back-off.
 */
import type { V1Pod, V1Status } from '@kubernetes/client-node'
import type { Logger, Service, WatchEvent, Watcher, WatchOptions } from '@micro-ts/core'
import { backoff, copyService, decodeServiceJson, encodeServiceJson, WatchQueue } from '@micro-ts/core/plugin'
import { apiError, isGone, type PodApi, statusCode, type WatchEventType } from './client.js'
import { ALL_SERVICES_SELECTOR, isServing, serviceAnnotations, serviceSelector } from './layout.js'

/** Annotation key → record, for one pod. */
type PodRecords = Map<string, Service>

/** The records `pod` carries for the watch (only `name`'s, when given); none unless it serves. */
export function podRecords(pod: V1Pod, name: string | undefined, onBad?: (key: string) => void): PodRecords {
  const out: PodRecords = new Map()
  if (!isServing(pod)) return out
  for (const [key, json] of serviceAnnotations(pod)) {
    const s = decodeServiceJson(json)
    if (!s) onBad?.(key)
    else if (name === undefined || s.name === name) out.set(key, s)
  }
  return out
}

/** The events that turn `before` into `after` for one pod. */
export function diffRecords(before: PodRecords, after: PodRecords): WatchEvent[] {
  const events: WatchEvent[] = []
  for (const [key, old] of before) {
    const now = after.get(key)
    if (!now || now.name !== old.name || now.version !== old.version) {
      events.push({ action: 'delete', service: copyService(old) })
      continue
    }
    if (encodeServiceJson(now) === encodeServiceJson(old)) continue
    const kept = new Set(now.nodes.map((n) => n.id))
    const removed = old.nodes.filter((n) => !kept.has(n.id))
    if (removed.length > 0) events.push({ action: 'delete', service: copyService(old, removed) })
    // Anything besides removals (a node added or changed, endpoints or metadata): the new record.
    if (
      encodeServiceJson(now) !==
      encodeServiceJson(
        old,
        old.nodes.filter((n) => kept.has(n.id)),
      )
    ) {
      events.push({ action: 'update', service: copyService(now) })
    }
  }
  for (const [key, now] of after) {
    const old = before.get(key)
    if (!old || old.name !== now.name || old.version !== now.version)
      events.push({ action: 'create', service: copyService(now) })
  }
  return events
}

const RETRY = backoff({ base: 200, max: 10_000 })

/** A Watcher whose iteration rejects with the error that ended it (a 403, say). */
export class PodWatcher implements Watcher {
  private readonly queue: WatchQueue
  private failure: unknown
  private readonly pods = new Map<string, PodRecords>()
  private resourceVersion = ''
  private stopper: AbortController | undefined
  private readonly selector: string
  private readonly only: string | undefined
  private readonly warned = new Set<string>()
  private wake: (() => void) | undefined

  constructor(
    private readonly api: PodApi,
    options: WatchOptions,
    private readonly logger: Logger,
    onStop: () => void,
  ) {
    this.only = options.service
    this.selector = options.service ? serviceSelector(options.service) : ALL_SERVICES_SELECTOR
    this.queue = new WatchQueue({
      signal: options.signal,
      onStop: () => {
        this.stopper?.abort()
        this.wake?.()
        onStop()
      },
    })
    // Whatever goes wrong in the loop ends this watch with the error, never the process.
    if (!this.queue.stopped) void this.run().catch((err: unknown) => this.fail(err))
  }

  stop(): void {
    this.queue.stop()
  }

  /** True once the watch has ended (stop(), the signal, close() or a permanent error). */
  get stopped(): boolean {
    return this.queue.stopped
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    const inner = this.queue[Symbol.asyncIterator]()
    return {
      next: async () => {
        const r = await inner.next()
        if (r.done && this.failure !== undefined) {
          const err = this.failure
          this.failure = undefined
          throw err
        }
        return r
      },
      return: () => inner.return?.() ?? Promise.resolve({ value: undefined, done: true }),
    }
  }

  private fail(err: unknown): void {
    this.failure = err
    this.queue.stop()
  }

  private records(pod: V1Pod): PodRecords {
    return podRecords(pod, this.only, (key) => {
      const id = `${pod.metadata?.name}/${key}`
      if (this.warned.has(id)) return
      this.warned.add(id)
      this.logger.warn(
        { pod: pod.metadata?.name, annotation: key },
        'kubernetes registry: ignoring an annotation that is not a service record',
      )
    })
  }

  private emit(events: WatchEvent[]): void {
    for (const e of events) this.queue.push(e)
  }

  /** Replace what is known with a fresh list; `quiet` for the first one (go-micro emits nothing then). */
  private async relist(quiet: boolean): Promise<void> {
    const { pods, resourceVersion } = await this.api.list(this.selector)
    const seen = new Set<string>()
    for (const pod of pods) {
      const name = pod.metadata?.name
      if (!name) continue
      seen.add(name)
      const next = this.records(pod)
      if (!quiet) this.emit(diffRecords(this.pods.get(name) ?? new Map(), next))
      if (next.size > 0) this.pods.set(name, next)
      else this.pods.delete(name)
    }
    for (const [name, before] of this.pods) {
      if (seen.has(name)) continue
      if (!quiet) this.emit(diffRecords(before, new Map()))
      this.pods.delete(name)
    }
    this.resourceVersion = resourceVersion
  }

  private onEvent(type: WatchEventType, object: V1Pod | V1Status): 'gone' | undefined {
    if (type === 'ERROR') {
      const status = object as V1Status
      if (status.code === 410) return 'gone'
      this.logger.warn({ status }, 'kubernetes registry: the watch reported an error; watching again')
      return undefined
    }
    const pod = object as V1Pod
    const version = pod.metadata?.resourceVersion
    if (version) this.resourceVersion = version
    if (type === 'BOOKMARK') return undefined
    const name = pod.metadata?.name
    if (!name) return undefined
    const before = this.pods.get(name) ?? new Map()
    const after = type === 'DELETED' ? new Map<string, Service>() : this.records(pod)
    this.emit(diffRecords(before, after))
    if (after.size > 0) this.pods.set(name, after)
    else this.pods.delete(name)
    return undefined
  }

  /** One watch request, until the server or we end it: why it ended. */
  private watchOnce(): Promise<{ err?: unknown; gone: boolean; events: number }> {
    return new Promise((resolve) => {
      let gone = false
      let events = 0
      this.api
        .watch(this.selector, this.resourceVersion, {
          event: (type, object) => {
            if (this.queue.stopped) return
            events++
            if (this.onEvent(type, object) === 'gone') {
              gone = true
              this.stopper?.abort()
            }
          },
          done: (err) => resolve({ err, gone, events }),
        })
        .then(
          (stopper) => {
            this.stopper = stopper
            if (this.queue.stopped) stopper.abort()
          },
          (err: unknown) => resolve({ err, gone: false, events }),
        )
    })
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms)
      function done() {
        clearTimeout(t)
        resolve()
      }
      this.wake = done
    })
  }

  /** Permanent: the credentials or the RBAC rules will not change by trying again. */
  private static permanent(err: unknown): boolean {
    const code = (err as { code?: unknown } | null)?.code ?? statusCode(err)
    return code === 401 || code === 403
  }

  private async run(): Promise<void> {
    let attempt = 0
    let listed = false
    while (!this.queue.stopped) {
      if (!listed) {
        try {
          // The first list is quiet; a list after 410 Gone reports what changed in between.
          await this.relist(this.resourceVersion === '')
          listed = true
        } catch (err) {
          if (PodWatcher.permanent(err)) return this.fail(err)
          this.logger.warn({ err }, 'kubernetes registry: listing pods for the watch failed; retrying')
          await this.pause(RETRY(++attempt))
          continue
        }
      }
      const { err, gone, events } = await this.watchOnce()
      if (this.queue.stopped) return
      if (events > 0) attempt = 0
      if (gone || isGone(err)) {
        this.logger.debug({}, 'kubernetes registry: watch resourceVersion expired (410); listing again')
        listed = false
        continue
      }
      if (err !== undefined && PodWatcher.permanent(err)) {
        return this.fail(apiError(err, 'watch', this.api.namespace))
      }
      // An orderly end after events (the server's watch timeout) resumes at once; a failure, or
      // a watch that ends as soon as it starts, waits first, longer each time.
      if (err !== undefined || events === 0) {
        this.logger.debug({ err }, 'kubernetes registry: watch ended; resuming from its resourceVersion')
        await this.pause(RETRY(++attempt))
      }
    }
  }
}
