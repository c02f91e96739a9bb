/** Shared bits of the TypeScript interop programs: JSON lines on stdout, exit codes as the Go programs use them. */
import { MicroError } from '@micro-ts/core'

/** One JSON line on stdout (the tests read stdout line by line). */
export function printJSON(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}

/** Usage error: message on stderr, exit 2 (as the Go programs). */
export function usage(message: string): never {
  process.stderr.write(`${message}\n`)
  process.exit(2)
}

/** The go-micro error JSON of anything thrown, what `errors.FromError` prints on the Go side. */
export function errorJSON(err: unknown): unknown {
  return MicroError.from(err, 'interop.ts').toJSON()
}

/** Resolve on SIGTERM/SIGINT. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'))
    process.once('SIGINT', () => resolve('SIGINT'))
  })
}
