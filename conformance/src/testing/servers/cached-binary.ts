/**
 * Where a test finds a server binary that scripts/servers/<name>.sh builds from the Go module
 * proxy into the cache outside the clone (Jaeger, Prometheus): the script knows the cache key,
 * so it is asked rather than the key computed twice.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * The binary's path, or undefined when none is found. Looked for in order: `given`, the
 * variable `MICRO_<NAME>_BIN`, `bash scripts/servers/<name>.sh path` in this checkout (the
 * script exits 1 while nothing is built), and `<name>` on PATH.
 */
export function cachedBinary(name: string, given?: string): string | undefined {
  if (given) return given
  const fromEnv = process.env[`MICRO_${name.toUpperCase()}_BIN`]?.trim()
  if (fromEnv) return fromEnv
  // src/testing/servers and dist/testing/servers both sit four levels below the repository root.
  const script = fileURLToPath(new URL(`../../../../scripts/servers/${name}.sh`, import.meta.url))
  if (existsSync(script)) {
    try {
      const path = execFileSync('bash', [script, 'path'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 30_000,
      }).trim()
      if (path && existsSync(path)) return path
    } catch {
      // not built yet: fall through to PATH
    }
  }
  try {
    return execFileSync('bash', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

/** What to tell someone whose checkout has no such binary yet. */
export function buildHint(name: string): string {
  return `no ${name} binary: build it once with \`bash scripts/servers/${name}.sh build\` (or set MICRO_${name.toUpperCase()}_BIN)`
}
