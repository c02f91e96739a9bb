/**
 * @micro-ts/dashboard — the web dashboard of Micro for TypeScript, mounted into
 * `@micro-ts/gateway`: `mountDashboard(gateway)`, then open `/dashboard/`.
 */
export { CONTENT_SECURITY_POLICY } from './assets.js'
export { DASHBOARD_ERROR_ID, type Dashboard, type DashboardOptions, mountDashboard } from './dashboard.js'
export type { HealthProbeOptions, NodeHealth, NodeHealthStatus } from './health.js'
export {
  type EndpointKind,
  type EndpointView,
  type ServiceView,
  serviceView,
  type VersionView,
} from './view.js'
