/**
 * Registry: service discovery. The records are go-micro's JSON exactly
 * (registry/registry.go), so a Go and a TypeScript service read each other's entries.
 */

/** A request/response type tree, as go-micro describes endpoint arguments. */
export interface Value {
  name: string
  type: string
  values?: Value[]
}

export interface Endpoint {
  /** `Struct.Method`, e.g. `Greeter.Hello`. */
  name: string
  request?: Value
  response?: Value
  metadata?: Record<string, string>
}

export interface Node {
  /** Unique per running instance, e.g. `greeter-3f2c…`. */
  id: string
  /** `host:port` the node serves on. */
  address: string
  metadata?: Record<string, string>
}

export interface Service {
  name: string
  version: string
  metadata?: Record<string, string>
  endpoints?: Endpoint[]
  nodes: Node[]
}

export type WatchAction = 'create' | 'update' | 'delete'

export interface WatchEvent {
  action: WatchAction
  /** For `delete`, the service as it was, holding the node(s) that went away. */
  service: Service
}

export interface RegisterOptions {
  /** Lease in milliseconds. Without a refresh (re-register) before it runs out, the node disappears. 0 or absent: no expiry. */
  ttl?: number
}

export interface WatchOptions {
  /** Only events for this service name. */
  service?: string
  /** Ends the watch when aborted. */
  signal?: AbortSignal
}

/** An async iterable of watch events; `stop()` (or `close()` on the registry) ends the iteration. */
export interface Watcher extends AsyncIterable<WatchEvent> {
  stop(): void
}

export interface Registry {
  /** The plugin name, e.g. `mdns`, `memory`, `etcd`. */
  readonly name: string
  /**
   * Add or refresh the nodes of `service`. Registering an existing node again refreshes its TTL
   * and replaces its record.
   */
  register(service: Service, options?: RegisterOptions): Promise<void>
  /** Remove the nodes listed in `service`; the service disappears with its last node. */
  deregister(service: Service): Promise<void>
  /**
   * All known versions of `name`, one `Service` per version with the nodes merged.
   * Throws a not-found MicroError (404, detail `service not found`) when there is none.
   */
  getService(name: string): Promise<Service[]>
  /** One entry per name+version; nodes may be omitted. */
  listServices(): Promise<Service[]>
  watch(options?: WatchOptions): Watcher
  /**
   * Optional: resolve once the backend answered, reject (a MicroError, 503 when unreachable)
   * otherwise; give up when `signal` fires. A service's `/health/ready` calls it; a registry
   * without it is probed with `listServices()`.
   */
  ping?(signal?: AbortSignal): Promise<void>
  /** Stop background work and end every watcher. */
  close(): Promise<void>
}
