/**
 * Two greeter processes found through mDNS (inside the test's private network namespace) and a
 * round-robin client: load splits, SIGKILL under load is survived, SIGTERM drains.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createService, MicroError, type MicroService, silentLogger } from '../src/index.js'

const isolated =
  process.env.MICRO_NETNS === '1' ||
  Object.values(os.networkInterfaces()).every((l) => (l ?? []).every((a) => a.internal))
if (!isolated) {
  const msg = 'cluster test uses mDNS: run it inside a private network namespace (node scripts/netns.mjs ...)'
  if (process.env.CI) throw new Error(msg)
  console.warn(`\n!!! SKIPPED: ${msg}\n`)
}

interface Started {
  proc: ChildProcess
  address: string
  exit: Promise<number | null>
}

function startNode(name: string): Promise<Started> {
  const proc = spawn(
    process.execPath,
    [fileURLToPath(new URL('./fixtures/cluster-node.mjs', import.meta.url))],
    {
      env: { ...process.env, NODE_NAME: name },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    let out = ''
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /ready (\S+)/.exec(out)
      if (m) resolve({ proc, address: m[1], exit })
    })
    exit.then((code) => reject(new Error(`node ${name} exited early (${code})`)))
  })
}

type Reply = { node: string }

describe.skipIf(!isolated)('a cluster of two greeters', () => {
  let a: Started
  let b: Started
  let client: MicroService

  beforeAll(async () => {
    ;[a, b] = await Promise.all([startNode('a'), startNode('b')])
    client = await createService({
      name: 'cluster-client',
      selector: 'roundrobin',
      logger: silentLogger,
      env: { MICRO_BROKER: 'memory', MICRO_STORE: 'memory' },
    })
    // Wait until discovery sees both nodes.
    const deadline = Date.now() + 10_000
    for (;;) {
      const services = await client.registry.getService('cluster-greeter').catch(() => [])
      if (services.flatMap((s) => s.nodes).length === 2) break
      if (Date.now() > deadline) throw new Error('discovery did not see both nodes within 10s')
      await new Promise((r) => setTimeout(r, 100))
    }
  })

  afterAll(async () => {
    for (const n of [a, b]) if (n && n.proc.exitCode === null) n.proc.kill('SIGKILL')
    await client?.stop()
  })

  it('splits calls between the nodes', async () => {
    const seen: Record<string, number> = {}
    for (let i = 0; i < 40; i++) {
      const r = await client.client.call<Reply>('cluster-greeter', 'Greeter.Hello', { name: 'x' })
      seen[r.node] = (seen[r.node] ?? 0) + 1
    }
    expect(Object.keys(seen).sort()).toEqual(['a', 'b'])
    expect(seen.a).toBeGreaterThanOrEqual(15)
    expect(seen.b).toBeGreaterThanOrEqual(15)
  })

  it('survives SIGKILL of one node under steady calls', async () => {
    const call = (idempotent: boolean) =>
      client.client
        .call<Reply>('cluster-greeter', 'Greeter.Slow', { ms: 800 }, { idempotent, timeout: 10_000 })
        .then((r) => ({ ok: true as const, node: r.node }))
        .catch((e: unknown) => ({ ok: false as const, err: e }))
    // In flight at the instant of the kill: half of each kind lands on b.
    const idempotent = Array.from({ length: 8 }, () => call(true))
    const unmarked = Array.from({ length: 8 }, () => call(false))
    await new Promise((r) => setTimeout(r, 200))
    b.proc.kill('SIGKILL')
    await b.exit

    // Every call started after the kill succeeds (connection failures go to the other node).
    const after = []
    for (let i = 0; i < 30; i++) {
      after.push(await client.client.call<Reply>('cluster-greeter', 'Greeter.Hello', { name: 'y' }))
    }
    expect(after.every((r) => r.node === 'a')).toBe(true)

    const idem = await Promise.all(idempotent)
    expect(idem.every((r) => r.ok)).toBe(true)
    expect(idem.every((r) => r.ok && r.node === 'a')).toBe(true)

    const plain = await Promise.all(unmarked)
    const failed = plain.filter((r) => !r.ok)
    expect(failed.length).toBeGreaterThan(0) // the ones that were on b
    for (const f of failed) {
      const err = (f as { err: unknown }).err
      expect(err).toBeInstanceOf(MicroError)
      expect((err as MicroError).detail).toMatch(/may have run|connection/i)
    }
  })

  it('SIGTERM drains an in-flight call and leaves the registry', async () => {
    const slow = client.client.call<Reply>(
      'cluster-greeter',
      'Greeter.Slow',
      { ms: 1500 },
      { address: a.address },
    )
    await new Promise((r) => setTimeout(r, 300))
    a.proc.kill('SIGTERM')
    await expect(slow).resolves.toEqual({ node: 'a', slept: 1500 })
    expect(await a.exit).toBe(0)
    await expect
      .poll(
        async () =>
          (await client.registry.getService('cluster-greeter').catch(() => [])).flatMap((s) => s.nodes)
            .length,
        { timeout: 10_000 },
      )
      .toBe(0)
  })
})
