export { filterEndpoint, filterLabel, filterMetadata, filterVersion } from './filters.js'
export { createSelector, RegistrySelector, SELECTOR_ERROR_ID, type SelectorOptions } from './selector.js'
export type * from './types.js'
