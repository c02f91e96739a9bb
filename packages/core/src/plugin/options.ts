/**
 * Options declared once: each option has a type, a default, a one-line doc and the environment
 * variables that set it. `parseOptions` applies one policy to every plugin and every built-in:
 * values from code win over the environment, the environment over the default; an unknown key or
 * a bad value is a 400 MicroError naming the option and the accepted ones.
 *
 * Option names are camelCase; a dot groups related options (`tls.caFile`, `jetstream.ackWait`),
 * and a nested object given in code (`{ tls: { caFile } }`) is read as the dotted names.
 * Every option can be set from `MICRO_<KIND>_<NAME>_<OPTION>` (`jetstream.ackWait` of the nats
 * broker: `MICRO_BROKER_NATS_JETSTREAM_ACK_WAIT`), and from any variable listed in its `env`.
 *
 * Glossary (the same idea has the same name in every plugin):
 * - `addresses`: the backend's addresses (`MICRO_<KIND>_ADDRESS`, comma separated), given to
 *   `create()` apart from the options.
 * - `poolSize`: connections kept per address (transports, the HTTP broker); `MICRO_CLIENT_POOL_SIZE`
 *   sets it for whichever transport declares it.
 * - `maxConnections`: most connections a pool opens in all (stores).
 * - `connectTimeout`: how long dialling a backend may take, ms.
 * - `reconnectWait`: the first wait between reconnect attempts, ms (later waits back off).
 * - `tls`, `tls.ca`/`tls.caFile`, `tls.cert`/`tls.certFile`, `tls.key`/`tls.keyFile`: TLS material.
 */
import { MicroError } from '../errors.js'
import { parseDuration } from '../util/duration.js'
import type { PluginKind } from './definition.js'
import { errorIdOf } from './errors.js'

export type OptionType = 'string' | 'number' | 'integer' | 'boolean' | 'duration' | 'list' | 'enum'

