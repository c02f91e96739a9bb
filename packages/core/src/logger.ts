import { pino } from 'pino'

/** The logging calls the framework makes; pino's logger satisfies it, and so can any other. */
export interface Logger {
  debug(obj: object | string, msg?: string): void
  info(obj: object | string, msg?: string): void
  warn(obj: object | string, msg?: string): void
  error(obj: object | string, msg?: string): void
  child(bindings: Record<string, unknown>): Logger
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

/** The default logger: pino (fast, structured JSON) on stderr at `level`. */
export function createLogger(level: LogLevel = 'info', name = 'micro'): Logger {
  return pino({ name, level }, pino.destination(2))
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
}
