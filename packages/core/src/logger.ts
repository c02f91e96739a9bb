import { createRequire } from 'node:module'
import { type DestinationStream, pino } from 'pino'
import { traceFields } from './telemetry.js'

/** The logging calls the framework makes; pino's logger satisfies it, and so can any other. */
export interface Logger {
  debug(obj: object | string, msg?: string): void
  info(obj: object | string, msg?: string): void
  warn(obj: object | string, msg?: string): void
  error(obj: object | string, msg?: string): void
  child(bindings: Record<string, unknown>): Logger
  /** Optional: lets hot paths skip building a line nobody will see (pino has it). */
  isLevelEnabled?(level: LogLevel): boolean
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

/** `json`: one JSON object per line (for collectors); `pretty`: for people at a terminal. */
export type LogFormat = 'json' | 'pretty'

export interface LoggerOptions {
  /** Default: `pretty` when the destination is a terminal, `json` otherwise (`MICRO_LOG_FORMAT`). */
  format?: LogFormat
  /** Where the lines go (default stderr). */
  destination?: NodeJS.WritableStream
}

type PrettyFactory = (options: {
  destination?: number | NodeJS.WritableStream
  sync?: boolean
  colorize?: boolean
}) => DestinationStream

/**
 * pino-pretty, loaded only when a terminal will read the logs: services in containers never pay
 * for it. Undefined when it cannot be found (a bundle that left it out): JSON then.
 */
function prettyStream(): PrettyFactory | undefined {
  try {
    const mod: unknown = createRequire(import.meta.url)('pino-pretty')
    if (typeof mod === 'function') return mod as PrettyFactory
    return (mod as { default?: PrettyFactory } | undefined)?.default
  } catch {
    return undefined
  }
}

/**
 * The default logger: pino (fast, structured) on stderr at `level`, each line carrying `name`
 * (the service's name when createService makes it). Errors logged under `err` keep their stack.
 * A line written inside a span (a handler, a call, a subscriber, when an OpenTelemetry SDK is
 * registered) also carries `trace_id`, `span_id` and `trace_flags`.
 */
export function createLogger(level: LogLevel = 'info', name = 'micro', options: LoggerOptions = {}): Logger {
  const out = options.destination
  const tty = out ? (out as { isTTY?: boolean }).isTTY === true : process.stderr.isTTY === true
  if ((options.format ?? (tty ? 'pretty' : 'json')) === 'pretty') {
    const pretty = prettyStream()
    if (pretty)
      return pino(
        { name, level, mixin: traceFields },
        pretty({ destination: out ?? 2, sync: true, colorize: tty }),
      )
  }
  return pino({ name, level, mixin: traceFields }, out ?? pino.destination(2))
}

/** A logger that drops everything (tests, libraries). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger
  },
  isLevelEnabled() {
    return false
  },
}