/** The declaration of one option. `T` is its value's type; `D` says whether it has a default. */
export interface OptionSpec<T = unknown, D extends boolean = boolean> {
  readonly type: OptionType
  /** One line: what it does (the README tables are made from it). */
  readonly doc: string
  readonly default?: T
  /** Variables that set it besides `MICRO_<KIND>_<NAME>_<OPTION>`, first found wins (e.g. `CONSUL_HTTP_TOKEN`). */
  readonly env?: readonly string[]
  /** Never echoed in messages or tables (passwords, tokens, keys). */
  readonly secret?: boolean
  /** Numbers and durations: the smallest and largest accepted value. */
  readonly min?: number
  readonly max?: number
  /** Enums: the accepted values. */
  readonly values?: readonly string[]
  /** Type-only marker; never set. */
  readonly __hasDefault?: D
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>

type ValueOf<S> = S extends OptionSpec<infer T, boolean> ? T : never
type WithDefault<S extends OptionSpecs> = {
  [K in keyof S]: S[K] extends OptionSpec<unknown, true> ? K : never
}[keyof S]

/** What `create()` receives: every option with a default is present, the others may be undefined. */
export type OptionValues<S extends OptionSpecs> = { -readonly [K in WithDefault<S>]: ValueOf<S[K]> } & {
  -readonly [K in Exclude<keyof S, WithDefault<S>>]?: ValueOf<S[K]>
}

/** What code may pass: any declared option, by its dotted name or as a nested object. */
export type OptionInput<S extends OptionSpecs> = { [K in keyof S]?: ValueOf<S[K]> } & Record<string, unknown>

type GroupNames<S> = keyof S & string extends infer K ? (K extends `${infer G}.${string}` ? G : never) : never
type TopNames<S> = Exclude<keyof S & string, `${string}.${string}`>
/** The options of group `G` (`tls`) without the prefix: `{ caFile?: string, ... }`. */
type GroupOf<S extends OptionSpecs, G extends string> = {
  [K in keyof S & string as K extends `${G}.${infer T}` ? T : never]?: ValueOf<S[K]>
}

/**
 * The typed options object code passes to a plugin's `createX()`: every declared option by its
 * own name, a group also as a nested object (`{ tls: true }` or `{ tls: { caFile } }`), as
 * `parseOptions` reads them.
 */
export type OptionsOf<S extends OptionSpecs> = {
  [K in TopNames<S>]?: ValueOf<S[K]> | (K extends GroupNames<S> ? GroupOf<S, K> : never)
} & { [G in Exclude<GroupNames<S>, TopNames<S>>]?: GroupOf<S, G> }

interface Common<T> {
  doc: string
  env?: readonly string[]
  secret?: boolean
  default?: T
}
interface Numeric<T> extends Common<T> {
  min?: number
  max?: number
}

function spec<T, D extends boolean>(
  type: OptionType,
  s: Common<T> & Partial<Numeric<T>>,
  values?: readonly string[],
) {
  return Object.freeze({ type, ...s, ...(values ? { values } : {}) }) as OptionSpec<T, D>
}

type Has<S> = S extends { default: unknown } ? true : false

/** Builders for option declarations: `option.integer({ doc: 'Most connections', default: 10, min: 1 })`. */
export const option = {
  string<S extends Common<string>>(s: S): OptionSpec<string, Has<S>> {
    return spec('string', s)
  },
  /** A string never echoed: passwords, tokens, private keys. */
  secret<S extends Common<string>>(s: S): OptionSpec<string, Has<S>> {
    return spec('string', { ...s, secret: true })
  },
  number<S extends Numeric<number>>(s: S): OptionSpec<number, Has<S>> {
    return spec('number', s)
  },
  integer<S extends Numeric<number>>(s: S): OptionSpec<number, Has<S>> {
    return spec('integer', s)
  },
  /** Milliseconds; from text, a Go duration (`5s`, `300ms`) or a bare number of ms. */
  duration<S extends Numeric<number>>(s: S): OptionSpec<number, Has<S>> {
    return spec('duration', s)
  },
  /** A boolean; from text `true/false`, `1/0`, `yes/no`, `on/off`. */
  flag<S extends Common<boolean>>(s: S): OptionSpec<boolean, Has<S>> {
    return spec('boolean', s)
  },
  /** Strings; from text, comma separated. */
  list<S extends Common<string[]>>(s: S): OptionSpec<string[], Has<S>> {
    return spec('list', s)
  },
  oneOf<V extends string, S extends Common<V>>(values: readonly V[], s: S): OptionSpec<V, Has<S>> {
    return spec('enum', s, values)
  },
} as const

/** Who the options belong to: names the variables and the messages. */
export interface OptionOwner {
  kind: PluginKind
  /** The plugin's short name (`nats`). */
  name: string
}

export interface ParseOptionsContext extends OptionOwner {
  /** Where variables are read; without it only code and defaults count. */
  env?: Readonly<Record<string, string | undefined>>
  /**
   * Values that apply only if this plugin declares the option, below the plugin's own variables
   * (e.g. `poolSize` from `MICRO_CLIENT_POOL_SIZE` for whichever transport has one).
   */
  shared?: Readonly<Record<string, unknown>>
}

/** `jetstream.ackWait` of the nats broker → `MICRO_BROKER_NATS_JETSTREAM_ACK_WAIT`. */
export function optionEnvName(owner: OptionOwner, optionName: string): string {
  const name = owner.name.replace(/^@[^/]+\//, '').replace(/[^A-Za-z0-9]+/g, '_')
  const opt = optionName.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9]+/g, '_')
  return `MICRO_${owner.kind}_${name}_${opt}`.toUpperCase()
}

/** Every variable that sets `optionName`, in the order they are read. */
export function optionEnvNames(owner: OptionOwner, optionName: string, s: OptionSpec): string[] {
  return [optionEnvName(owner, optionName), ...(s.env ?? [])]
}

function label(owner: OptionOwner): string {
  return `${owner.name} ${owner.kind}`
}

