/**
 * Resolves a plugin name to an instance (DESIGN §4): built-in names resolve inside core, any
 * other name N for kind K is the package `@micro-ts/K-N`, and a package name or a path is
 * imported as is. A name that resolves to nothing is an error naming the variable, the package
 * to install and the accepted values.
 */
import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { createHttpBroker, createMemoryBroker } from './broker/index.js'
import { ConfigError } from './config.js'
import { silentLogger } from './logger.js'
import {
  isPluginDefinition,
  type PluginContext,
  type PluginDefinition,
  type PluginInstance,
  type PluginKind,
} from './plugin.js'
import { createMdnsRegistry, createMemoryRegistry } from './registry/index.js'
import { createMemoryStore } from './store/index.js'
import { createHttpTransport, createTcpTransport } from './transport/index.js'

type Factory<K extends PluginKind> = (ctx: PluginContext) => PluginInstance[K]

const BUILT_IN: { [K in PluginKind]: Record<string, Factory<K>> } = {
  registry: {
    mdns: (ctx) => createMdnsRegistry({ logger: ctx.logger, ...ctx.options }),
    memory: (ctx) => createMemoryRegistry({ logger: ctx.logger }),
  },
  broker: {
    http: (ctx) => {
      if (!ctx.registry) throw new ConfigError('the http broker needs a registry to register its subscribers')
      return createHttpBroker({ registry: ctx.registry, address: ctx.addresses[0], logger: ctx.logger })
    },
    memory: (ctx) => createMemoryBroker({ logger: ctx.logger }),
  },
  transport: {
    http: (ctx) => createHttpTransport({ logger: ctx.logger, ...ctx.options }),
    tcp: (ctx) => createTcpTransport({ logger: ctx.logger, ...ctx.options }),
  },
  store: {
    memory: (ctx) => createMemoryStore({ database: ctx.database, table: ctx.table }),
  },
}

/** Official plugin packages, listed in the error for an unknown name. */
const KNOWN_PACKAGES: Record<PluginKind, string[]> = {
  registry: ['consul', 'etcd', 'kubernetes'],
  broker: ['nats', 'rabbitmq'],
  transport: ['grpc'],
  store: ['postgres', 'mysql', 'redis'],
}

export function builtInNames(kind: PluginKind): string[] {
  return Object.keys(BUILT_IN[kind])
}

function envVar(kind: PluginKind): string {
  return `MICRO_${kind.toUpperCase()}`
}

/** `etcd` → `@micro-ts/registry-etcd`; package names and paths stay as they are. */
export function pluginSpecifier(kind: PluginKind, spec: string): string {
  if (isPath(spec) || spec.startsWith('@') || spec.includes('/')) return spec
  return `@micro-ts/${kind}-${spec}`
}

function isPath(spec: string): boolean {
  return (
    spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('file:') || /^[A-Za-z]:[\\/]/.test(spec)
  )
}

/**
 * Resolve a bare package name from the application's point of view (the working directory and
 * the main script), not from core's own folder: with pnpm's strict layout core cannot see the
 * application's dependencies.
 */
function resolveModule(specifier: string): string {
  if (isPath(specifier)) {
    return specifier.startsWith('file:') ? specifier : pathToFileURL(path.resolve(specifier)).href
  }
  const bases = [path.join(process.cwd(), 'package.json')]
  if (process.argv[1]) bases.push(path.resolve(process.argv[1]))
  for (const base of bases) {
    try {
      return pathToFileURL(createRequire(base).resolve(specifier)).href
    } catch {
      // try the next base
    }
  }
  return specifier // let import() try from core's own location, and report if it fails
}

function notFound(kind: PluginKind, spec: string, specifier: string, cause?: unknown): ConfigError {
  const builtIns = builtInNames(kind).join(', ')
  const known = KNOWN_PACKAGES[kind].join(', ')
  const install = isPath(specifier)
    ? `no module at ${specifier}`
    : `install it with \`pnpm add ${specifier}\` (or npm install ${specifier})`
  const err = new ConfigError(
    `${envVar(kind)}=${spec}: no ${kind} plugin "${spec}" could be loaded: ${install}. ` +
      `Built-in ${kind} names: ${builtIns}; official plugins: ${known}; a package name or a path to a module also works.`,
  )
  if (cause) Object.defineProperty(err, 'cause', { value: cause })
  return err
}

/** Import a plugin module and return its validated definition. */
export async function importPlugin<K extends PluginKind>(
  kind: K,
  spec: string,
): Promise<PluginDefinition<K>> {
  const specifier = pluginSpecifier(kind, spec)
  let mod: { default?: unknown }
  try {
    mod = (await import(resolveModule(specifier))) as { default?: unknown }
  } catch (e) {
    const code = (e as { code?: string }).code
    if (
      code === 'ERR_MODULE_NOT_FOUND' ||
      code === 'MODULE_NOT_FOUND' ||
      code === 'ERR_UNSUPPORTED_DIR_IMPORT'
    ) {
      throw notFound(kind, spec, specifier, e)
    }
    throw new ConfigError(`${envVar(kind)}=${spec}: loading ${specifier} failed: ${(e as Error).message}`)
  }
  const def = mod.default
  if (!isPluginDefinition(def)) {
    throw new ConfigError(
      `${envVar(kind)}=${spec}: ${specifier} does not export a plugin: its default export must come from definePlugin({ kind, name, create })`,
    )
  }
  if (def.kind !== kind) {
    throw new ConfigError(
      `${envVar(kind)}=${spec}: ${specifier} is a ${def.kind} plugin, not a ${kind} plugin`,
    )
  }
  return def as PluginDefinition<K>
}

/** Create the `kind` component named `spec` (a built-in name, a plugin short name, a package name or a path). */
export async function loadPlugin<K extends PluginKind>(
  kind: K,
  spec: string,
  context: Partial<PluginContext> = {},
): Promise<PluginInstance[K]> {
  const ctx: PluginContext = { addresses: [], options: {}, logger: silentLogger, ...context }
  const builtIn = (BUILT_IN[kind] as Record<string, Factory<K>>)[spec]
  if (builtIn) return builtIn(ctx)
  const def = await importPlugin(kind, spec)
  return await def.create(ctx)
}
