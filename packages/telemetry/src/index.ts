/**
 * @micro-ts/telemetry — Prometheus metrics for Micro for TypeScript services (prom-client, go-micro's
 * wrapper names), and `startTracing()` (in `@micro-ts/telemetry/tracing`) for services that want
 * an OpenTelemetry SDK registered in one call.
 */
export {
  DEFAULT_BUCKETS,
  type PrometheusMetrics,
  type PrometheusMetricsOptions,
  prometheusMetrics,
} from './prometheus.js'
