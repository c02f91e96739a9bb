/** Turns a class instance or plain object into named endpoints (`Greeter.Hello`). */
import type { Endpoint } from '../registry/types.js'
import type { EndpointSpec, HandleOptions } from './types.js'

export type Method = (this: unknown, ...args: unknown[]) => unknown

export interface RegisteredEndpoint {
  /** `Greeter.Hello`. */
  name: string
  method: Method
  receiver: object
  spec: EndpointSpec
  /** Served but left out of the registry record. */
  internal?: boolean
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
  return methods.map(([m, method]) => ({
    name: `${name}.${m}`,
    method,
    receiver: handler,
    spec: options.endpoints?.[m] ?? {},
    internal: options.internal === true,
  }))
}

/** The registry description of an endpoint; streaming ones carry `stream=true` like go-micro's. */
export function describeEndpoint(ep: RegisteredEndpoint): Endpoint {
  const metadata: Record<string, string> = { ...ep.spec.metadata }
  if (ep.spec.stream) metadata.stream = 'true'
  const out: Endpoint = { name: ep.name, metadata }
  if (ep.spec.request) out.request = ep.spec.request
  if (ep.spec.response) out.response = ep.spec.response
  return out
}
