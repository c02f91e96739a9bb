/**
 * prom-client registry entries that read the counts in store.ts at scrape time. The registry
 * renders them like its own metrics (text format or OpenMetrics, default labels, merged
 * registries) and reads them through the same `get()` its own metric classes answer.
 */
import type { Metric, Registry } from 'prom-client'
import type { GaugeTable, SeriesTable } from './store.js'

type MetricType = 'counter' | 'gauge' | 'histogram'

interface Sample {
  value: number
  labels: Record<string, string | number>
  metricName?: string
}

/** What prom-client's registry reads from a metric (the shape its own classes have). */
class Collector {
  readonly aggregator = 'sum'

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    private readonly samples: () => Sample[],
  ) {}

  async get(): Promise<{
    name: string
    help: string
    type: MetricType
    aggregator: string
    values: Sample[]
  }> {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: this.samples(),
    }
  }

  /** The registry's resetMetrics(): the counts belong to the recorder, not to the registry. */
  reset(): void {}
}

function register(registry: Registry, collector: Collector): void {
  // prom-client's types list its own four classes; its registry reads any object of their shape.
  registry.registerMetric(collector as unknown as Metric)
}

function labelsOf(names: readonly string[], values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i < names.length; i++) out[names[i]] = values[i]
  return out
}

/** A counter (`<name>`) of a table's series: their counts. */
export function counterOf(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
  table: SeriesTable,
): void {
  register(
    registry,
    new Collector(name, help, 'counter', () =>
      [...table.values()].map((s) => ({ value: s.count, labels: labelsOf(labelNames, s.labels) })),
    ),
  )
}

/** A histogram (`<name>_bucket`, `_sum`, `_count`) of a table's series. */
export function histogramOf(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
  table: SeriesTable,
): void {
  register(
    registry,
    new Collector(name, help, 'histogram', () => {
      const out: Sample[] = []
      for (const s of table.values()) {
        const labels = labelsOf(labelNames, s.labels)
        let cumulative = 0
        table.bounds.forEach((le, i) => {
          cumulative += s.buckets[i]
          out.push({ value: cumulative, labels: { ...labels, le }, metricName: `${name}_bucket` })
        })
        out.push({ value: s.count, labels: { ...labels, le: '+Inf' }, metricName: `${name}_bucket` })
        out.push({ value: s.sum, labels, metricName: `${name}_sum` })
        out.push({ value: s.count, labels, metricName: `${name}_count` })
      }
      return out
    }),
  )
}

/** A gauge of a table's rows. */
export function gaugeOf(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
  table: GaugeTable,
): void {
  register(
    registry,
    new Collector(name, help, 'gauge', () =>
      [...table.values()].map((r) => ({ value: r.value, labels: labelsOf(labelNames, r.labels) })),
    ),
  )
}

/** A label-less metric whose one value is read at scrape time (undefined: no sample). */
export function scalarOf(
  registry: Registry,
  name: string,
  help: string,
  type: 'counter' | 'gauge',
  read: () => number | undefined,
): void {
  register(
    registry,
    new Collector(name, help, type, () => {
      const value = read()
      return value === undefined ? [] : [{ value, labels: {} }]
    }),
  )
}
