// The runner CLI, run as a user would: on an embedded implementation it passes; on deliberately
// broken plugins (test/fixtures) the suites fail and so does the exit code.
import { describe, expect, it } from 'vitest'
import { CLOSING, cli, cliWithEnv, fixture } from './cli-run.js'

describe('micro-conformance', () => {
  it('store memory: every test passes and the closing line says so', { timeout: 120_000 }, async () => {
    const run = await cli('store', 'memory')
    const m = CLOSING.exec(run.last)
    expect(m, `last line: ${run.last}\n${run.err}`).not.toBeNull()
    expect(Number(m![1])).toBeGreaterThan(50)
    expect(Number(m![2])).toBe(0)
    expect(m![3]).toBeUndefined()
    expect(run.code).toBe(0)
  })

  it('a store that ignores offset fails the limit/offset cases and exits non-zero', {
    timeout: 120_000,
  }, async () => {
    const run = await cli('store', fixture('store-paging-bug.mjs'), '--filter', 'offset')
    expect(run.out).toContain('capabilities [ttl, metadata] from the plugin definition')
    const m = CLOSING.exec(run.last)
    expect(m, `last line: ${run.last}\n${run.err}`).not.toBeNull()
    expect(Number(m![2])).toBeGreaterThan(0)
    expect(run.code).toBe(1)
  })

  it('a broker that broadcasts to queue groups fails the queue cases', { timeout: 120_000 }, async () => {
    const run = await cli('broker', fixture('broker-group-bug.mjs'), '--filter', 'queue')
    expect(run.out).toContain('capabilities [queue] from the plugin definition')
    const m = CLOSING.exec(run.last)
    expect(m, `last line: ${run.last}\n${run.err}`).not.toBeNull()
    expect(Number(m![2])).toBeGreaterThan(0)
    expect(run.code).toBe(1)
  })

  it('a definition with a snake_case option, a missing doc and a refused default fails the definition suite', {
    timeout: 120_000,
  }, async () => {
    const run = await cli('store', fixture('store-bad-definition.mjs'), '--filter', 'plugin definition')
    const m = CLOSING.exec(run.last)
    expect(m, `last line: ${run.last}\n${run.err}`).not.toBeNull()
    expect(Number(m![1]), 'the rest of the definition suite passes').toBeGreaterThan(0)
    expect(Number(m![2])).toBe(2)
    expect(run.out).toContain('every option is declared with a camelCase (dotted) name')
    expect(run.out).toContain('every default is a value its own declaration accepts')
    expect(run.code).toBe(1)
  })

  it('a registry whose deregister does nothing fails the deregister cases', {
    timeout: 120_000,
  }, async () => {
    const run = await cli('registry', fixture('registry-sticky.mjs'), '--filter', 'deregister')
    const m = CLOSING.exec(run.last)
    expect(m, `last line: ${run.last}\n${run.err}`).not.toBeNull()
    expect(Number(m![2])).toBeGreaterThan(0)
    expect(run.code).toBe(1)
  })

  it('--address and --options reach the plugin, --suite-options reach the suite', {
    timeout: 120_000,
  }, async () => {
    const context = await cli(
      'store',
      fixture('store-checks-context.mjs'),
      '--address',
      '10.0.0.1:1,10.0.0.2:2',
      '--options',
      '{"token":"x","n":1}',
      '--filter',
      'missing key rejects',
    )
    expect(context.last, context.out + context.err).toMatch(/^1 passed, 0 failed, \d+ skipped$/)
    expect(context.code).toBe(0)

    // An option left out of --options comes from the plugin's own variable, coerced as in a service.
    const fromEnv = await cliWithEnv(
      { MICRO_STORE_CHECKS_CONTEXT_N: '1' },
      'store',
      fixture('store-checks-context.mjs'),
      '--address',
      '10.0.0.1:1,10.0.0.2:2',
      '--options',
      '{"token":"x"}',
      '--filter',
      'missing key rejects',
    )
    expect(fromEnv.last, fromEnv.out + fromEnv.err).toMatch(/^1 passed, 0 failed, \d+ skipped$/)

    // The knobs rename the cases they size: only then does the filter match both.
    const knobs = await cli(
      'transport',
      'http',
      '--suite-options',
      '{"concurrency":50,"largeMessageSize":65536}',
      '--filter',
      '50 concurrent requests|a 64 KiB message round-trips',
    )
    expect(knobs.last, knobs.out + knobs.err).toMatch(/^2 passed, 0 failed, \d+ skipped$/)
    expect(knobs.code).toBe(0)
  })

  it("--options go through core's option intake: a bad value or an unknown option exits 2 with the 400", async () => {
    const bad = await cli('transport', 'http', '--options', '{"poolSize":-1}')
    expect(bad.code).toBe(2)
    expect(bad.err).toContain('--options: http transport: option poolSize must be an integer >= 1, got -1')
    expect(bad.err).toContain('400 go.micro.transport')

    const unknown = await cli('store', 'memory', '--options', '{"sweepEvery":5}')
    expect(unknown.code).toBe(2)
    expect(unknown.err).toContain('memory store: unknown option sweepEvery; accepted: sweepInterval')

    const env = await cliWithEnv({ MICRO_STORE_MEMORY_SWEEP_INTERVAL: 'soon' }, 'store', 'memory')
    expect(env.code).toBe(2)
    expect(env.err).toContain('option sweepInterval must be a duration')
    expect(env.err).toContain('(from MICRO_STORE_MEMORY_SWEEP_INTERVAL)')
  })

  it('bad usage exits 2 with a message: unknown kind, unknown plugin, bad JSON, unknown capability, --capabilities', async () => {
    const kind = await cli('cache', 'memory')
    expect(kind.code).toBe(2)
    expect(kind.err).toContain('unknown kind "cache"')

    const relative = await cli('store', 'no/such/file.mjs')
    expect(relative.code).toBe(2)

    const plugin = await cli('store', 'nonexistent-backend')
    expect(plugin.code).toBe(2)
    expect(plugin.err).toContain('@micro-ts/store-nonexistent-backend')

    const json = await cli('store', 'memory', '--options', '{not json')
    expect(json.code).toBe(2)
    expect(json.err).toContain('--options: not valid JSON')

    const cap = await cli('store', fixture('store-unknown-capability.mjs'))
    expect(cap.code).toBe(2)
    expect(cap.err).toContain('store plugin teleporting declares unknown capabilities: teleport')

    const flag = await cli('store', 'memory', '--capabilities', 'ttl')
    expect(flag.code).toBe(2)
    expect(flag.err).toContain('--capabilities is gone')

    const missing = await cli('store')
    expect(missing.code).toBe(2)
    expect(missing.err).toContain('usage: micro-conformance')
  })
})
