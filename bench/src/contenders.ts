/**
 * Who competes, and how each one is started: every contender is one or more server processes
 * and one client (driver) process, all on 127.0.0.1.
 */

import { freePort } from '@micro-ts/conformance/testing'
import { createLogger, loadPlugin } from '@micro-ts/core'
import type { DriverConfig, MoleculerSettings } from './clients/types.js'
import { type BenchEnv, goChild, nodeChild, nodeFlags } from './env.js'
import { bigBody } from './payloads.js'
import type { Child, Reply } from './proc.js'
import type { PubSubConfig } from './pubsub/types.js'
import type { ServerConfig } from './servers/types.js'
import { otlpSink, type TelemetryMode } from './telemetry.js'

export type Group = 'ours' | 'raw' | 'peer' | 'origin'

export interface Started {
  /** The processes whose RSS is reported (the server side). */
  servers: Child[]
  driver: Child
}

export interface RpcContender {
  name: string
  group: Group
  what: string
  /** Why it cannot run here (its row is then marked, not dropped), or undefined. */
  check(env: BenchEnv): Promise<string | undefined>
  start(env: BenchEnv): Promise<Started>
}

/** Our transports, fastest path first when they exist. `http` is core's default. */
export const OUR_TRANSPORTS = ['http', 'grpc', 'tcp'] as const

async function startNodeServer(
  env: BenchEnv,
  name: string,
  kind: string,
  config: ServerConfig,
  ours: boolean,
) {
  const child = nodeChild(
    name,
    'server.js',
    [kind, JSON.stringify(config)],
    nodeFlags(env, `${name}-server`, ours),
  )
  return { child, info: await child.ready() }
}

async function startNodeDriver(
  env: BenchEnv,
  name: string,
  kind: string,
  config: DriverConfig,
  ours: boolean,
) {
  const child = nodeChild(
    name,
    'driver.js',
    [kind, JSON.stringify(config)],
    nodeFlags(env, `${name}-client`, ours),
  )
  await child.ready()
  return child
}

/** Start the driver, stopping the servers if it fails: nothing may outlive a failed start. */
async function withServers(servers: Child[], driver: () => Promise<Child>): Promise<Started> {
  try {
    return { servers, driver: await driver() }
  } catch (e) {
    await Promise.all(servers.map((s) => s.stop()))
    throw e
  }
}

async function transportUsable(name: string): Promise<string | undefined> {
  try {
    const t = await loadPlugin('transport', name, { logger: createLogger('silent') })
    await t.close()
    return undefined
  } catch (e) {
    return (e as Error).message.split('\n')[0].slice(0, 300)
  }
}

function ours(transport: string): RpcContender {
  return {
    name: `ours-${transport}`,
    group: 'ours',
    what: `our client → our service, ${transport} transport; memory registry seeded with the server's record, so every call goes through the selector`,
    check: () => transportUsable(transport),
    async start(env) {
      const server = await startNodeServer(env, `ours-${transport} server`, 'ours', { transport }, true)
      return withServers([server.child], () =>
        startNodeDriver(
          env,
          `ours-${transport} driver`,
          'ours',
          {
            address: String(server.info.address),
            service: server.info.service as DriverConfig['service'],
            transport,
          },
          true,
        ),
      )
    },
  }
}

/** `ours-<transport>` with tracing (SDK, batch exporter) or metrics on in both processes: compare with `ours-<transport>`. */
function oursObserved(transport: 'http' | 'tcp', mode: TelemetryMode): RpcContender {
  const name = `ours-${transport}-${mode}`
  return {
    name,
    group: 'ours',
    what:
      mode === 'tracing'
        ? `ours-${transport} with tracing in client and server: @micro-ts/telemetry's startTracing() (OpenTelemetry Node SDK, every call sampled, batch span processor, OTLP/protobuf exporter to a sink in the orchestrator)`
        : `ours-${transport} with prometheusMetrics() in client and server (counted on every call, nothing scraping)`,
    check: () => transportUsable(transport),
    async start(env) {
      const otlpUrl = mode === 'tracing' ? (await otlpSink()).url : undefined
      const telemetry = { telemetry: mode, otlpUrl }
      const server = await startNodeServer(env, `${name} server`, 'ours', { transport, ...telemetry }, true)
      return withServers([server.child], () =>
        startNodeDriver(
          env,
          `${name} driver`,
          'ours',
          {
            address: String(server.info.address),
            service: server.info.service as DriverConfig['service'],
            transport,
            ...telemetry,
          },
          true,
        ),
      )
    },
  }
}

