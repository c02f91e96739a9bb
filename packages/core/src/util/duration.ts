/**
 * Parse a Go-style duration (`300ms`, `1.5s`, `2m`, `1h30m`) into milliseconds.
 * `bareUnit` says what a unitless number means (go-micro's TTL/interval flags are plain seconds);
 * without it a unitless non-zero number is rejected, as Go's time.ParseDuration does.
 */
const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
}

export function parseDuration(text: string, bareUnit?: 's' | 'ms'): number {
  const s = text.trim()
  if (/^\d+(\.\d+)?$/.test(s)) {
    const n = Number(s)
    if (n === 0) return 0
    if (!bareUnit) throw new Error(`invalid duration "${text}": missing unit (e.g. 5s, 300ms)`)
    return bareUnit === 's' ? n * 1000 : n
  }
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y
  let total = 0
  let pos = 0
  while (pos < s.length) {
    re.lastIndex = pos
    const m = re.exec(s)
    if (!m) throw new Error(`invalid duration "${text}" (expected e.g. 5s, 300ms, 1m30s)`)
    total += Number(m[1]) * UNITS[m[2]]
    pos = re.lastIndex
  }
  if (s.length === 0) throw new Error('invalid duration "" (expected e.g. 5s, 300ms)')
  return total
}
