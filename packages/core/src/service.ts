/**
 * createService(): composes the building blocks. A component instance given in code is used as
 * is; every other component comes from the MICRO_* environment, defaulting to the embedded mdns
 * registry, http broker, http transport and memory store. For deploy-time settings (identity,
 * addresses, registration, client, selector, log level) the environment wins over values in
 * code, as go-micro's flags and variables do, so an operator changes them without a rebuild.
 */
import type { Broker } from './broker/types.js'
import type { RetryBudgetOptions } from './client/budget.js'
import { RpcClient } from './client/rpc.js'
import type { CallWrapper, Client } from './client/types.js'
import { codecFor } from './codec/index.js'
import { type EnvSettings, readEnv } from './config.js'
import { type AnyPluginDefinition, builtInPlugins, createPlugin, resolvePlugin } from './loader.js'
import { createLogger, type LogFormat, type Logger, type LogLevel } from './logger.js'
import type { PluginKind } from './plugin/definition.js'
import type { Registry } from './registry/types.js'
import { createSelector, type SelectorOptions } from './selector/index.js'
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
import { type TelemetryOptions, tracingDisabled } from './telemetry.js'
import type { Transport } from './transport/types.js'
import { formatAddress, parseAddress } from './util/address.js'

/**
 * Every setting below that names a variable is a default the environment overrides: the order is
 * `MICRO_*` variable, then the value in code, then the built-in default. Component instances
 * (`registry`, `broker`, `transport`, `store`, a `Selector`, `logger`) given in code always stay.
 */
