/**
 * @micro-ts/core — the building blocks of Micro for TypeScript and their embedded defaults.
 * One folder per block; each folder's index.ts is its public surface.
 */

export * from './broker/index.js'
export * from './client/index.js'
export * from './codec/index.js'
export { type ComponentSetting, ConfigError, type EnvSettings, readEnv } from './config.js'
export * from './errors.js'
export {
  type AnyPluginDefinition,
  builtInNames,
  builtInPlugins,
  importPlugin,
  type LoadContext,
  loadPlugin,
  pluginSpecifier,
} from './loader.js'
export * from './logger.js'
export {
  definePlugin,
  isPluginDefinition,
  PLUGIN_KINDS,
  type PluginContext,
  type PluginDefinition,
  type PluginInstance,
  type PluginKind,
} from './plugin/definition.js'
export { type OptionSpec, type OptionSpecs, type OptionValues, option } from './plugin/options.js'
export * from './registry/index.js'
export * from './selector/index.js'
export * from './server/index.js'
export { createService, type Service as MicroService, type ServiceOptions } from './service.js'
export * from './store/index.js'
export * from './telemetry.js'
export * from './transport/index.js'
export { LazyAbort } from './util/abort.js'
export { parseDuration } from './util/duration.js'
