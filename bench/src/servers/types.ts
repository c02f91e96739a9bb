import type { MoleculerSettings } from '../clients/types.js'

export interface ServerConfig {
  /** Our transport's name (`http`, `grpc`, ...). */
  transport?: string
  moleculer?: MoleculerSettings
  /** The gateway: the greeter's registry record, to seed its memory registry. */
  service?: import('@micro-ts/core').Service
}

export interface BenchServer {
  /** What the `{ready: true}` line carries: `address`, and `service` (its registry record) for ours. */
  info: Record<string, unknown>
  close(): Promise<void>
}
