export type * from './types.js'
export { defaultBackoff, isDrainingError, RpcClient, type RpcClientOptions } from './rpc.js'
