export { STORE_ERROR_ID } from './checks.js'
export { createMemoryStore, MemoryStore, type MemoryStoreOptions } from './memory.js'
export type * from './types.js'
