/**
 * The two request bodies every contender sends: the seed's greeter call and a ~16 KiB JSON body
 * that the server decodes and sends back (Greeter.Echo). The Go programs in go/ declare the same
 * JSON shapes.
 */

export type PayloadKind = 'greeter' | 'big'
export const PAYLOADS: readonly PayloadKind[] = ['greeter', 'big']

export interface HelloRequest {
  name: string
}
export interface HelloResponse {
  greeting: string
}

export interface Item {
  id: number
  name: string
  tags: string[]
  price: number
  active: boolean
}
export interface Big {
  items: Item[]
}

export const GREETER_REQUEST: HelloRequest = { name: 'John' }
export const GREETING = 'Hello John'

/** The largest list of items whose JSON fits in `bytes` (default 16 KiB); deterministic. */
export function bigBody(bytes = 16 * 1024): Big {
  const items: Item[] = []
  for (let i = 0; ; i++) {
    const item: Item = {
      id: i,
      name: `item-${String(i).padStart(4, '0')}`,
      tags: ['alpha', 'beta', 'gamma'],
      price: i * 1.25 + 0.5,
      active: i % 2 === 0,
    }
    items.push(item)
    if (JSON.stringify({ items }).length > bytes) {
      items.pop()
      return { items }
    }
  }
}

/** What a server does for each payload: the greeter's Hello, or Echo. */
export function hello(req: HelloRequest): HelloResponse {
  if (!req || typeof req.name !== 'string') throw new TypeError('name must be a string')
  return { greeting: `Hello ${req.name}` }
}
export function echo(req: Big): Big {
  if (!req || !Array.isArray(req.items)) throw new TypeError('items must be an array')
  return req
}

/** Checks a decoded response, so a contender that answers garbage cannot look fast. */
export function checkResponse(kind: PayloadKind, rsp: unknown, bigItems: number): void {
  if (kind === 'greeter') {
    if ((rsp as HelloResponse | undefined)?.greeting !== GREETING) {
      throw new Error(`unexpected greeter response ${JSON.stringify(rsp)?.slice(0, 200)}`)
    }
  } else if ((rsp as Big | undefined)?.items?.length !== bigItems) {
    throw new Error(`unexpected echo response (${JSON.stringify(rsp)?.slice(0, 200)})`)
  }
}
