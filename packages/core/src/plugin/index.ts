/**
 * `@micro-ts/core/plugin` — the plugin kit: what every registry, broker, store and transport
 * package builds on, so none re-derives it. Definitions and options declared once, errors per
 * kind, one back-off, addresses and URLs, TLS material, deadlines, and the input checks and wire
 * helpers of each kind. See README.md beside this file.
 */

// Brokers
export {
  decodeBase64,
  decodeBrokerEnvelope,
  encodeBrokerEnvelope,
  parseBrokerEnvelope,
} from '../broker/envelope.js'
export {
  BROKER_ERROR_ID,
  checkHandler,
  checkMessage,
  checkSignal,
  checkTopic,
  copyMessage,
  simpleEvent,
  TOPIC_HEADER,
} from '../broker/message.js'
export {
  type AnyPluginDefinition,
  builtInPlugins,
  createPlugin,
  type LoadContext,
  resolvePlugin,
} from '../loader.js'
// Registries
export { decodeEndpoint, decodeServiceJson, decodeStringMap, encodeServiceJson } from '../registry/json.js'
export {
  copyEndpoint,
  copyNode,
  copyService,
  copyServices,
  copyValue,
  isNotFound,
  mergeServices,
  REGISTRY_ERROR_ID,
  removeNodes,
  serviceNotFound,
  upsertNodes,
  validateService,
  WatchQueue,
  type WatchQueueOptions,
} from '../registry/util.js'
// Stores
export {
  boundedIdentifier,
  checkCount,
  checkKey,
  checkName,
  checkRecord,
  type Expiry,
  encodeMetadata,
  type KeyRules,
  resolveExpiry,
  STORE_ERROR_ID,
  type StoreContext,
  storeOptionsFrom,
} from '../store/checks.js'
export { abortReason, deadlineSignal, LazyAbort } from '../util/abort.js'
// Addresses and URLs
export {
  advertiseAddress,
  advertiseHost,
  dialTarget,
  formatAddress,
  type HostPort,
  isDialable,
  parseAddress,
  parseUrl,
  redact,
  splitAddresses,
  type UrlOptions,
} from '../util/address.js'
// Timing: back-off, sleeps, long timers, deadlines and cancellation
export { type Backoff, type BackoffOptions, backoff } from '../util/backoff.js'
// Bytes: a value a caller owns, copied out of a driver's reply
export { ownedBytes } from '../util/bytes.js'
export { parseDuration } from '../util/duration.js'
export {
  formatTimeoutHeader,
  getHeader,
  lowerCaseHeaders,
  parseTimeoutHeader,
  TIMEOUT_HEADER,
} from '../util/headers.js'
export { KeyedLock } from '../util/keyed-lock.js'
export {
  atDeadline,
  DeadlineSet,
  DeadlineTimer,
  deadlines,
  type Expiring,
  type LongTimer,
  MAX_TIMER_MS,
  setLongTimeout,
  sleep,
} from '../util/time.js'
// Defining a plugin and its options
export {
  capabilitiesOf,
  definePlugin,
  isPluginDefinition,
  PLUGIN_KINDS,
  type PluginContext,
  type PluginDefinition,
  type PluginInstance,
  type PluginKind,
} from './definition.js'
export { ERROR_IDS, errorIdOf, type KindErrors, pluginErrors } from './errors.js'
export {
  nestOptions,
  type OptionInput,
  type OptionOwner,
  type OptionSpec,
  type OptionSpecs,
  type OptionsOf,
  type OptionType,
  type OptionValues,
  option,
  optionEnvName,
  optionEnvNames,
  optionsTable,
  type ParseOptionsContext,
  parseOptions,
} from './options.js'
export { readTls, type TlsInput, type TlsMaterial, type TlsOptionValues, tlsOptions } from './tls.js'
