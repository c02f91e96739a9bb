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

/**
 * How a node is picked among the candidates: `random` (go-micro's default), `roundrobin`, or
 * `p2c`, the least loaded of two picked at random, by an EWMA of latency times the calls in flight.
 */
export type SelectStrategy = 'random' | 'roundrobin' | 'p2c'

/**
 * How a call to a node ended, as the client reports it to `Selector.begin()`'s function:
 * - `answered`: the node answered (a success, or an error about the request: it is alive);
 * - `failed`: the node answered with a failure of its own (502, 503 or 504), which counts towards
 *   setting it aside after several in a row;
 * - `down`: the node could not be reached, lost the connection or refused the work while
 *   draining: it is set aside at once;
 * - `cancelled`: the caller gave up before the node answered: nothing is learnt.
 */
export type CallOutcome = 'answered' | 'failed' | 'down' | 'cancelled'

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
  /**
   * Optional: a call to `node` starts now. The function returned reports how it ended (once), and
   * stands in for mark() for that call: load-aware strategies count the calls in flight and time
   * them from here, and outlier ejection counts failures in a row.
   */
  begin?(service: string, node: Node): (outcome: CallOutcome) => void
  /** Forget what is cached or set aside for `service`. */
  reset(service: string): void
  /** Optional: the registry cache's figures (services, nodes, watch restarts), for metrics. */
  stats?(): { services: number; nodes: number; watchRestarts: number }
  close(): Promise<void>
}
