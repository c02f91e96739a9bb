/**
 * What the commands print: tables for people, JSON with `--json` for scripts, and on failure
 * go-micro's error JSON `{id, code, detail, status}` on stderr with a non-zero exit status.
 */
import { MicroError } from '@micro-ts/core'

export const CLI_ERROR_ID = 'go.micro.cli'

/** Where the commands write: stdout and stderr, replaceable for embedding. */
export interface Output {
  out(text: string): void
  err(text: string): void
}

export const stdio: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
}

/** A plain-text table: a header row, then rows, columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd()
  return `${[line(header), ...rows.map(line)].join('\n')}\n`
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`
}

/** A failure as go-micro's error JSON (the detail of anything that is not a MicroError). */
export function errorJson(err: unknown, code = 500): string {
  const e =
    err instanceof MicroError
      ? err
      : new MicroError(CLI_ERROR_ID, code, err instanceof Error ? err.message : String(err))
  return `${JSON.stringify(e.toJSON())}\n`
}

/** A usage mistake: a 400 from the CLI. */
export function usage(detail: string): MicroError {
  return new MicroError(CLI_ERROR_ID, 400, detail)
}
