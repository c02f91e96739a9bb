/**
 * The `micro` commands across languages, on an etcd of the suite's own: our `micro call` calls
 * the Go greeter; go-micro v5.30.0's own `micro call` and its `micro
 * api` gateway call our greeter; every endpoint of ours publishes a request Value (go-micro's
 * command dereferences it); our gateway calls the Go greeter.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Etcd,
  freePort,
  HERE,
  HOST,
  IN_CI,
  missingPrerequisites,
  type Proc,
  run,
  runTag,
  start,
  stopAll,
} from './harness.js'

const OUR_MICRO = join(HERE, '..', '..', 'packages', 'cli', 'dist', 'bin.js')
const built = spawnSync(process.execPath, [join(HERE, 'micro-cli.mjs')], {
  encoding: 'utf8',
  timeout: 900_000,
})
const GO_MICRO = built.status === 0 ? built.stdout.trim() : ''
const missing = [
  ...(await missingPrerequisites({ etcd: true })),
  ...(GO_MICRO
    ? []
    : [`go-micro's micro command (node interop/go-micro/micro-cli.mjs: ${built.stderr.trim().slice(-300)})`]),
  ...(existsSync(OUR_MICRO) ? [] : ['our micro command (pnpm build)']),
]
if (missing.length) {
  const message = `interop cli: missing ${missing.join('; ')}`
  if (IN_CI) throw new Error(message)
  console.warn(`\n*** SKIPPED: ${message}\n`)
}

const tag = runTag()
let etcd: Etcd
let env: Record<string, string>
let goGreeter: Proc
let tsGreeter: Proc

function sh(cmd: string, args: string[], input = '') {
  const r = spawnSync(cmd, args, {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    input,
    timeout: 60_000,
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}
const ours = (...args: string[]) => sh(process.execPath, [OUR_MICRO, ...args])
const theirs = (...args: string[]) => sh(GO_MICRO, args)

beforeAll(async () => {
  if (missing.length) return
  etcd = await Etcd.start()
  env = {
    MICRO_REGISTRY: 'etcd',
    MICRO_REGISTRY_ADDRESS: etcd.address,
    MICRO_SERVER_ADDRESS: '127.0.0.1:0',
    MICRO_LOG_LEVEL: 'error',
  }
  goGreeter = start('go', 'greeter', ['--name', `go.${tag}`], HOST, env)
  tsGreeter = start('ts', 'greeter', ['--name', `ts.${tag}`], HOST, env)
  await goGreeter.waitFor((l) => l.ready === true, 30_000)
  await tsGreeter.waitFor((l) => l.ready === true, 30_000)
}, 120_000)

afterAll(async () => {
  await stopAll()
  await etcd?.stop()
})

describe.runIf(missing.length === 0)('micro commands across go-micro and ours', () => {
  it('our micro call calls the go-micro greeter (and reports its error as go-micro JSON)', () => {
    const r = ours('call', `go.${tag}`, 'Greeter.Hello', '{"name":"John"}', '--json')
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ greeting: 'Hello John' })
    const fail = ours('call', `go.${tag}`, 'Greeter.Fail', '{"name":"x"}')
    expect(fail.code).toBe(1)
    expect(JSON.parse(fail.stderr)).toMatchObject({ id: 'greeter.fail', code: 400, detail: 'bad name x' })
    const described = ours('describe', `go.${tag}`)
    expect(described.stdout).toMatch(/Greeter\.Hello\s+HelloRequest \{name string\}/)
  })

  it("go-micro's micro call calls our greeter", () => {
    const r = theirs('call', `ts.${tag}`, 'Greeter.Hello', '{"name":"John"}')
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ greeting: 'Hello John' })
  })

  it('every endpoint of ours carries a request Value as go-micro reads it (its micro command dereferences it)', async () => {
    // go-micro's `micro <service> <endpoint>` reads endpoint.Request.Values without a nil check:
    // ours published no request for endpoints that declare no types, and it crashed there.
    const r = await run('go', 'registry-dump', ['--wait', '10s', `ts.${tag}`], HOST, env)
    expect(r.code, r.stderr).toBe(0)
    const [svc] = r.lines[0] as { endpoints: { name: string; request: unknown }[] }[]
    const byName = new Map(svc.endpoints.map((e) => [e.name, e.request]))
    expect(byName.get('Greeter.Fail')).toEqual({ name: '', type: '', values: null })
    expect(byName.get('Greeter.Hello')).toEqual({
      name: 'HelloRequest',
      type: 'HelloRequest',
      values: [{ name: 'name', type: 'string', values: null }],
    })
    for (const [name, request] of byName) expect(request, name).not.toBeNull()
  })

  it("go-micro's micro api gateway calls our greeter", async () => {
    const port = await freePort()
    const { spawn } = await import('node:child_process')
    const child = spawn(GO_MICRO, ['api', '--address', `127.0.0.1:${port}`], {
      env: { ...process.env, ...env },
      stdio: 'ignore',
    })
    try {
      let body: unknown
      for (let i = 0; i < 100 && body === undefined; i++) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/ts.${tag}/Greeter.Hello`, {
            method: 'POST',
            body: '{"name":"John"}',
          })
          if (res.ok) body = await res.json()
        } catch {
          await new Promise((r) => setTimeout(r, 200))
        }
      }
      expect(body).toEqual({ greeting: 'Hello John' })
    } finally {
      child.kill('SIGTERM')
    }
  })

  it('our gateway calls the go-micro greeter, with its error as an HTTP status', async () => {
    const { Running } = await import('./cli-running.js')
    const api = new Running(process.execPath, [OUR_MICRO, 'api', '--address', '127.0.0.1:0'], env)
    try {
      const [, address] = await api.waitFor(/gateway listening on http:\/\/(\S+)/)
      const ok = await fetch(`http://${address}/api/go.${tag}/Greeter/Hello`, {
        method: 'POST',
        body: '{"name":"Go"}',
      })
      expect(await ok.json()).toEqual({ greeting: 'Hello Go' })
      const bad = await fetch(`http://${address}/go.${tag}/Greeter.Fail`, {
        method: 'POST',
        body: '{"name":"x"}',
      })
      expect(bad.status).toBe(400)
      expect(await bad.json()).toMatchObject({ id: 'greeter.fail', code: 400 })
    } finally {
      expect(await api.interrupt()).toBe(0)
    }
  })
})
