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
}

/** Public methods of `handler`: own function properties, then prototype methods up to Object. */
function methodNames(handler: object): string[] {
  const names = new Set<string>()
  for (const key of Object.keys(handler)) {
    if (typeof (handler as Record<string, unknown>)[key] === 'function') names.add(key)
  }
  for (let proto = Object.getPrototypeOf(handler); proto && proto !== Object.prototype; ) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (key === 'constructor' || key.startsWith('_')) continue
      const desc = Object.getOwnPropertyDescriptor(proto, key)
      if (desc && typeof desc.value === 'function') names.add(key)
    }
    proto = Object.getPrototypeOf(proto)
  }
  return [...names].filter((n) => !n.startsWith('_')).sort()
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
  const methods = methodNames(handler)
  if (methods.length === 0) throw new TypeError(`handle(): ${name} has no methods to serve`)
  for (const key of Object.keys(options.endpoints ?? {})) {
    if (!methods.includes(key))
      throw new TypeError(`handle(): options.endpoints.${key} is not a method of ${name}`)
  }
  return methods.map((m) => ({
    name: `${name}.${m}`,
    method: (handler as Record<string, Method>)[m],
    receiver: handler,
    spec: options.endpoints?.[m] ?? {},
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
