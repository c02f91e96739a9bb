/**
 * Values to try against one option declaration: a bad value (from code, and as environment
 * text where text can be wrong) and good values as environment text with what they coerce to.
 */
import type { OptionSpec } from '@micro-ts/core'

export interface Bad {
  /** What the case passes. */
  value: unknown
  /** Shown in the test name. */
  label: string
}

/** Values from code that the declaration must refuse. */
export function badValues(s: OptionSpec): Bad[] {
  const out: Bad[] = []
  switch (s.type) {
    case 'string':
    case 'list':
      out.push({ value: 42, label: 'a number' })
      break
    case 'number':
    case 'integer':
    case 'duration':
      out.push({ value: 'not-a-number', label: 'text' })
      if (s.type === 'integer') out.push({ value: 1.5, label: 'a fraction' })
      if (s.min !== undefined) out.push({ value: s.min - 1, label: 'below min' })
      if (s.max !== undefined) out.push({ value: s.max + 1, label: 'above max' })
      break
    case 'boolean':
      out.push({ value: 'maybe', label: 'text that is not a flag' })
      break
    case 'enum':
      out.push({ value: 'not-one-of-the-values', label: 'a value not listed' })
      break
  }
  return out
}

/** Environment text the declaration must refuse (none for strings and lists: any text is one). */
export function badText(s: OptionSpec): string | undefined {
  switch (s.type) {
    case 'number':
    case 'integer':
      return 'not-a-number'
    case 'duration':
      return 'soon'
    case 'boolean':
      return 'maybe'
    case 'enum':
      return 'not-one-of-the-values'
    default:
      return undefined
  }
}

export interface Good {
  /** As an environment variable would carry it. */
  text: string
  /** What `create()` must receive. */
  value: unknown
}

function inRange(s: OptionSpec, n: number): boolean {
  return (s.min === undefined || n >= s.min) && (s.max === undefined || n <= s.max)
}

function numbers(s: OptionSpec): number[] {
  const d = typeof s.default === 'number' ? s.default : undefined
  const candidates = [
    ...(d !== undefined ? [d + 1, d * 2, d - 1] : []),
    s.min !== undefined ? s.min + 1 : undefined,
    s.min,
    s.max,
    7,
    1,
    0,
  ].filter((n): n is number => typeof n === 'number')
  const integral = s.type !== 'number'
  return [...new Set(candidates)].filter(
    (n) => (integral ? Number.isInteger(n) : true) && n >= 0 && inRange(s, n) && n !== d,
  )
}

/**
 * Up to two distinct good values, as text, none equal to the default (so a value that arrives
 * cannot be the default by accident). Fewer when the declaration allows fewer.
 */
export function goodTexts(s: OptionSpec): Good[] {
  switch (s.type) {
    case 'string':
      return [
        { text: 'conformance-value', value: 'conformance-value' },
        { text: 'second-value', value: 'second-value' },
      ].filter((g) => g.value !== s.default)
    case 'number':
    case 'integer':
      return numbers(s)
        .slice(0, 2)
        .map((n) => ({ text: String(n), value: n }))
    case 'duration':
      return numbers(s)
        .slice(0, 2)
        .map((n, i) =>
          // One in Go's notation, one as bare milliseconds: both are the documented text forms.
          i === 0 && n > 0 && n % 1000 === 0
            ? { text: `${n / 1000}s`, value: n }
            : { text: `${n}ms`, value: n },
        )
    case 'boolean':
      return s.default === true
        ? [{ text: 'false', value: false }]
        : s.default === false
          ? [{ text: 'true', value: true }]
          : [
              { text: 'yes', value: true },
              { text: 'off', value: false },
            ]
    case 'list':
      return [
        { text: 'a, b', value: ['a', 'b'] },
        { text: 'c', value: ['c'] },
      ]
    case 'enum':
      return (s.values ?? [])
        .filter((v) => v !== s.default)
        .slice(0, 2)
        .map((v) => ({ text: v, value: v }))
  }
}
