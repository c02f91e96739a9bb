/**
 * @micro-ts/core — the building blocks of Micro for TypeScript and their embedded defaults.
 * One folder per block; each folder's index.ts is its public surface.
 */
export * from './errors.js'
export * from './logger.js'
export * from './plugin.js'
export * from './registry/index.js'
export * from './broker/index.js'
export * from './transport/index.js'
export * from './store/index.js'
export * from './codec/index.js'
export * from './selector/index.js'
export * from './client/index.js'
export * from './server/index.js'
export { parseDuration } from './util/duration.js'
export { ConfigError, type ComponentSetting, type EnvSettings, readEnv } from './config.js'
export { builtInNames, importPlugin, loadPlugin, pluginSpecifier } from './plugins.js'
export { createService, type Service as MicroService, type ServiceOptions } from './service.js'
