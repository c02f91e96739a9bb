/** Turns a class instance or plain object into named endpoints (`Greeter.Hello`). */
import { MicroError } from '../errors.js'
import type { Endpoint, Value } from '../registry/types.js'
import type { EndpointSpec, HandleOptions, StandardIssue, StandardSchema } from './types.js'

export type Method = (this: unknown, ...args: unknown[]) => unknown

export interface RegisteredEndpoint {
  /** `Greeter.Hello`. */
  name: string
  method: Method
  receiver: object
  spec: EndpointSpec
  /** Served but left out of the registry record. */
  internal?: boolean
  /** Checks a decoded request against the endpoint's request schema, when it has one. */
  validate?: (body: unknown) => unknown
}

/**
 * go-micro serves a handler's exported methods, and Go exports exactly the names that start with
 * an upper-case letter. TypeScript's `private` and `protected` do not exist at run time, so the
 * same rule is what keeps `resetAll()` or an inherited `removeAllListeners()` off the network.
 */
export function isExported(name: string): boolean {
  return /^\p{Lu}/u.test(name)
}

/** Names never served, even when listed: they belong to every object, not to the handler. */
const OBJECT_MEMBERS = new Set(Object.getOwnPropertyNames(Object.prototype))

function ownMethods(target: object, own: boolean): string[] {
  const names = own ? Object.keys(target) : Object.getOwnPropertyNames(target)
  // Descriptors, not reads: a getter on the handler must not run while we look.
  return names.filter(
    (k) => k !== 'constructor' && typeof Object.getOwnPropertyDescriptor(target, k)?.value === 'function',
  )
}

/**
 * The methods `handler` offers, nearest first: its own function-valued fields (plain objects,
 * arrow-function fields), then its class's methods, then, only with `inherited`, the methods of
 * the classes it extends. Object.prototype is never reached.
 */
function candidateMethods(handler: object, inherited: boolean): Map<string, Method> {
  const found = new Map<string, Method>()
  const add = (target: object, own: boolean) => {
    for (const k of ownMethods(target, own)) {
      if (!found.has(k)) found.set(k, (handler as Record<string, Method>)[k])
    }
  }
  add(handler, true)
  let proto = Object.getPrototypeOf(handler)
  for (let depth = 0; proto && proto !== Object.prototype; depth++) {
    if (depth > 0 && !inherited) break
    add(proto, false)
    proto = Object.getPrototypeOf(proto)
  }
  return found
}

