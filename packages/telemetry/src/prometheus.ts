/**
 * `prometheusMetrics()`: the MetricsRecorder a service takes as `telemetry.metrics`, rendered by
 * a prom-client Registry at the service's `GET /metrics`. Server metrics keep go-micro's
 * Prometheus wrapper names and labels (`micro_request_total`, `micro_request_duration_seconds`
 * by service, endpoint, status = success|fail), so dashboards written for go-micro services read
 * ours; the other families are named alike.
 */
import type { MetricsRecorder, MetricsSubject, ScrapeResult } from '@micro-ts/core/telemetry'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { counterOf, gaugeOf, histogramOf, scalarOf } from './collectors.js'
import { type GaugeRow, GaugeTable, type Series, SeriesTable } from './store.js'

/** Latency buckets, seconds: Prometheus' defaults (go-micro's) with three below 5 ms, where our calls are. */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]

export interface PrometheusMetricsOptions {
  /**
   * The prefix of every name (go-micro's `ServiceName` option; default `micro`):
   * `<prefix>_request_total`.
   */
  prefix?: string
  /** Histogram upper bounds in seconds, ascending (default DEFAULT_BUCKETS). */
  buckets?: readonly number[]
  /**
   * The prom-client Registry to add the metrics to (default a new one of their own). Give
   * prom-client's global `register` to serve your own metrics beside them at `/metrics`.
   */
  registry?: Registry
  /**
   * prom-client's default process and Node.js metrics (`process_cpu_seconds_total`,
   * `nodejs_eventloop_lag_seconds`, ...). Default true for a registry of their own, false for
   * one given (which may collect them already).
   */
  defaultMetrics?: boolean
  /** Labels put on every series (go-micro's `ConstLabels`), e.g. `{ region: 'eu' }`. */
  labels?: Record<string, string>
  /**
   * Most label sets per family (default 10 000); past it new ones are not counted, so a caller
   * sending endless topic or endpoint names cannot grow the process without bound.
   */
  maxSeries?: number
}

/** The recorder, with its registry for anyone who wants to add metrics of their own. */
export interface PrometheusMetrics extends MetricsRecorder {
  readonly registry: Registry
}

const REQUEST_LABELS = ['service', 'endpoint', 'status', 'code'] as const
const FLIGHT_LABELS = ['service', 'endpoint'] as const
const PUBLISH_LABELS = ['topic', 'status', 'code'] as const
const DELIVERY_LABELS = ['topic', 'queue', 'status', 'code'] as const

/** go-micro's status label: the request succeeded or not. */
function status(code: number): string {
  return code === 200 ? 'success' : 'fail'
}

/**
 * One (service, endpoint) of a request family, looked up once: its in-flight row and its series
 * by code, so a request costs two Map lookups by the names it has, no key strings or label arrays.
 */
interface Bound {
  readonly flight: GaugeRow
  readonly byCode: Map<number, Series>
}

/** A request side (server or client): the counter, the histogram and the in-flight gauge. */
class RequestFamily {
  readonly done: SeriesTable
  readonly flight: GaugeTable
  /** service → endpoint → Bound; no larger than the in-flight table, which maxSeries bounds. */
  private readonly bound = new Map<string, Map<string, Bound>>()

  constructor(buckets: readonly number[], maxSeries: number) {
    this.done = new SeriesTable(buckets, maxSeries)
    this.flight = new GaugeTable(maxSeries)
  }

  /** The binding of (service, endpoint); undefined once the in-flight table is full. */
  private bind(service: string, endpoint: string): Bound | undefined {
    let endpoints = this.bound.get(service)
    const known = endpoints?.get(endpoint)
    if (known) return known
    const flight = this.flight.row(`${service}\u0000${endpoint}`, [service, endpoint])
    if (!flight) return undefined
    const bound: Bound = { flight, byCode: new Map() }
    if (!endpoints) {
      endpoints = new Map()
      this.bound.set(service, endpoints)
    }
    endpoints.set(endpoint, bound)
    return bound
  }

  started(service: string, endpoint: string): void {
    const bound = this.bind(service, endpoint)
    if (bound) bound.flight.value++
  }

  finished(service: string, endpoint: string, code: number, seconds: number): void {
    const bound = this.bind(service, endpoint)
    if (bound) bound.flight.value--
    let s = bound?.byCode.get(code)
    if (!s) {
      s = this.done.series(`${service}\u0000${endpoint}\u0000${code}`, [
        service,
        endpoint,
        status(code),
        String(code),
      ])
      if (!s) return
      bound?.byCode.set(code, s)
    }
    this.done.observe(s, seconds)
  }

