/**
 * Resolves a plugin name to an instance: plugins handed over in code first (a bundled service
 * cannot import by name), then the names built into core, then any other name N for kind K as
 * the package `@micro-ts/K-N`; a package name or a path is imported as is. A name that resolves
 * to nothing is an error naming the variable, the package to install and the accepted values.
 * Every plugin's options go through the one intake (`parseOptions`).
 */
import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { httpBrokerPlugin, memoryBrokerPlugin } from './broker/builtins.js'
import { ConfigError } from './config.js'
import { silentLogger } from './logger.js'
import {
  isPluginDefinition,
  type PluginContext,
  type PluginDefinition,
  type PluginInstance,
  type PluginKind,
} from './plugin/definition.js'
import { type OptionSpecs, parseOptions } from './plugin/options.js'
import { mdnsRegistryPlugin, memoryRegistryPlugin } from './registry/builtins.js'
import { memoryStorePlugin } from './store/builtins.js'
import { httpTransportPlugin, tcpTransportPlugin } from './transport/builtins.js'

/** A plugin definition of any kind and options, as lists of them hold. */
export type AnyPluginDefinition = PluginDefinition<PluginKind, OptionSpecs>

const BUILT_IN: readonly AnyPluginDefinition[] = [
  memoryRegistryPlugin,
  mdnsRegistryPlugin,
  httpBrokerPlugin,
  memoryBrokerPlugin,
  httpTransportPlugin,
  tcpTransportPlugin,
  memoryStorePlugin,
] as unknown as AnyPluginDefinition[]

/** Official plugin packages, listed in the error for an unknown name. */
const KNOWN_PACKAGES: Record<PluginKind, string[]> = {
  registry: ['consul', 'etcd', 'kubernetes'],
  broker: ['nats', 'rabbitmq'],
  transport: ['grpc'],
  store: ['postgres', 'mysql', 'redis'],
}

/** The definitions of core's built-ins of `kind` (their options and capabilities). */
export function builtInPlugins(kind?: PluginKind): AnyPluginDefinition[] {
  return BUILT_IN.filter((d) => kind === undefined || d.kind === kind)
}

export function builtInNames(kind: PluginKind): string[] {
  return builtInPlugins(kind).map((d) => d.name)
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
      `Built-in ${kind} names: ${builtIns}; official plugins: ${known}; a package name or a path to a module also works; ` +
      'a bundled service hands its plugins over with createService({ plugins: [...] }).',
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

/** What the loader needs besides the name: addresses, options and the service's environment. */
export interface LoadContext {
  addresses?: string[]
  /** Options from code (or a runner's `--options`); they win over the environment. */
  options?: Record<string, unknown>
  /** Options that apply only if the plugin declares them (`poolSize` from `MICRO_CLIENT_POOL_SIZE`). */
  sharedOptions?: Record<string, unknown>
  /** Where the plugin's variables are read (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>
  logger?: PluginContext['logger']
  registry?: PluginContext['registry']
  database?: string
  table?: string
  /** Plugins handed over in code; a name matches their `name` or their package name. */
  plugins?: readonly AnyPluginDefinition[]
}

/** The definition `spec` names: handed over, built in, or imported. */
export async function resolvePlugin<K extends PluginKind>(
  kind: K,
  spec: string,
  plugins: readonly AnyPluginDefinition[] = [],
): Promise<PluginDefinition<K, OptionSpecs>> {
  const handed = plugins.find(
    (p) => p.kind === kind && (p.name === spec || pluginSpecifier(kind, p.name) === spec),
  )
  if (handed) return handed as unknown as PluginDefinition<K, OptionSpecs>
  const builtIn = BUILT_IN.find((d) => d.kind === kind && d.name === spec)
  if (builtIn) return builtIn as unknown as PluginDefinition<K, OptionSpecs>
  return (await importPlugin(kind, spec)) as unknown as PluginDefinition<K, OptionSpecs>
}

/** Run `definition.create` with its options checked (code, then environment, then defaults). */
export async function createPlugin<K extends PluginKind>(
  definition: PluginDefinition<K, OptionSpecs>,
  context: LoadContext = {},
): Promise<PluginInstance[K]> {
  const env = context.env ?? process.env
  const options = parseOptions(definition.options ?? {}, context.options, {
    kind: definition.kind,
    name: definition.name,
    env,
    shared: context.sharedOptions,
  })
  const ctx: PluginContext<OptionSpecs> = {
    addresses: context.addresses ?? [],
    options,
    env,
    logger: context.logger ?? silentLogger,
    registry: context.registry,
    database: context.database,
    table: context.table,
  }
  return await definition.create(ctx)
}

/** Create the `kind` component named `spec` (a built-in name, a plugin short name, a package name or a path). */
export async function loadPlugin<K extends PluginKind>(
  kind: K,
  spec: string,
  context: LoadContext = {},
): Promise<PluginInstance[K]> {
  return createPlugin(await resolvePlugin(kind, spec, context.plugins), context)
}