/** The methods served: those named in `options.methods`, else the upper-case ones. Sorted. */
function servedMethods(handler: object, name: string, options: HandleOptions): [string, Method][] {
  if (options.methods) {
    const all = candidateMethods(handler, true)
    return [...new Set(options.methods)].sort().map((m): [string, Method] => {
      if (OBJECT_MEMBERS.has(m)) {
        throw new TypeError(`handle(): ${m} belongs to every object (Object.prototype) and is never served`)
      }
      const fn = all.get(m)
      if (!fn) throw new TypeError(`handle(): options.methods: ${m} is not a method of ${name}`)
      return [m, fn]
    })
  }
  const served = [...candidateMethods(handler, options.inherited === true)].filter(([m]) => isExported(m))
  if (served.length === 0) {
    throw new TypeError(
      `handle(): ${name} has no methods to serve: only methods whose name starts with an upper-case letter ` +
        "(go-micro's exported methods) are served, or those listed in options.methods",
    )
  }
  return served.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

export function handlerName(handler: object, options: HandleOptions): string {
  if (options.name) return options.name
  const ctor = (handler as { constructor?: { name?: string } }).constructor
  const name = ctor && ctor !== Object ? ctor.name : ''
  if (!name) {
    throw new TypeError(
      'handle(): a plain object handler needs a name, e.g. handle({ Hello }, { name: "Greeter" })',
    )
  }
  return name
}

export function extractEndpoints(handler: object, options: HandleOptions = {}): RegisteredEndpoint[] {
  if (!handler || typeof handler !== 'object') throw new TypeError('handle(): the handler must be an object')
  const name = handlerName(handler, options)
  const methods = servedMethods(handler, name, options)
  const served = new Set(methods.map(([m]) => m))
  for (const key of Object.keys(options.endpoints ?? {})) {
    if (!served.has(key)) {
      throw new TypeError(
        `handle(): options.endpoints.${key}: ${key} is not served by ${name} (served: ${[...served].join(', ')})`,
      )
    }
  }
  return methods.map(([m, method]) => {
    const spec = options.endpoints?.[m] ?? {}
    const ep: RegisteredEndpoint = {
      name: `${name}.${m}`,
      method,
      receiver: handler,
      spec,
      internal: options.internal === true,
    }
    const schema = spec.request
    if (isStandardSchema(schema)) ep.validate = (body) => validateRequest(ep.name, schema, body)
    return ep
  })
}

/** zod, valibot and arktype schemas (arktype's are functions) all carry `~standard`. */
export function isStandardSchema(x: unknown): x is StandardSchema {
  return (typeof x === 'object' || typeof x === 'function') && x !== null && '~standard' in x
}

/**
 * The schema's output for a valid request; a 400 naming each field at fault otherwise
 * (`Greeter.Hello: invalid request: name: expected string, received number`).
 */
function validateRequest(endpoint: string, schema: StandardSchema, body: unknown): unknown {
  const answer = (result: Awaited<ReturnType<StandardSchema['~standard']['validate']>>) => {
    if (!result.issues) return result.value
    const detail = result.issues.map(describeIssue).join('; ')
    throw new MicroError('go.micro.server', 400, `${endpoint}: invalid request: ${detail}`)
  }
  const result = schema['~standard'].validate(body)
  return result instanceof Promise ? result.then(answer) : answer(result)
}

function describeIssue(issue: StandardIssue): string {
  let path = ''
  for (const segment of issue.path ?? []) {
    const key = typeof segment === 'object' ? segment.key : segment
    if (typeof key === 'number') path += `[${key}]`
    else path += path ? `.${String(key)}` : String(key)
  }
  return path ? `${path}: ${issue.message}` : issue.message
}

/** Endpoints are described on every registration refresh: the schema conversion is done once. */
const described = new WeakMap<RegisteredEndpoint, Endpoint>()

/**
 * The registry description of an endpoint; streaming ones carry `stream=true` like go-micro's.
 * Schemas are published as go-micro `Value`s. Every endpoint has a `request` (an empty one when
 * nothing is declared, as go-micro publishes for an untyped map): go-micro's `micro <service>
 * <endpoint>` command reads its fields without checking for one.
 */
export function describeEndpoint(ep: RegisteredEndpoint): Endpoint {
  let out = described.get(ep)
  if (!out) {
    const method = ep.name.slice(ep.name.lastIndexOf('.') + 1)
    const metadata: Record<string, string> = { ...ep.spec.metadata }
    if (ep.spec.stream) metadata.stream = 'true'
    out = { name: ep.name, metadata }
    out.request = publishedValue(ep.spec.request, `${method}Request`) ?? { name: '', type: '' }
    const response = publishedValue(ep.spec.response, `${method}Response`)
    if (response) out.response = response
    described.set(ep, out)
  }
  return structuredClone(out)
}

function publishedValue(given: Value | StandardSchema | undefined, name: string): Value | undefined {
  if (!given) return undefined
  if (!isStandardSchema(given)) return given
  let json: Record<string, unknown> | undefined
  try {
    json = given['~standard'].jsonSchema?.input({ target: 'draft-2020-12' })
  } catch {
    // A schema JSON Schema cannot express (a transform, a custom check): published by name only.
  }
  return (json && jsonSchemaValue(json, json, name, 0)) ?? { name, type: name }
}

type JsonSchema = Record<string, unknown>

const SCALARS: Record<string, string> = {
  string: 'string',
  integer: 'int64',
  number: 'float64',
  boolean: 'bool',
}

/**
 * go-micro's `Value` for a JSON Schema: `{name, type, values}` with Go's type names (`string`,
 * `int64`, `float64`, `bool`, `[]T`, `map[string]T`, a struct's name), three levels deep at most
 * as go-micro's own extractor goes.
 */
function jsonSchemaValue(
  schema: JsonSchema,
  root: JsonSchema,
  name: string,
  depth: number,
): Value | undefined {
  if (depth === 3) return undefined
  const s = resolve(schema, root)
  const type = typeName(s, root, name)
  const out: Value = { name, type }
  const properties = s.properties
  if (typeOf(s) === 'object' && properties && typeof properties === 'object') {
    const values: Value[] = []
    for (const [key, sub] of Object.entries(properties as Record<string, JsonSchema>)) {
      const v = jsonSchemaValue(sub, root, key, depth + 1)
      if (v) values.push(v)
    }
    if (values.length) out.values = values
  }
  return out
}

function typeName(schema: JsonSchema, root: JsonSchema, name: string): string {
  const s = resolve(schema, root)
  const t = typeOf(s)
  if (t && SCALARS[t]) return SCALARS[t]
  if (t === 'array') {
    const items = s.items && typeof s.items === 'object' ? (s.items as JsonSchema) : {}
    return `[]${typeName(items, root, singular(name))}`
  }
  if (t === 'object') {
    const extra = s.additionalProperties
    if (!s.properties && extra && typeof extra === 'object')
      return `map[string]${typeName(extra as JsonSchema, root, 'value')}`
    return typeof s.title === 'string' ? s.title : depthName(name)
  }
  return typeof s.title === 'string' ? s.title : 'interface{}'
}

/** The JSON type, also for `enum`/`const` and for the non-null branch of a nullable union. */
function typeOf(s: JsonSchema): string | undefined {
  if (typeof s.type === 'string') return s.type
  if (Array.isArray(s.type)) return s.type.find((t) => t !== 'null')
  const values = Array.isArray(s.enum) ? s.enum : 'const' in s ? [s.const] : undefined
  if (values?.length && values.every((v) => typeof v === typeof values[0])) {
    const v = values[0]
    return typeof v === 'string'
      ? 'string'
      : typeof v === 'boolean'
        ? 'boolean'
        : typeof v === 'number'
          ? 'number'
          : undefined
  }
  return undefined
}

/** Local `$ref`s and one-branch-plus-null unions, which schema libraries emit for optional fields. */
function resolve(schema: JsonSchema, root: JsonSchema, seen = 0): JsonSchema {
  if (seen > 8) return schema
  if (typeof schema.$ref === 'string' && schema.$ref.startsWith('#')) {
    let target: unknown = root
    for (const part of schema.$ref.slice(2).split('/').filter(Boolean)) {
      target = (target as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')]
    }
    return target && typeof target === 'object' ? resolve(target as JsonSchema, root, seen + 1) : schema
  }
  for (const key of ['anyOf', 'oneOf', 'allOf']) {
    const branches = schema[key]
    if (Array.isArray(branches)) {
      const real = branches.filter((b) => !(b && typeof b === 'object' && (b as JsonSchema).type === 'null'))
      if (real.length === 1) return resolve(real[0] as JsonSchema, root, seen + 1)
    }
  }
  return schema
}

function depthName(name: string): string {
  return name ? name[0].toUpperCase() + name.slice(1) : 'Object'
}

function singular(name: string): string {
  return name.endsWith('s') && name.length > 1 ? name.slice(0, -1) : name
}