function raw(name: string, serverKind: string, driverKind: string, what: string): RpcContender {
  return {
    name,
    group: 'raw',
    what,
    check: async () => undefined,
    async start(env) {
      const server = await startNodeServer(env, `${name} server`, serverKind, {}, false)
      return withServers([server.child], () =>
        startNodeDriver(env, `${name} driver`, driverKind, { address: String(server.info.address) }, false),
      )
    },
  }
}

function moleculer(kind: 'tcp' | 'nats'): RpcContender {
  return {
    name: `moleculer-${kind}`,
    group: 'peer',
    what:
      kind === 'tcp'
        ? 'Moleculer 0.14 broker.call over its TCP transporter (UDP discovery off, static urls on 127.0.0.1), JSON serializer'
        : 'Moleculer 0.14 broker.call over its NATS transporter (local nats-server), JSON serializer',
    check: async (env) => (kind === 'nats' ? env.natsMissing : undefined),
    async start(env) {
      const base: MoleculerSettings = { kind, namespace: `bench-${env.runId}-${kind}`, nats: env.natsUrl }
      let serverSettings = base
      let clientSettings = base
      if (kind === 'tcp') {
        const [sp, cp] = [await freePort(), await freePort()]
        const urls = [`127.0.0.1:${sp}/bench-server`, `127.0.0.1:${cp}/bench-client`]
        serverSettings = { ...base, port: sp, urls }
        clientSettings = { ...base, port: cp, urls }
      }
      const server = await startNodeServer(
        env,
        `moleculer-${kind} server`,
        'moleculer',
        { moleculer: serverSettings },
        false,
      )
      return withServers([server.child], () =>
        startNodeDriver(
          env,
          `moleculer-${kind} driver`,
          'moleculer',
          { address: String(server.info.address), moleculer: clientSettings },
          false,
        ),
      )
    },
  }
}

async function startGoServer(): Promise<{ child: Child; info: Reply }> {
  const child = goChild('go-micro server', 'gmserver', ['bench.greeter'])
  return { child, info: await child.ready() }
}

const goMicro: RpcContender = {
  name: 'go-micro',
  group: 'origin',
  what: 'go-micro v5.30.0 client → go-micro v5.30.0 service (HTTP transport, JSON codec, selector over a memory registry)',
  check: async (env) => env.goMissing,
  async start() {
    const server = await startGoServer()
    return withServers([server.child], async () => {
      const driver = goChild('go-micro driver', 'gmdriver', [
        JSON.stringify({ service: server.info.service, big: bigBody() }),
      ])
      await driver.ready()
      return driver
    })
  },
}

const oursToGo: RpcContender = {
  name: 'ours-to-go',
  group: 'origin',
  what: 'our client (http transport, selector) → the same go-micro v5.30.0 service',
  check: async (env) => env.goMissing,
  async start(env) {
    const server = await startGoServer()
    return withServers([server.child], () =>
      startNodeDriver(
        env,
        'ours-to-go driver',
        'ours',
        {
          address: String(server.info.address),
          service: server.info.service as DriverConfig['service'],
          transport: 'http',
          // go-micro's server now and then never answers a request (see README): give up after
          // go-micro's own client's wait (its 5 s connection timeout) instead of our default 30 s.
          timeout: 5000,
        },
        true,
      ),
    )
  },
}

/**
 * A hop in front of our greeter, called by an HTTP client (undici Pool, JSON by hand) with
 * `POST /{service}/{endpoint}`: `@micro-ts/gateway` (server kind `gateway`), or the bare proxy
 * (`bare-proxy`: node:http + undici forwarding the bytes), the ceiling of any Node hop here.
 * Compare both with `ours-http`, the direct call.
 */
