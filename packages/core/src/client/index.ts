export { RetryBudget, type RetryBudgetOptions } from './budget.js'
export { defaultBackoff, isDrainingError, RpcClient, type RpcClientOptions } from './rpc.js'
export type * from './types.js'
