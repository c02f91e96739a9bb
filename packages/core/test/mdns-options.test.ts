/** The mDNS registry's options go through the one intake: a bad value is a 400, never a silent default. */
import { describe, expect, it } from 'vitest'
import { createMdnsRegistry } from '../src/registry/index.js'

describe('mdns registry options', () => {
  it('a bad or unknown option is a 400 MicroError of go.micro.registry naming it', () => {
    for (const [options, pattern] of [
      [{ timeout: -5 }, /option timeout must be a duration/],
      [{ port: 'nope' }, /option port must be an integer from 1 to 65535, got "nope"/],
      [{ port: 70000 }, /option port/],
      [{ prot: 5353 }, /unknown option prot; accepted: domain, timeout, port, group, interface, hostname/],
    ] as const) {
      expect(() => createMdnsRegistry(options as never)).toThrow(
        expect.objectContaining({
          id: 'go.micro.registry',
          code: 400,
          detail: expect.stringMatching(pattern),
        }),
      )
    }
  })

  it('text values are coerced (timeout as a Go duration)', async () => {
    const r = createMdnsRegistry({ timeout: '250ms' as never, port: '5399' as never })
    expect(r.timeout).toBe(250)
    await r.close()
  })
})
