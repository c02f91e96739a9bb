/** Services on loopback for the telemetry tests: memory registry and broker, a transport by name. */
import { Writable } from 'node:stream'
import {
  type Broker,
  createLogger,
  createMemoryBroker,
  createService,
  type Logger,
  loadPlugin,
  type MicroService,
  type Registry,
  type ServiceOptions,
  silentLogger,
} from '@micro-ts/core'

/** The transports every telemetry behaviour is checked on. */
export const TRANSPORTS = ['http', 'tcp', 'grpc'] as const
export type TransportName = (typeof TRANSPORTS)[number]

/**
 * A started service on 127.0.0.1 over `transport`; stop it with `stop()`. `before` runs between
 * creation and start (subscribers go there: start connects the broker and subscribes them).
 */
export async function startService(
  transport: TransportName,
  registry: Registry,
  options: ServiceOptions & { broker?: Broker } = {},
  before?: (service: MicroService) => void,
): Promise<MicroService> {
  const service = await createService({
    address: '127.0.0.1:0',
    healthAddress: transport === 'http' ? undefined : '127.0.0.1:0',
    registry,
    broker: options.broker ?? createMemoryBroker(),
    transport: await loadPlugin('transport', transport, { logger: silentLogger }),
    logger: silentLogger,
    env: { MICRO_STORE: 'memory' },
    ...options,
  })
  before?.(service)
  await service.start()
  return service
}

/** Where a service answers plain HTTP GETs (`/health`, `/metrics`): its own port over http, else its health listener. */
export function httpAddress(service: MicroService): string {
  return service.server.healthAddress || service.server.address
}

/** A pino logger from core's createLogger() whose JSON lines land in `lines`. */
export function capturedLogger(name: string): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  let buffered = ''
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      buffered += chunk.toString()
      let i = buffered.indexOf('\n')
      while (i >= 0) {
        lines.push(JSON.parse(buffered.slice(0, i)) as Record<string, unknown>)
        buffered = buffered.slice(i + 1)
        i = buffered.indexOf('\n')
      }
      done()
    },
  })
  return { logger: createLogger('debug', name, { format: 'json', destination }), lines }
}

/** One sample of Prometheus' text format. */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Prometheus' text exposition format, the samples only (HELP/TYPE lines skipped). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line)
    if (!m) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
    }
    out.push({ name: m[1], labels, value: Number(m[3]) })
  }
  return out
}

/** The value of the one sample named `name` whose labels include `labels`, or undefined. */
export function sampleValue(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const hits = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )
  if (hits.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${hits.length} samples`)
  return hits[0]?.value
}

/** GET http://<address><path>: status, content type and body. */
export async function get(
  address: string,
  path: string,
): Promise<{ status: number; type: string; body: string }> {
  const rsp = await fetch(`http://${address}${path}`, { signal: AbortSignal.timeout(5000) })
  return { status: rsp.status, type: rsp.headers.get('content-type') ?? '', body: await rsp.text() }
}
