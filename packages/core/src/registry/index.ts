export { type CacheOptions, type CacheStats, createRegistryCache, RegistryCache } from './cache.js'
export {
  createMdnsRegistry,
  decodeTxt as decodeMdnsTxt,
  encodeTxt as encodeMdnsTxt,
  MdnsRegistry,
  type MdnsRegistryOptions,
  type MdnsTxt,
} from './mdns/index.js'
export { createMemoryRegistry, MemoryRegistry, type MemoryRegistryOptions } from './memory.js'
export type * from './types.js'
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
} from './util.js'
