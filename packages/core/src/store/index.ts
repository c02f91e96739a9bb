export { createMemoryStore, MemoryStore, type MemoryStoreOptions, STORE_ERROR_ID } from './memory.js'
export type * from './types.js'
