/**
 * A private Prometheus server (the one scripts/servers/prometheus.sh builds) on a free loopback
 * port, scraping the `host:port` targets a test gives it every `scrapeInterval`, queried with
 * PromQL over its HTTP API. Targets live in a file_sd file, so `setTargets()` changes them
 * while it runs (services started after Prometheus).
 */
import { renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { type LaunchSpec, PrivateServer, type PrivateServerOptions } from '../server.js'
import { buildHint, cachedBinary } from './cached-binary.js'

export interface PrometheusServerOptions extends PrivateServerOptions {
  /** The prometheus binary (default: see cachedBinary: MICRO_PROMETHEUS_BIN, the script's cache, PATH). */
  binary?: string
  /** `host:port` targets scraped at `/metrics` from the start (more with setTargets). */
  targets?: readonly string[]
  /** Prometheus duration between scrapes and rule evaluations (default `1s`). */
  scrapeInterval?: string
}

/** One sample of a PromQL instant vector. */
export interface PromSample {
  metric: Record<string, string>
  /** The value (Prometheus sends it as text: `NaN` and `+Inf` included). */
  value: number
}

/** One scrape target as `/api/v1/targets` reports it. */
export interface PromTarget {
  scrapeUrl: string
  health: 'up' | 'down' | 'unknown'
  lastError: string
  labels: Record<string, string>
}

export class PrometheusServer extends PrivateServer {
  readonly name = 'prometheus'

  constructor(private readonly options: PrometheusServerOptions = {}) {
    super(options)
  }

  /** Start one; stop it with `stop()` (or `await using`). */
  static start(options: PrometheusServerOptions = {}): Promise<PrometheusServer> {
    return new PrometheusServer(options).start()
  }

  static binary(given?: string): string | undefined {
    return cachedBinary('prometheus', given)
  }

  /** Why no Prometheus can start here, or undefined when one can. */
  static missing(given?: string): string | undefined {
    return PrometheusServer.binary(given) ? undefined : buildHint('prometheus')
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://${this.address}`
  }

  /** Scrape exactly these `host:port` targets from now on (`labels` go on every series). */
  setTargets(targets: readonly string[], labels: Record<string, string> = {}): void {
    const file = path.join(this.dir, 'targets.json')
    // Written aside, then renamed: Prometheus watches the file and must never read half of it.
    writeFileSync(`${file}.tmp`, JSON.stringify([{ targets, labels }]))
    renameSync(`${file}.tmp`, file)
  }

  /** The targets and their health, from `/api/v1/targets`. */
  async targets(): Promise<PromTarget[]> {
    const data = await this.api<{ activeTargets: PromTarget[] }>('/api/v1/targets?state=active')
    return data.activeTargets
  }

  /** A PromQL instant query (`time`: epoch seconds, default now). */
  async query(promql: string, time?: number): Promise<PromSample[]> {
    const q = new URLSearchParams({ query: promql })
    if (time !== undefined) q.set('time', String(time))
    const data = await this.api<{
      resultType: string
      result: { metric: Record<string, string>; value: [number, string] }[]
    }>(`/api/v1/query?${q}`)
    if (data.resultType !== 'vector')
      throw new Error(`prometheus: ${promql} gave a ${data.resultType}, not an instant vector`)
    return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }))
  }

  protected override async prepare(): Promise<void> {
    this.setTargets(this.options.targets ?? [])
  }

  protected launch(): LaunchSpec {
    const binary = PrometheusServer.binary(this.options.binary)
    if (!binary) throw new Error(buildHint('prometheus'))
    const every = this.options.scrapeInterval ?? '1s'
    const config = `global:
  scrape_interval: ${every}
  scrape_timeout: ${every}
  evaluation_interval: ${every}
scrape_configs:
  - job_name: micro
    file_sd_configs:
      - files: ['${path.join(this.dir, 'targets.json')}']
        refresh_interval: 1s
`
    const file = path.join(this.dir, 'prometheus.yml')
    writeFileSync(file, config)
    return {
      command: binary,
      args: [
        `--config.file=${file}`,
        `--storage.tsdb.path=${path.join(this.dir, 'data')}`,
        `--web.listen-address=${this.address}`,
        '--log.level=warn',
      ],
    }
  }

  protected async ready(): Promise<boolean> {
    const rsp = await fetch(`${this.url}/-/ready`, { signal: AbortSignal.timeout(1000) })
    return rsp.ok
  }

  private async api<T>(pathAndQuery: string): Promise<T> {
    const rsp = await fetch(`${this.url}${pathAndQuery}`, { signal: AbortSignal.timeout(10_000) })
    const body = (await rsp.json()) as { status: string; data: T; error?: string }
    if (!rsp.ok || body.status !== 'success')
      throw new Error(`prometheus: GET ${pathAndQuery}: ${rsp.status} ${body.error ?? ''}`)
    return body.data
  }
}
