export { filterEndpoint, filterLabel, filterMetadata, filterVersion } from './filters.js'
export type { EjectionOptions } from './health.js'
export {
  createSelector,
  RegistrySelector,
  SELECT_STRATEGIES,
  SELECTOR_ERROR_ID,
  type SelectorOptions,
} from './selector.js'
export type * from './types.js'
