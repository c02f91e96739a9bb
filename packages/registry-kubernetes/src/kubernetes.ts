/**
 * The registry: register and deregister patch this process's own pod; getService, listServices
 * and watch read the Running pods that carry go-micro's labels. There is no TTL: a pod's
 * registrations live as long as the pod (Kubernetes removes a dead pod, and a pod that is not
 * Running is not read).
 */
import type { Logger, RegisterOptions, Registry, Service, Watcher, WatchOptions } from '@micro-ts/core'
import { abortReason, mergeServices, serviceNotFound, validateService } from '@micro-ts/core/plugin'
import { apiError, type PodApi } from './client.js'
import { ALL_SERVICES_SELECTOR, serviceSelector } from './layout.js'
import { errors } from './options.js'
import { OwnPod } from './pod.js'
import { PodWatcher, podRecords } from './watcher.js'

export interface KubernetesRegistryParts {
  api: PodApi
  /** This process's pod; without one the registry can read but not register. */
  pod?: string
  logger: Logger
}

export class KubernetesRegistry implements Registry {
  readonly name = 'kubernetes'
  /** The namespace whose pods are read and written. */
  readonly namespace: string
  /** The pod register patches, if known. */
  readonly pod: string | undefined
  private readonly api: PodApi
  private readonly own: OwnPod | undefined
  private readonly logger: Logger
  private readonly watchers = new Set<PodWatcher>()
  private readonly warned = new Set<string>()
  private closed = false

  constructor(parts: KubernetesRegistryParts) {
    this.api = parts.api
    this.namespace = parts.api.namespace
    this.pod = parts.pod
    this.logger = parts.logger
    this.own = parts.pod ? new OwnPod(parts.api, parts.pod) : undefined
  }

  private open(op: string): void {
    if (this.closed) throw errors.unavailable(`cannot ${op}: the registry is closed`)
  }

  private ownPod(op: string): OwnPod {
    if (!this.own) {
      throw errors.badOption(
        `cannot ${op}: this process's pod is unknown; set POD_NAME from the downward API (metadata.name), HOSTNAME, or the pod option`,
      )
    }
    return this.own
  }

  private check(service: Service, op: string): void {
    validateService(service, errors.id)
    if (!service.nodes || service.nodes.length === 0) {
      // go-micro's ErrNoNodesFound.
      throw errors.badRequest(`cannot ${op} ${service.name}: at least one node is needed`)
    }
  }

  /** `ttl` is not used: a registration lasts as long as the pod, as in go-micro. */
  async register(service: Service, _options?: RegisterOptions): Promise<void> {
    this.open('register')
    this.check(service, 'register')
    await this.ownPod('register').add(service)
  }

  async deregister(service: Service): Promise<void> {
    this.open('deregister')
    this.check(service, 'deregister')
    const written = this.ownPod('deregister').remove(service)
    if (written) await written
  }

  /** Every record on the Running pods `selector` matches (only `name`'s, when given). */
  private async records(selector: string, name?: string): Promise<Service[]> {
    const { pods } = await this.api.list(selector)
    return pods.flatMap((pod) => [
      ...podRecords(pod, name, (key) => {
        const id = `${pod.metadata?.name}/${key}`
        if (this.warned.has(id)) return
        this.warned.add(id)
        this.logger.warn(
          { pod: pod.metadata?.name, annotation: key },
          'kubernetes registry: ignoring an annotation that is not a service record',
        )
      }).values(),
    ])
  }

  async getService(name: string): Promise<Service[]> {
    this.open('get a service')
    if (typeof name !== 'string' || name === '')
      throw errors.badRequest('service name must be a non-empty string')
    const services = mergeServices(await this.records(serviceSelector(name), name))
    if (services.length === 0) throw serviceNotFound(errors.id)
    return services
  }

  async listServices(): Promise<Service[]> {
    this.open('list services')
    return mergeServices(await this.records(ALL_SERVICES_SELECTOR))
  }

  watch(options: WatchOptions = {}): Watcher {
    this.open('watch')
    const watcher: PodWatcher = new PodWatcher(this.api, options, this.logger, () =>
      this.watchers.delete(watcher),
    )
    if (!watcher.stopped) this.watchers.add(watcher)
    return watcher
  }

  /**
   * What /health/ready asks: one list of at most one pod (this process's own, when known) in the
   * namespace. A 503 when the API server does not answer within `timeout`, or after close();
   * 401/403 when it refuses the credentials or the `list` right; the signal's 408/499 when it fires.
   */
  async ping(signal?: AbortSignal): Promise<void> {
    this.open('ping')
    if (signal?.aborted) throw abortReason(signal, errors.id)
    try {
      await this.api.ping(this.pod, signal)
    } catch (err) {
      if (signal?.aborted) throw abortReason(signal, errors.id)
      const e = apiError(err, 'list', this.namespace)
      if (e.code === 401 || e.code === 403) throw e
      // What apiError says (tokens redacted), as the 503 a readiness probe expects.
      throw errors.unavailable(`ping: ${e.detail.replace(/^kubernetes registry: /, '')}`, err)
    }
  }

  /** Ends every watcher. Registrations stay on the pod: deregister first (the server does). */
  async close(): Promise<void> {
    this.closed = true
    for (const w of [...this.watchers]) w.stop()
    this.watchers.clear()
    this.api.close()
  }
}
