/**
 * createService(): composes the building blocks. Every component not given in code comes from
 * the MICRO_* environment (DESIGN §4), defaulting to the embedded mdns registry, http broker,
 * http transport and memory store.
 */
import type { Broker } from './broker/types.js'
import { RpcClient } from './client/rpc.js'
import type { CallWrapper, Client } from './client/types.js'
import { codecFor } from './codec/index.js'
import { type EnvSettings, readEnv } from './config.js'
import { loadPlugin } from './loader.js'
import { createLogger, type Logger, type LogLevel } from './logger.js'
import type { PluginDefinition, PluginKind } from './plugin/definition.js'
import type { OptionSpecs } from './plugin/options.js'
import type { Registry } from './registry/types.js'
import { createSelector } from './selector/index.js'
import type { Selector, SelectStrategy } from './selector/types.js'
import type { HealthCheck } from './server/health.js'
import { RpcServer } from './server/rpc.js'
import type {
  HandleOptions,
  HandlerWrapper,
  SubscribeHandlerOptions,
  SubscriberWrapper,
} from './server/types.js'
import type { Store } from './store/types.js'
import type { Transport } from './transport/types.js'

export interface ServiceOptions {
  /** Service name (`MICRO_SERVER_NAME`); required for a service that handles requests. */
  name?: string
  /** `MICRO_SERVER_VERSION`, default `latest`. */
  version?: string
  /** Instance id (`MICRO_SERVER_ID`), default a uuid. */
  id?: string
  /** Bind address (`MICRO_SERVER_ADDRESS`), default `:0`. */
  address?: string
  /** Address to advertise (`MICRO_SERVER_ADVERTISE`). */
  advertise?: string
  /** Service metadata (`MICRO_SERVER_METADATA=k=v,k2=v2`). */
  metadata?: Record<string, string>
  registry?: Registry
  broker?: Broker
  transport?: Transport
  store?: Store
  /** A selector or a strategy name (`MICRO_SELECTOR`, default `random`). */
  selector?: Selector | SelectStrategy
  /** Registration lease in ms (`MICRO_REGISTER_TTL`, default 90 s). */
  registerTtl?: number
  /** Re-registration interval in ms (`MICRO_REGISTER_INTERVAL`, default 30 s). */
  registerInterval?: number
  client?: {
    /** `MICRO_CLIENT_RETRIES`, default 1. */
    retries?: number
    /** Per-call timeout in ms (`MICRO_CLIENT_REQUEST_TIMEOUT`, default 30 s). */
    timeout?: number
    /** Connections per node (`MICRO_CLIENT_POOL_SIZE`, default 100). */
    poolSize?: number
    contentType?: string
  }
  wrappers?: {
    handler?: HandlerWrapper[]
    call?: CallWrapper[]
    subscriber?: SubscriberWrapper[]
  }
  /** Largest request body, bytes (10 MiB). */
  maxBodySize?: number
  /** How long shutdown waits for in-flight requests, ms (30 s). */
  drainTimeout?: number
  logger?: Logger
  /** Where MICRO_* variables are read from (default `process.env`). */
  env?: Record<string, string | undefined>
  /**
   * Plugins handed over in code: `MICRO_REGISTRY=etcd` resolves to one of these before any
   * import, so a bundled service (esbuild, ncc) can select the plugins it bundled.
   */
  plugins?: readonly PluginDefinition<PluginKind, OptionSpecs>[]
}