export interface ServiceOptions {
  /** Service name (`MICRO_SERVER_NAME`, default `go.micro.server`). */
  name?: string
  /** `MICRO_SERVER_VERSION`, default `latest`. */
  version?: string
  /** Instance id (`MICRO_SERVER_ID`), default a uuid. */
  id?: string
  /** Bind address (`MICRO_SERVER_ADDRESS`), default `:0`. */
  address?: string
  /** Address to advertise (`MICRO_SERVER_ADVERTISE`). */
  advertise?: string
  /** Service metadata (`MICRO_SERVER_METADATA=k=v,k2=v2`; its keys win over these). */
  metadata?: Record<string, string>
  registry?: Registry
  broker?: Broker
  transport?: Transport
  store?: Store
  /**
   * A selector (used as is), a strategy name, or the selector's options (`strategy`, `ejection`,
   * `cacheTtl`, `decayMs`); `MICRO_SELECTOR` wins over a strategy given here. Default `random`.
   */
  selector?: Selector | SelectStrategy | Omit<SelectorOptions, 'registry' | 'logger'>
  /** Registration lease in ms (`MICRO_REGISTER_TTL`, default 90 s). */
  registerTtl?: number
  /** Re-registration interval in ms (`MICRO_REGISTER_INTERVAL`, default 30 s). */
  registerInterval?: number
  client?: {
    /** `MICRO_CLIENT_RETRIES`, default 1. */
    retries?: number
    /** Per-call timeout in ms (`MICRO_CLIENT_REQUEST_TIMEOUT`, default 30 s). */
    timeout?: number
    /** Connections per node for a transport with a `poolSize` option (`MICRO_CLIENT_POOL_SIZE`). */
    poolSize?: number
    /** Retries are at most 20 % of calls over 10 s (plus 10/s); tune it, or `false` to turn it off. */
    retryBudget?: RetryBudgetOptions | false
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
  /**
   * Where a health listener of its own serves `/health`, `/health/live` and `/health/ready`
   * (`MICRO_HEALTH_ADDRESS` wins; `false` or `off`: none). Default: none when the transport is
   * `http` (it serves them on its own port), else the server's host on a free port (logged).
   */
  healthAddress?: string | false
  /** Longest a readiness check may take before it counts as down, ms (1 s). */
  healthCheckTimeout?: number
  /** A logger used as is; without one the service makes a pino logger named after it. */
  logger?: Logger
  /** Level of the logger the service makes (`MICRO_LOG_LEVEL`, default `info`). */
  logLevel?: LogLevel
  /** Format of the logger the service makes (`MICRO_LOG_FORMAT`; default pretty on a terminal, else JSON). */
  logFormat?: LogFormat
  /** Where MICRO_* variables are read from (default `process.env`). */
  env?: Record<string, string | undefined>
  /**
   * Plugins handed over in code: `MICRO_REGISTRY=etcd` resolves to one of these before any
   * import, so a bundled service (esbuild, ncc) can select the plugins it bundled.
   */
  plugins?: readonly AnyPluginDefinition[]
  /**
   * Tracing and metrics. Spans are made whenever an OpenTelemetry SDK is registered (its
   * `OTEL_*` variables configure it) unless `tracing: false` or `OTEL_SDK_DISABLED=true`;
   * `metrics` (e.g. `prometheusMetrics()` of `@micro-ts/telemetry`) is served at `/metrics`
   * beside the health paths.
   */
  telemetry?: TelemetryOptions
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
  /**
   * Serve `handler`'s methods as `<Name>.<Method>`: those whose name starts with an upper-case
   * letter (go-micro's exported methods), or exactly `options.methods`.
   */
  handle(handler: object, options?: HandleOptions): this
  subscribe<T = unknown>(
    topic: string,
    fn: (message: T, ctx: { topic: string; headers: Record<string, string> }) => unknown,
    options?: SubscribeHandlerOptions,
  ): this
  /** Add (or replace) a check of `/health/ready`; `registry`, `broker` and `store` are built in. */
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
  const settings = resolveSettings(options, env)
  const name = settings.name.value
  const logger =
    options.logger ?? createLogger(settings.logLevel.value, name, { format: settings.logFormat.value })
  logger.debug({ settings: describeSettings(settings, options) }, 'settings (value and where it came from)')
  for (const kind of ['registry', 'broker', 'transport', 'store'] as const) {
    if (options[kind] && env[kind].name) {
      logger.warn(
        { variable: `MICRO_${kind.toUpperCase()}`, value: env[kind].name },
        `ignored: a ${kind} instance was given in code`,
      )
    }
  }
  const owned: { close(): Promise<void> }[] = []
  const load = async <K extends PluginKind>(kind: K, given: unknown, fallback: string, extra = {}) => {
    if (given) return given
    const setting = env[kind]
    const definition = await resolvePlugin(kind, setting.name ?? fallback, options.plugins)
    const componentLogger = logger.child({ component: kind })
    if (
      kind === 'transport' &&
      setting.addresses.length > 0 &&
      (builtInPlugins('transport') as unknown[]).includes(definition)
    ) {
      warnTransportAddress(componentLogger, definition.name, setting.addresses)
    }
    return createPlugin(definition, {
      addresses: setting.addresses,
      logger: componentLogger,
      env: rawEnv,
      ...extra,
    })
  }

  const registry = (await load('registry', options.registry, 'mdns')) as Registry
  if (!options.registry) owned.push({ close: () => registry.close() })
  const broker = (await load('broker', options.broker, 'http', { registry })) as Broker
  if (!options.broker) owned.push({ close: () => broker.disconnect() })
  // MICRO_CLIENT_POOL_SIZE means connections per node to whichever transport declares `poolSize`.
  const poolSize = settings.poolSize.value
  const transport = (await load('transport', options.transport, 'http', {
    sharedOptions: poolSize === undefined ? undefined : { poolSize },
  })) as Transport
  if (!options.transport) owned.push({ close: () => transport.close() })
  const store = (await load('store', options.store, 'memory', {
    database: env.store.database,
    table: env.store.table,
  })) as Store
  if (!options.store) owned.push({ close: () => store.close() })

  const given = options.selector
  const selectorInstance = isSelector(given) ? given : undefined
  const selector =
    selectorInstance ??
    createSelector({
      registry,
      ...(typeof given === 'object' ? given : {}),
      strategy: settings.selector.value,
      logger: logger.child({ component: 'selector' }),
    })
  if (!selectorInstance) owned.push(selector)

  const telemetry: TelemetryOptions = {
    tracing: options.telemetry?.tracing !== false && !tracingDisabled(rawEnv),
    metrics: options.telemetry?.metrics,
  }
  telemetry.metrics?.bind?.({ name, cacheStats: () => selector.stats?.() })
  const server = new RpcServer({
    name,
    version: settings.version.value,
    id: settings.id.value,
    address: settings.address.value,
    advertise: settings.advertise.value,
    metadata: settings.metadata.value,
    transport,
    registry,
    broker,
    registerTtl: settings.registerTtl.value,
    registerInterval: settings.registerInterval.value,
    wrappers: options.wrappers?.handler,
    subscriberWrappers: options.wrappers?.subscriber,
    codecs: codecFor,
    logger: logger.child({ component: 'server' }),
    maxBodySize: options.maxBodySize,
    drainTimeout: options.drainTimeout,
    healthAddress: healthListenAddress(settings.healthAddress.value, transport, settings.address.value),
    healthCheckTimeout: options.healthCheckTimeout,
    telemetry,
  })
  const client = new RpcClient({
    transport,
    selector,
    broker,
    retries: settings.retries.value,
    timeout: settings.timeout.value,
    contentType: options.client?.contentType,
    retryBudget: options.client?.retryBudget,
    wrappers: options.wrappers?.call,
    logger: logger.child({ component: 'client' }),
    telemetry,
  })

  let started = false
  let stopped: Promise<void> | undefined
  let brokerConnected = false
  let subscribed = false
  // Readiness reflects the components: each is asked whether its backend answers.
  server.addHealthCheck('registry', async (signal) => {
    if (registry.ping) await registry.ping(signal)
    else await registry.listServices()
  })
  server.addHealthCheck('broker', async (signal) => {
    // A broker the service never connected (no subscriber, nothing published yet) is not in use.
    if (!brokerConnected && !(subscribed && started)) return
    if (broker.ping) await broker.ping(signal)
    else if (broker.address() === '') throw new Error(`${broker.name} broker is not connected`)
  })
  server.addHealthCheck('store', async (signal) => {
    if (store.ping) await store.ping(signal)
    else await store.list({ limit: 1 })
  })
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
      subscribed = true
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

/** A setting's value and where it came from: a variable's name, `code` or `default`. */
interface Setting<T> {
  value: T
  source: string
}

/** The environment first, then code, then the default: go-micro's order for deploy-time settings. */
function setting<T>(
  variable: string,
  fromEnv: T | undefined,
  fromCode: T | undefined,
  fallback: T,
): Setting<T>
function setting<T>(variable: string, fromEnv: T | undefined, fromCode: T | undefined): Setting<T | undefined>
function setting<T>(variable: string, fromEnv: T | undefined, fromCode: T | undefined, fallback?: T) {
  if (fromEnv !== undefined) return { value: fromEnv, source: variable }
  if (fromCode !== undefined) return { value: fromCode, source: 'code' }
  return { value: fallback, source: 'default' }
}

type Settings = ReturnType<typeof resolveSettings>

function resolveSettings(options: ServiceOptions, env: EnvSettings) {
  const metadataKeys = Object.keys(env.server.metadata)
  const given = options.selector
  const strategy =
    typeof given === 'string' ? given : given && !isSelector(given) ? given.strategy : undefined
  return {
    name: setting('MICRO_SERVER_NAME', env.server.name, options.name, 'go.micro.server'),
    version: setting('MICRO_SERVER_VERSION', env.server.version, options.version),
    id: setting('MICRO_SERVER_ID', env.server.id, options.id),
    address: setting('MICRO_SERVER_ADDRESS', env.server.address, options.address),
    advertise: setting('MICRO_SERVER_ADVERTISE', env.server.advertise, options.advertise),
    healthAddress: setting<string | false>('MICRO_HEALTH_ADDRESS', env.healthAddress, options.healthAddress),
    metadata: {
      // Key by key: the variable's keys win, the others keep their values from code.
      value: { ...options.metadata, ...env.server.metadata },
      source:
        metadataKeys.length === 0
          ? options.metadata
            ? 'code'
            : 'default'
          : options.metadata
            ? 'code, MICRO_SERVER_METADATA'
            : 'MICRO_SERVER_METADATA',
    },
    registerTtl: setting('MICRO_REGISTER_TTL', env.registerTtl, options.registerTtl),
    registerInterval: setting('MICRO_REGISTER_INTERVAL', env.registerInterval, options.registerInterval),
    retries: setting('MICRO_CLIENT_RETRIES', env.client.retries, options.client?.retries),
    timeout: setting('MICRO_CLIENT_REQUEST_TIMEOUT', env.client.requestTimeout, options.client?.timeout),
    poolSize: setting('MICRO_CLIENT_POOL_SIZE', env.client.poolSize, options.client?.poolSize),
    selector: setting<SelectStrategy>('MICRO_SELECTOR', env.selector, strategy, 'random'),
    logLevel: setting<LogLevel>('MICRO_LOG_LEVEL', env.logLevel, options.logLevel, 'info'),
    logFormat: setting<LogFormat>('MICRO_LOG_FORMAT', env.logFormat, options.logFormat),
  }
}

/** `{ name: { value: 'greeter', source: 'MICRO_SERVER_NAME' }, ... }` for the debug log. */
function describeSettings(settings: Settings, options: ServiceOptions): Record<string, Setting<unknown>> {
  const out: Record<string, Setting<unknown>> = Object.fromEntries(
    Object.entries(settings).filter(([, s]) => s.value !== undefined),
  )
  if (isSelector(options.selector)) out.selector = { value: options.selector.name, source: 'code (instance)' }
  if (options.logger) {
    delete out.logLevel
    delete out.logFormat
  }
  return out
}

let warnedTransportAddress = false

/**
 * MICRO_TRANSPORT_ADDRESS is handed to the transport as `addresses` (a plugin transport may dial
 * a broker or a mesh there); the built-in http and tcp transports have no such address: say so,
 * once per process, rather than ignore it silently.
 */
function warnTransportAddress(logger: Logger, name: string, addresses: string[]): void {
  if (warnedTransportAddress) return
  warnedTransportAddress = true
  logger.warn(
    { variable: 'MICRO_TRANSPORT_ADDRESS', value: addresses.join(','), transport: name },
    `MICRO_TRANSPORT_ADDRESS does not apply to the built-in ${name} transport (it has no address of its own; MICRO_SERVER_ADDRESS sets where the server listens): ignored`,
  )
}

/**
 * Kubernetes probes speak HTTP: the http transport serves the health paths on its own port, any
 * other transport gets a listener of its own, on the server's host and a free port unless told.
 */
function healthListenAddress(
  configured: string | false | undefined,
  transport: Transport,
  serverAddress: string | undefined,
): string | undefined {
  if (configured === false) return undefined
  if (configured !== undefined) return configured
  if (transport.name === 'http') return undefined
  let host = ''
  try {
    host = parseAddress(serverAddress ?? ':0').host
  } catch {
    // the server reports a bad address itself when it starts
  }
  return formatAddress(host, 0)
}

/** A Selector instance (as opposed to a strategy name or the selector's options). */
function isSelector(x: ServiceOptions['selector']): x is Selector {
  return typeof x === 'object' && x !== null && typeof (x as Selector).select === 'function'
}
