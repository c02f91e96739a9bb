export type * from './types.js'
export { advertiseAddress, RpcServer, type RpcServerOptions, type ServerState } from './rpc.js'
export type { HealthCheck, HealthCheckResult, HealthReport } from './health.js'