  register(registry: Registry, name: string, what: string): void {
    counterOf(
      registry,
      `${name}_total`,
      `How many ${what} finished, by service, endpoint, status (success or fail) and MicroError code.`,
      REQUEST_LABELS,
      this.done,
    )
    histogramOf(
      registry,
      `${name}_duration_seconds`,
      `How long ${what} took, in seconds, by service, endpoint, status and code.`,
      REQUEST_LABELS,
      this.done,
    )
    gaugeOf(
      registry,
      `${name}_in_flight`,
      `${what} started and not yet finished, by service and endpoint.`,
      FLIGHT_LABELS,
      this.flight,
    )
  }
}

/** Prometheus metrics for one service (see the README for every name). */
export function prometheusMetrics(options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  const prefix = options.prefix ?? 'micro'
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix))
    throw new TypeError(
      `prometheusMetrics: prefix must be a Prometheus metric name, got ${JSON.stringify(prefix)}`,
    )
  const buckets = [...(options.buckets ?? DEFAULT_BUCKETS)]
  if (buckets.length === 0 || buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1])))
    throw new TypeError('prometheusMetrics: buckets must be finite numbers in ascending order')
  const maxSeries = options.maxSeries ?? 10_000
  const registry = options.registry ?? new Registry()
  if (options.labels) registry.setDefaultLabels(options.labels)
  if (options.defaultMetrics ?? !options.registry) collectDefaultMetrics({ register: registry })

  const server = new RequestFamily(buckets, maxSeries)
  const client = new RequestFamily(buckets, maxSeries)
  const publishes = new SeriesTable(buckets, maxSeries)
  const deliveries = new SeriesTable(buckets, maxSeries)
  let subject: MetricsSubject | undefined

  server.register(registry, `${prefix}_request`, 'requests this service served')
  client.register(registry, `${prefix}_client_request`, 'calls this service made')
  counterOf(
    registry,
    `${prefix}_broker_publish_total`,
    'Messages published, by topic, status and code.',
    PUBLISH_LABELS,
    publishes,
  )
  histogramOf(
    registry,
    `${prefix}_broker_publish_duration_seconds`,
    'How long a publish took, in seconds, by topic, status and code.',
    PUBLISH_LABELS,
    publishes,
  )
  counterOf(
    registry,
    `${prefix}_broker_delivery_total`,
    "Messages this service's subscribers handled, by topic, queue, status and code.",
    DELIVERY_LABELS,
    deliveries,
  )
  histogramOf(
    registry,
    `${prefix}_broker_delivery_duration_seconds`,
    'How long a subscriber took over a message, in seconds, by topic, queue, status and code.',
    DELIVERY_LABELS,
    deliveries,
  )
  const cache = () => subject?.cacheStats?.()
  scalarOf(
    registry,
    `${prefix}_registry_cache_services`,
    'Services in the selector’s registry cache.',
    'gauge',
    () => cache()?.services,
  )
  scalarOf(
    registry,
    `${prefix}_registry_cache_nodes`,
    'Nodes of the services in the registry cache.',
    'gauge',
    () => cache()?.nodes,
  )
  scalarOf(
    registry,
    `${prefix}_registry_watch_restarts_total`,
    'Times the registry cache restarted its watch after it ended or failed.',
    'counter',
    () => cache()?.watchRestarts,
  )

  const seriesKey = (a: string, b: string, code: number) => `${a}\u0000${b}\u0000${code}`
  return {
    registry,
    serverStarted: (service, endpoint) => server.started(service, endpoint),
    serverFinished: (service, endpoint, code, seconds) => server.finished(service, endpoint, code, seconds),
    clientStarted: (service, endpoint) => client.started(service, endpoint),
    clientFinished: (service, endpoint, code, seconds) => client.finished(service, endpoint, code, seconds),
    published(topic, code, seconds) {
      const s = publishes.series(seriesKey(topic, '', code), [topic, status(code), String(code)])
      if (s) publishes.observe(s, seconds)
    },
    delivered(topic, queue, code, seconds) {
      const s = deliveries.series(seriesKey(topic, queue, code), [topic, queue, status(code), String(code)])
      if (s) deliveries.observe(s, seconds)
    },
    bind(service) {
      subject = service
    },
    async scrape(): Promise<ScrapeResult> {
      return { contentType: registry.contentType, body: await registry.metrics() }
    },
  }
}