function badOption(owner: OptionOwner, detail: string): MicroError {
  return new MicroError(errorIdOf(owner.kind), 400, `${label(owner)}: ${detail}`)
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return (
    typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype
  )
}

/**
 * Flatten what code gave into dotted names: `{ tls: { caFile } }` → `tls.caFile`, unless `tls`
 * itself is declared and the value is not an object (`tls: true`). Unknown keys are collected.
 */
function flatten(
  specs: OptionSpecs,
  given: Record<string, unknown>,
  prefix: string,
  out: Record<string, unknown>,
  unknown: string[],
): void {
  for (const [k, v] of Object.entries(given)) {
    if (v === undefined) continue
    const name = prefix + k
    const declared = Object.hasOwn(specs, name)
    const hasChildren = Object.keys(specs).some((s) => s.startsWith(`${name}.`))
    if (isPlainObject(v) && hasChildren) {
      flatten(specs, v, `${name}.`, out, unknown)
      // `{ jetstream: {} }` still means "jetstream on" when `jetstream` is a declared flag.
      if (declared && specs[name].type === 'boolean' && out[name] === undefined) out[name] = true
    } else if (declared) out[name] = v
    else unknown.push(name)
  }
}

const TRUE = new Set(['1', 'true', 'yes', 'on'])
const FALSE = new Set(['0', 'false', 'no', 'off'])

function describe(s: OptionSpec): string {
  const range = (unit = '') =>
    s.min !== undefined && s.max !== undefined
      ? ` from ${s.min}${unit} to ${s.max}${unit}`
      : s.min !== undefined
        ? ` >= ${s.min}${unit}`
        : s.max !== undefined
          ? ` <= ${s.max}${unit}`
          : ''
  switch (s.type) {
    case 'string':
      return 'a string'
    case 'number':
      return `a number${range()}`
    case 'integer':
      return `an integer${range()}`
    case 'duration':
      return `a duration (ms, or text such as 5s, 300ms)${range(' ms')}`
    case 'boolean':
      return 'true or false'
    case 'list':
      return 'a list of strings (comma separated in text)'
    case 'enum':
      return `one of ${(s.values ?? []).join(', ')}`
  }
}

/** Coerce one value to its declared type; undefined when it does not fit. */
function coerce(s: OptionSpec, v: unknown): { ok: true; value: unknown } | { ok: false } {
  const text = typeof v === 'string' ? v.trim() : undefined
  const inRange = (n: number) => (s.min === undefined || n >= s.min) && (s.max === undefined || n <= s.max)
  switch (s.type) {
    case 'string':
      return typeof v === 'string' ? { ok: true, value: v } : { ok: false }
    case 'number':
    case 'integer': {
      const n = text !== undefined ? (text === '' ? Number.NaN : Number(text)) : v
      if (typeof n !== 'number' || !Number.isFinite(n) || !inRange(n)) return { ok: false }
      if (s.type === 'integer' && !Number.isInteger(n)) return { ok: false }
      return { ok: true, value: n }
    }
    case 'duration': {
      let ms: number
      if (typeof v === 'number') ms = v
      else if (text !== undefined && text !== '') {
        try {
          ms = parseDuration(text, 'ms')
        } catch {
          return { ok: false }
        }
      } else return { ok: false }
      return Number.isFinite(ms) && ms >= 0 && inRange(ms) ? { ok: true, value: ms } : { ok: false }
    }
    case 'boolean':
      if (typeof v === 'boolean') return { ok: true, value: v }
      if (text !== undefined && TRUE.has(text.toLowerCase())) return { ok: true, value: true }
      if (text !== undefined && FALSE.has(text.toLowerCase())) return { ok: true, value: false }
      return { ok: false }
    case 'list':
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return { ok: true, value: [...v] }
      if (text !== undefined)
        return {
          ok: true,
          value: text
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean),
        }
      return { ok: false }
    case 'enum':
      return typeof v === 'string' && (s.values ?? []).includes(v) ? { ok: true, value: v } : { ok: false }
  }
}

