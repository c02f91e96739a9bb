/**
 * Registry records to tools, without a registry: names, the allow/deny rule, which endpoints
 * are calls, versions, descriptions, input schemas; and the rate limiter's arithmetic on a clock
 * the test holds.
 */
import type { Service } from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import { RateLimiter, serviceTools, toolFilter, toolName } from '../src/index.js'

describe('tool names', () => {
  it("are go-micro's <service>.<Endpoint> when that is a valid MCP name", () => {
    expect(toolName('greeter', 'Greeter.Hello')).toBe('greeter.Greeter.Hello')
    expect(toolName('go.micro.srv.greeter', 'Say.Hello')).toBe('go.micro.srv.greeter.Say.Hello')
  })

  it('replace characters MCP names cannot hold, and a hash keeps two such names apart', () => {
    const a = toolName('my service', 'A.B')
    const b = toolName('my/service', 'A.B')
    expect(a).toMatch(/^my_service\.A\.B_[0-9a-f]{8}$/)
    expect(b).toMatch(/^my_service\.A\.B_[0-9a-f]{8}$/)
    expect(a).not.toBe(b)
  })

  it('are at most 128 characters', () => {
    const name = toolName('s'.repeat(200), 'Handler.Method')
    expect(name).toHaveLength(128)
    expect(name).toMatch(/^[A-Za-z0-9._-]+$/)
  })
})

describe('allow and deny lists', () => {
  it('expose everything without lists', () => {
    expect(toolFilter()('anything', 'X.Y')).toBe(true)
  })

  it('match a service name, a <service>.<Endpoint>, or * globs', () => {
    const f = toolFilter({ allow: ['greeter', 'billing.Invoices.Total', 'shop-*'], deny: ['*.Admin.*'] })
    expect(f('greeter', 'Greeter.Hello')).toBe(true)
    expect(f('greeter', 'Admin.Reset')).toBe(false)
    expect(f('billing', 'Invoices.Total')).toBe(true)
    expect(f('billing', 'Invoices.Void')).toBe(false)
    expect(f('shop-eu', 'Cart.Add')).toBe(true)
    expect(f('greeterx', 'Greeter.Hello')).toBe(false)
    // Dots in a pattern are literal.
    expect(toolFilter({ allow: ['a.b'] })('axb', 'X.Y')).toBe(false)
  })

  it('refuse an empty entry', () => {
    expect(() => toolFilter({ allow: [''] })).toThrow(TypeError)
  })
})

describe('serviceTools', () => {
  const v = (version: string, endpoints: Service['endpoints']): Service => ({
    name: 'svc',
    version,
    endpoints,
    nodes: [],
  })

  it('skips streams and subscribers, and takes each endpoint from the newest version that has it', () => {
    const tools = serviceTools(
      'svc',
      [
        v('1.9.0', [
          { name: 'A.Old', request: { name: 'OldRequest', type: 'OldRequest' } },
          {
            name: 'A.Call',
            request: { name: 'CallRequest', type: 'CallRequest', values: [{ name: 'x', type: 'int64' }] },
          },
        ]),
        v('1.10.0', [
          {
            name: 'A.Call',
            request: { name: 'CallRequest', type: 'CallRequest', values: [{ name: 'y', type: 'string' }] },
          },
          { name: 'A.Stream', metadata: { stream: 'true' } },
          { name: 'events', metadata: { topic: 'events', subscriber: 'true' } },
        ]),
      ],
      () => true,
    )
    expect(tools.map((t) => t.name)).toEqual(['svc.A.Call', 'svc.A.Old'])
    expect(tools[0].inputSchema).toEqual({
      type: 'object',
      title: 'CallRequest',
      properties: { y: { type: 'string' } },
    })
    expect(tools[0].description).toBe('Calls A.Call on the svc service (version 1.10.0).')
    // An endpoint that declares nothing still has an object input schema.
    expect(tools[1].inputSchema.type).toBe('object')
  })

  it('keeps an example that is not JSON in the description', () => {
    const [tool] = serviceTools(
      'svc',
      [v('1', [{ name: 'A.B', metadata: { example: 'name=John' } }])],
      () => true,
    )
    expect(tool.description).toContain('Example input: name=John')
    expect(tool.inputSchema.examples).toBeUndefined()
  })
})

describe('RateLimiter', () => {
  it('allows a burst, then one call per 1/perSecond, per tool', () => {
    const limiter = new RateLimiter({ perSecond: 2, burst: 2 })
    expect(limiter.take('a', 0)).toBe(0)
    expect(limiter.take('a', 0)).toBe(0)
    expect(limiter.take('a', 0)).toBe(500)
    expect(limiter.take('b', 0)).toBe(0)
    expect(limiter.take('a', 250)).toBe(250)
    expect(limiter.take('a', 500)).toBe(0)
    expect(limiter.take('a', 500)).toBe(500)
  })

  it('refuses limits that make no sense', () => {
    expect(() => new RateLimiter({ perSecond: 0 })).toThrow(RangeError)
    expect(() => new RateLimiter({ perSecond: 1, burst: 0.5 })).toThrow(RangeError)
  })
})