export interface Service {
  readonly name: string
  readonly client: Client
  readonly server: RpcServer
  readonly registry: Registry
  readonly broker: Broker
  readonly transport: Transport
  readonly store: Store
  readonly selector: Selector
  readonly logger: Logger
  /** Serve every public method of `handler` as `<Name>.<method>`. */
  handle(handler: object, options?: HandleOptions): this
  subscribe<T = unknown>(
    topic: string,
    fn: (message: T, ctx: { topic: string; headers: Record<string, string> }) => unknown,
    options?: SubscribeHandlerOptions,
  ): this
  addHealthCheck(name: string, check: HealthCheck): this
  /** Start serving and register. */
  start(): Promise<void>
  /** Graceful stop, then close every component this service created. */
  stop(): Promise<void>
  /** start(), then wait for SIGTERM/SIGINT and stop gracefully. Resolves once stopped. */
  run(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Build a service from options and the MICRO_* environment. */
export async function createService(options: ServiceOptions = {}): Promise<Service> {
  const rawEnv = options.env ?? process.env
  const env: EnvSettings = readEnv(rawEnv)
  const logger = options.logger ?? createLogger((env.logLevel ?? 'info') as LogLevel)
  const owned: { close(): Promise<void> }[] = []
  const load = async <K extends PluginKind>(kind: K, given: unknown, fallback: string, extra = {}) => {
    if (given) return given
    const setting = env[kind]
    const instance = await loadPlugin(kind, setting.name ?? fallback, {
      addresses: setting.addresses,
      logger: logger.child({ component: kind }),
      env: rawEnv,
      plugins: options.plugins,
      ...extra,
    })
    return instance
  }

  const registry = (await load('registry', options.registry, 'mdns')) as Registry
  if (!options.registry) owned.push({ close: () => registry.close() })
  const broker = (await load('broker', options.broker, 'http', { registry })) as Broker
  if (!options.broker) owned.push({ close: () => broker.disconnect() })
  // MICRO_CLIENT_POOL_SIZE means connections per node to whichever transport declares `poolSize`.
  const poolSize = options.client?.poolSize ?? env.client.poolSize
  const transport = (await load('transport', options.transport, 'http', {
    sharedOptions: poolSize === undefined ? undefined : { poolSize },
  })) as Transport
  if (!options.transport) owned.push({ close: () => transport.close() })
  const store = (await load('store', options.store, 'memory', {
    database: env.store.database,
    table: env.store.table,
  })) as Store
  if (!options.store) owned.push({ close: () => store.close() })

  const selector =
    typeof options.selector === 'object'
      ? options.selector
      : createSelector({ registry, strategy: options.selector ?? env.selector ?? 'random' })
  if (typeof options.selector !== 'object') owned.push(selector)

  const name = options.name ?? env.server.name ?? 'go.micro.server'
  const server = new RpcServer({
    name,
    version: options.version ?? env.server.version,
    id: options.id ?? env.server.id,
    address: options.address ?? env.server.address,
    advertise: options.advertise ?? env.server.advertise,
    metadata: { ...env.server.metadata, ...options.metadata },
    transport,
    registry,
    broker,
    registerTtl: options.registerTtl ?? env.registerTtl,
    registerInterval: options.registerInterval ?? env.registerInterval,
    wrappers: options.wrappers?.handler,
    subscriberWrappers: options.wrappers?.subscriber,
    codecs: codecFor,
    logger: logger.child({ component: 'server' }),
    maxBodySize: options.maxBodySize,
    drainTimeout: options.drainTimeout,
  })
  const client = new RpcClient({
    transport,
    selector,
    broker,
    retries: options.client?.retries ?? env.client.retries,
    timeout: options.client?.timeout ?? env.client.requestTimeout,
    contentType: options.client?.contentType,
    wrappers: options.wrappers?.call,
    logger: logger.child({ component: 'client' }),
  })

  let started = false
  let stopped: Promise<void> | undefined
  let brokerConnected = false
  const service: Service = {
    name,
    client: {
      call: (s, e, r, o) => client.call(s, e, r, o),
      stream: (s, e, o) => client.stream(s, e, o),
      service: (n, h, o) => client.service(n, h, o),
      publish: async (topic, message, opts) => {
        if (!brokerConnected) {
          await broker.connect()
          brokerConnected = true
        }
        return client.publish(topic, message, opts)
      },
    },
    server,
    registry,
    broker,
    transport,
    store,
    selector,
    logger,
    handle(handler, opts) {
      server.handle(handler, opts)
      return service
    },
    subscribe(topic, fn, opts) {
      server.subscribe(topic, fn, opts)
      return service
    },
    addHealthCheck(checkName, check) {
      server.addHealthCheck(checkName, check)
      return service
    },
    async start() {
      if (started) return
      started = true
      await server.start()
    },
    stop() {
      stopped ??= (async () => {
        await server.stop()
        // Close in reverse order of creation: selector, store, transport, broker, registry.
        for (const c of owned.reverse()) {
          try {
            await c.close()
          } catch (e) {
            logger.warn({ err: (e as Error).message }, 'close failed')
          }
        }
      })()
      return stopped
    },
    async run() {
      await service.start()
      await new Promise<void>((resolve) => {
        const onSignal = (sig: NodeJS.Signals) => {
          process.off('SIGTERM', onSignal)
          process.off('SIGINT', onSignal)
          logger.info({ signal: sig }, 'shutting down')
          service.stop().then(resolve, (e) => {
            logger.error({ err: (e as Error).message }, 'shutdown failed')
            resolve()
          })
        }
        process.on('SIGTERM', onSignal)
        process.on('SIGINT', onSignal)
      })
    },
    [Symbol.asyncDispose]() {
      return service.stop()
    },
  }
  return service
}
