/**
 * The environments the scenarios run in: where the programs run (Place) and which MICRO_*
 * variables select go-micro's and our plugins. A suite calls `useEnv(kind)` inside a describe.
 */
import { afterAll, beforeAll, it } from 'vitest'
import {
  Etcd,
  HOST,
  IN_CI,
  missingPrerequisites,
  NATS_ADDRESS,
  NetNs,
  type Place,
  RABBITMQ_ADDRESS,
  stopAll,
} from './harness.js'

export type EnvKind = 'mdns' | 'etcd' | 'nats' | 'rabbitmq'
/** MICRO_TRANSPORT of every program: go-micro's default HTTP transport, or its gRPC one (`transport/grpc`). */
export type TransportKind = 'http' | 'grpc'

export interface Env {
  readonly kind: EnvKind
  readonly transport: TransportKind
  place: Place
  /** MICRO_* variables for every program of the suite. */
  vars: Record<string, string>
}

const needs = {
  mdns: { netns: true },
  etcd: { etcd: true },
  nats: { etcd: true, nats: true },
  rabbitmq: { etcd: true, rabbitmq: true },
} as const

/** What `kind` lacks on this machine (call with top-level await, before the suites). */
export function lacks(kind: EnvKind): Promise<string[]> {
  return missingPrerequisites(needs[kind])
}

/**
 * Registry mDNS (inside a private network namespace) + HTTP broker; registry etcd (our own
 * etcd) + HTTP broker; registry etcd + NATS broker (127.0.0.1:4222); registry etcd + RabbitMQ
 * broker (amqp://guest:guest@127.0.0.1:5672). RPC goes over `transport` (HTTP unless told).
 * Call inside a describe.
 * When `missing` (from `lacks`) is not empty it returns `undefined` and registers a skipped
 * (laptop) or failing (CI) test instead.
 */
export function prepareEnv(
  kind: EnvKind,
  missing: string[],
  transport: TransportKind = 'http',
): Env | undefined {
  if (missing.length > 0) {
    const why = `interop ${kind}: cannot run: missing ${missing.join('; ')}`
    if (IN_CI) {
      it(`prerequisites for ${kind}`, () => {
        throw new Error(why)
      })
    } else {
      console.warn(`\n!!! ${why} — SKIPPING (this fails in CI)\n`)
      it.skip(`${kind} scenarios (${why})`, () => {})
    }
    return undefined
  }
  const env: Env = { kind, transport, place: HOST, vars: {} }
  let ns: NetNs | undefined
  let etcd: Etcd | undefined
  beforeAll(async () => {
    if (kind === 'mdns') {
      ns = await NetNs.create()
      env.place = ns
      env.vars = { MICRO_REGISTRY: 'mdns', MICRO_BROKER: 'http', MICRO_TRANSPORT: transport }
    } else {
      etcd = await Etcd.start()
      const brokers: Record<Exclude<EnvKind, 'mdns'>, Record<string, string>> = {
        etcd: { MICRO_BROKER: 'http' },
        nats: { MICRO_BROKER: 'nats', MICRO_BROKER_ADDRESS: `nats://${NATS_ADDRESS}` },
        rabbitmq: { MICRO_BROKER: 'rabbitmq', MICRO_BROKER_ADDRESS: RABBITMQ_ADDRESS },
      }
      const broker = brokers[kind]
      env.vars = {
        MICRO_REGISTRY: 'etcd',
        MICRO_REGISTRY_ADDRESS: etcd.address,
        MICRO_TRANSPORT: transport,
        ...broker,
      }
    }
  }, 30_000)
  afterAll(async () => {
    await stopAll()
    await ns?.destroy()
    await etcd?.stop()
  }, 30_000)
  return env
}
