export { isStandardSchema } from './handler.js'
export type { HealthCheck, HealthCheckResult, HealthReport } from './health.js'
export { RpcServer, type RpcServerOptions, type ServerState } from './rpc.js'
export type * from './types.js'
