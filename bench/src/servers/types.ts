import type { MoleculerSettings } from '../clients/types.js'

export interface ServerConfig {
  /** Our transport's name (`http`, `grpc`, ...). */
  transport?: string
  moleculer?: MoleculerSettings
  /** The gateway: the greeter's registry record, to seed its memory registry. */
  service?: import('@micro-ts/core').Service
  /** Ours: register in etcd at this address (start-up rows) instead of an in-process memory registry. */
  etcd?: string
  /** Ours: the service's name (default bench.greeter). */
  name?: string
  /** Raw servers: listen on this port (default: any free one). */
  port?: number
  /** Ours: tracing (an SDK exporting to `otlpUrl`) or metrics on, for the telemetry rows. */
  telemetry?: import('../telemetry.js').TelemetryMode
  otlpUrl?: string
}

export interface BenchServer {
  /** What the `{ready: true}` line carries: `address`, and `service` (its registry record) for ours. */
  info: Record<string, unknown>
  close(): Promise<void>
}
