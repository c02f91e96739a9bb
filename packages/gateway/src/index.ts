/**
 * @micro-ts/gateway — HTTP+JSON into Micro for TypeScript and go-micro services, on go-micro
 * v5's routes. `createGateway({ registry, client })`, then `listen()` or mount `handler`.
 */
export { type CatalogChange, type CatalogOptions, createCatalog, ServiceCatalog } from './catalog.js'
export { type ContextOwner, RouteContext, type RouteResult } from './context.js'
export type { CorsOptions } from './cors.js'
export { GATEWAY_ERROR_ID, httpStatus, writeError } from './errors.js'
export {
  closeWithError,
  createGateway,
  defaultForwardHeader,
  Gateway,
  type GatewayOptions,
  type RouteHandler,
  type SocketHandler,
} from './gateway.js'
export { type RouteDefinition, type RouteMatch, type RouteMethod, RouteTable } from './routes.js'
export { type BuiltInRoutes, endpointName } from './rpc-routes.js'
export { describeValue, type JsonSchema, valueToJsonSchema } from './schema.js'