function shown(s: OptionSpec, v: unknown): string {
  if (s.secret) return '(a secret value)'
  return typeof v === 'string' ? JSON.stringify(v) : String(v)
}

/**
 * The one intake for options: `given` (from code, a runner's `--options`, or a config) is checked
 * against `specs`, variables fill what code left out, defaults the rest. Throws a 400 MicroError
 * (the kind's error id) for an unknown option or a value of the wrong type.
 */
export function parseOptions<S extends OptionSpecs>(
  specs: S,
  given: Readonly<Record<string, unknown>> | undefined,
  context: ParseOptionsContext,
): OptionValues<S> {
  const flat: Record<string, unknown> = {}
  const unknown: string[] = []
  if (given !== undefined && given !== null) {
    if (!isPlainObject(given)) throw badOption(context, 'options must be a plain object')
    flatten(specs, given, '', flat, unknown)
  }
  const accepted = Object.keys(specs)
  if (unknown.length > 0) {
    throw badOption(
      context,
      `unknown option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; accepted: ${accepted.length ? accepted.join(', ') : '(none)'}`,
    )
  }
  const out: Record<string, unknown> = {}
  for (const [name, s] of Object.entries(specs)) {
    let raw: unknown = flat[name]
    let source = 'option'
    if (raw === undefined && context.env) {
      for (const variable of optionEnvNames(context, name, s)) {
        const text = context.env[variable]
        if (typeof text === 'string' && text.trim() !== '') {
          raw = text
          source = variable
          break
        }
      }
    }
    if (raw === undefined && context.shared && context.shared[name] !== undefined) {
      raw = context.shared[name]
      source = 'shared setting'
    }
    if (raw === undefined) {
      if (s.default !== undefined) out[name] = Array.isArray(s.default) ? [...s.default] : s.default
      continue
    }
    const r = coerce(s, raw)
    if (!r.ok) {
      const from = source === 'option' ? '' : ` (from ${source})`
      throw badOption(context, `option ${name} must be ${describe(s)}, got ${shown(s, raw)}${from}`)
    }
    out[name] = r.value
  }
  return out as OptionValues<S>
}

/** `{'tls.caFile': x, 'tls': true}` → `{ tls: { caFile: x } }`; a group set to false stays false. */
export function nestOptions(values: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const keys = Object.keys(values).sort((a, b) => a.split('.').length - b.split('.').length)
  for (const key of keys) {
    const v = values[key]
    if (v === undefined) continue
    const parts = key.split('.')
    let node = out
    let skip = false
    for (const p of parts.slice(0, -1)) {
      if (node[p] === false) {
        skip = true
        break
      }
      if (!isPlainObject(node[p])) node[p] = {}
      node = node[p] as Record<string, unknown>
    }
    if (skip) continue
    const last = parts[parts.length - 1]
    if (v === true && isPlainObject(node[last])) continue
    if (!isPlainObject(node[last])) node[last] = v
  }
  return out
}

function defaultText(s: OptionSpec): string {
  if (s.default === undefined) return ''
  if (s.secret) return '(set)'
  if (Array.isArray(s.default)) return `\`${s.default.join(',')}\``
  if (s.type === 'duration') return `\`${s.default}\` ms`
  return `\`${String(s.default)}\``
}

/**
 * A Markdown table of the options, for a README: option, variables, type, default, doc. The
 * package tests compare their README with it, so the docs cannot drift from the declarations.
 */
export function optionsTable(specs: OptionSpecs, owner: OptionOwner): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const vars = optionEnvNames(owner, name, s)
      .map((v) => `\`${v}\``)
      .join(', ')
    const type = s.type === 'enum' ? (s.values ?? []).map((v) => `\`${v}\``).join(' \\| ') : s.type
    return `| \`${name}\` | ${vars} | ${type} | ${defaultText(s)} | ${s.doc.replaceAll('|', '\\|')} |`
  })
  return ['| option | environment | type | default | description |', '|---|---|---|---|---|', ...rows].join(
    '\n',
  )
}