function hop(name: string, serverKind: 'gateway' | 'bare-proxy', what: string): RpcContender {
  return {
    name,
    group: serverKind === 'gateway' ? 'ours' : 'raw',
    what,
    check: async () => undefined,
    async start(env) {
      const greeter = await startNodeServer(env, `${name} greeter`, 'ours', { transport: 'http' }, true)
      const front = await startNodeServer(
        env,
        `${name} ${serverKind}`,
        serverKind,
        { service: greeter.info.service as ServerConfig['service'] },
        serverKind === 'gateway',
      ).catch(async (e) => {
        await greeter.child.stop()
        throw e
      })
      return withServers([front.child, greeter.child], () =>
        startNodeDriver(env, `${name} driver`, 'gateway', { address: String(front.info.address) }, false),
      )
    },
  }
}

const gatewayHttp = hop(
  'gateway-http',
  'gateway',
  'HTTP+JSON (undici Pool) → @micro-ts/gateway → our client (http transport, selector) → our service: compare with ours-http',
)

const bareProxyHttp = hop(
  'bare-proxy-http',
  'bare-proxy',
  'the same HTTP client → a bare node:http server forwarding the body bytes over an undici Pool (100 connections) → the same service: the ceiling of any Node HTTP hop, compare with ours-http and gateway-http',
)

export const RPC_CONTENDERS: RpcContender[] = [
  ...OUR_TRANSPORTS.map(ours),
  oursObserved('http', 'tracing'),
  oursObserved('tcp', 'tracing'),
  oursObserved('http', 'metrics'),
  oursObserved('tcp', 'metrics'),
  gatewayHttp,
  bareProxyHttp,
  raw(
    'raw-http',
    'raw-http',
    'raw-http',
    'node:http server ← node:http client (keep-alive Agent), JSON by hand',
  ),
  raw(
    'raw-undici',
    'raw-http',
    'raw-undici',
    'the same node:http server ← undici Pool (keep-alive, 100 connections), JSON by hand',
  ),
  raw(
    'raw-net',
    'raw-net',
    'raw-net',
    'node:net echo: all requests multiplexed on one TCP connection as length-prefixed frames, JSON by hand',
  ),
  moleculer('tcp'),
  moleculer('nats'),
  goMicro,
  oursToGo,
]

export interface PubSubContender {
  name: string
  group: Group
  what: string
  kind: string
}

export const PUBSUB_CONTENDERS: PubSubContender[] = [
  {
    name: 'ours-nats',
    group: 'ours',
    kind: 'ours',
    what: 'client.publish → service.subscribe on @micro-ts/broker-nats (go-micro wire: JSON envelope, base64 body)',
  },
  {
    name: 'ours-nats-broker',
    group: 'ours',
    kind: 'ours-broker',
    what: 'our NatsBroker alone: broker.publish/subscribe, JSON by hand (same envelope, no client/server layer)',
  },
  {
    name: 'raw-nats',
    group: 'raw',
    kind: 'raw-nats',
    what: 'the `nats` client: publish/subscribe, JSON by hand',
  },
  {
    name: 'raw-nats-envelope',
    group: 'raw',
    kind: 'raw-envelope',
    what: "the `nats` client carrying go-micro's envelope (JSON, base64 body, three headers) by hand",
  },
  {
    name: 'moleculer-nats',
    group: 'peer',
    kind: 'moleculer',
    what: 'Moleculer 0.14 broker.emit → service event handler over its NATS transporter',
  },
]

export async function startPubSub(
  env: BenchEnv,
  contender: PubSubContender,
): Promise<{ publisher: Child; subscriber: Child }> {
  const config: PubSubConfig = {
    nats: env.natsUrl,
    topic: `bench.${env.runId}.${contender.name}`,
    namespace: `bench-${env.runId}-${contender.name}`,
  }
  const ours = contender.group === 'ours'
  const args = (role: string) => [role, contender.kind, JSON.stringify(config)]
  const subscriber = nodeChild(
    `${contender.name} subscriber`,
    'pubsub.js',
    args('subscriber'),
    nodeFlags(env, `${contender.name}-subscriber`, ours),
  )
  try {
    await subscriber.ready()
    const publisher = nodeChild(
      `${contender.name} publisher`,
      'pubsub.js',
      args('publisher'),
      nodeFlags(env, `${contender.name}-publisher`, ours),
    )
    try {
      await publisher.ready()
    } catch (e) {
      await publisher.stop()
      throw e
    }
    return { publisher, subscriber }
  } catch (e) {
    await subscriber.stop()
    throw e
  }
}
