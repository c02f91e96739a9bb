import type { Service } from '@micro-ts/core'
import type { PayloadKind } from '../payloads.js'

/** What the orchestrator tells a driver about the server it loads. */
export interface DriverConfig {
  /** `host:port` of the server (or of the Moleculer/NATS peer, where it has one). */
  address: string
  /** The server's own registry record: seeds the client's memory registry (ours, go-micro). */
  service?: Service
  /** Our transport's name (`http`, `grpc`, ...). */
  transport?: string
  /** Per-call timeout in ms for our client (default: the client's own, 30 s). */
  timeout?: number
  /** Connections to open to the server (the memory rows); default: the client's own pool size. */
  connections?: number
  /** Moleculer: transporter settings, see servers/moleculer.ts. */
  moleculer?: MoleculerSettings
  /** Ours: tracing (an SDK exporting to `otlpUrl`) or metrics on, for the telemetry rows. */
  telemetry?: import('../telemetry.js').TelemetryMode
  otlpUrl?: string
}

export interface MoleculerSettings {
  kind: 'tcp' | 'nats'
  namespace: string
  /** TCP: this node's port and every node as `127.0.0.1:port/nodeID`. */
  port?: number
  urls?: string[]
  /** NATS: server URL. */
  nats?: string
}

/** One RPC client under test. */
export interface BenchClient {
  /** One call; resolves once the response is decoded and checked. */
  call(payload: PayloadKind, viaAddress?: boolean): Promise<void>
  close(): Promise<void>
}

export function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':')
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) }
}
