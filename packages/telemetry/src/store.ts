/**
 * The numbers behind the metrics, counted in plain objects on the request path and read by
 * prom-client's registry only when something scrapes. A prom-client metric hashes its label
 * values on every `inc()`/`observe()`; here one request costs two Map lookups and a few
 * additions (the measurements: README, "Why the counting is ours").
 */

/** Counts, sum and per-bucket counts of one label set of a histogram (and its counter). */
export interface Series {
  /** Label values, in the family's label order. */
  readonly labels: readonly string[]
  count: number
  sum: number
  /** Per-bucket counts, not cumulative; the last slot is past the largest bound (+Inf). */
  readonly buckets: Float64Array
}

/** One histogram (and the counter beside it) keyed by label values, bounded in size. */
export class SeriesTable {
  private readonly rows = new Map<string, Series>()

  constructor(
    readonly bounds: readonly number[],
    private readonly maxSeries: number,
  ) {}

  /** The series for `labels`, made on first use; undefined once the table is full. */
  series(key: string, labels: readonly string[]): Series | undefined {
    let s = this.rows.get(key)
    if (s) return s
    if (this.rows.size >= this.maxSeries) return undefined
    s = { labels, count: 0, sum: 0, buckets: new Float64Array(this.bounds.length + 1) }
    this.rows.set(key, s)
    return s
  }

  observe(s: Series, value: number): void {
    s.count++
    s.sum += value
    const b = this.bounds
    let i = 0
    while (i < b.length && value > b[i]) i++
    s.buckets[i]++
  }

  values(): IterableIterator<Series> {
    return this.rows.values()
  }
}

/** One label set of a gauge. */
export interface GaugeRow {
  readonly labels: readonly string[]
  value: number
}

/** A gauge keyed by label values (requests in flight). */
export class GaugeTable {
  private readonly rows = new Map<string, GaugeRow>()

  constructor(private readonly maxSeries: number) {}

  /** The row for `labels`, made (at 0) on first use; undefined once the table is full. */
  row(key: string, labels: readonly string[]): GaugeRow | undefined {
    let row = this.rows.get(key)
    if (row) return row
    if (this.rows.size >= this.maxSeries) return undefined
    row = { labels, value: 0 }
    this.rows.set(key, row)
    return row
  }

  values(): IterableIterator<GaugeRow> {
    return this.rows.values()
  }
}
