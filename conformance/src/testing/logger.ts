/** A Logger that keeps every line, for tests that check what a component logged. */
import type { Logger } from '@micro-ts/core'

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error'
  msg: string
  /** The line's object merged over its logger's bindings (`child({...})`). */
  fields: Record<string, unknown>
}

export interface RecordingLogger extends Logger {
  /** Every line written through this logger or its children, in order. */
  readonly lines: LogLine[]
  /** The messages alone. */
  messages(): string[]
  /** The lines at `level`. */
  at(level: LogLine['level']): LogLine[]
}

export function recordingLogger(
  lines: LogLine[] = [],
  bindings: Record<string, unknown> = {},
): RecordingLogger {
  const write =
    (level: LogLine['level']) =>
    (obj: object | string, msg?: string): void => {
      if (typeof obj === 'string') lines.push({ level, msg: obj, fields: { ...bindings } })
      else lines.push({ level, msg: msg ?? '', fields: { ...bindings, ...obj } })
    }
  return {
    lines,
    messages: () => lines.map((l) => l.msg),
    at: (level) => lines.filter((l) => l.level === level),
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (more) => recordingLogger(lines, { ...bindings, ...more }),
  }
}
