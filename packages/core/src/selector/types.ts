import type { Node, Service } from '../registry/types.js'

/** Narrows the services/nodes a selector may pick from. */
export type SelectFilter = (services: Service[]) => Service[]

export interface SelectOptions {
  /** Only this version. */
  version?: string
  /** Only nodes whose metadata has all of these pairs. */
  metadata?: Record<string, string>
  /** Only services declaring this endpoint. */
  endpoint?: string
  filters?: SelectFilter[]
  /** Node ids to skip for this pick (e.g. ones already tried by this call). */
  exclude?: Iterable<string>
}

export type SelectStrategy = 'random' | 'roundrobin'

export interface Selector {
  readonly name: string
  /**
   * A node for `service`. Throws a MicroError 404 (`service <name> not found`) when the registry has no
   * such service and 503 (`none available`) when every node is filtered out or excluded. Nodes set
   * aside by `mark()` are avoided while others remain; when all are set aside they are used anyway.
   */
  select(service: string, options?: SelectOptions): Promise<Node>
  /** Report the outcome of a call: an error sets the node aside for a while; success clears it. */
  mark(service: string, node: Node, error?: unknown): void
  /** Forget what is cached or set aside for `service`. */
  reset(service: string): void
  close(): Promise<void>
}
