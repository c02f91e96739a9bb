/**
 * `micro run` on two services made by `micro new` and the gateway, all on the shared etcd:
 * both answer through the gateway with curl-like requests, a schema's 400 comes back as a 400,
 * `micro call` answers, an edited file restarts its service, and Ctrl-C drains and deregisters.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { RUN_ID } from '@micro-ts/conformance/testing'
import { afterAll, describe, expect, it } from 'vitest'
import { ETCD, etcdUp, micro, OUTPUT_DIR, Running, testEnv } from './helpers.js'

const up = await etcdUp()
const parent = path.join(OUTPUT_DIR, `run-${RUN_ID}`)
const hello = `hello-${RUN_ID}`
const world = `world-${RUN_ID}`
let run: Running | undefined

afterAll(async () => {
  await run?.interrupt()
  rmSync(parent, { recursive: true, force: true })
})

async function eventually<T>(fn: () => Promise<T>, ms = 60_000): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    try {
      return await fn()
    } catch (e) {
      if (Date.now() > until) throw e
      await new Promise((r) => setTimeout(r, 250))
    }
  }
}

describe.runIf(up)('micro run', () => {
  it('runs two services from their TypeScript and the gateway; restarts on change; Ctrl-C drains', {
    timeout: 240_000,
  }, async () => {
    expect((await micro(['new', hello, '--plugins', 'etcd', '--dir', parent])).code).toBe(0)
    expect((await micro(['new', world, '--template', 'crud', '--dir', parent])).code).toBe(0)
    // The environment has no registry: go-micro's flag chooses it for the services and the gateway alike.
    const env = testEnv({ MICRO_REGISTRY: '', MICRO_REGISTRY_ADDRESS: '' })
    run = new Running(
      [
        'run',
        path.join(parent, hello),
        path.join(parent, world),
        '--registry',
        'etcd',
        '--registry_address',
        ETCD,
        '--address',
        '127.0.0.1:0',
        '--log_level',
        'info',
      ],
      env,
    )
    const [, address] = await run.waitFor(/gateway listening on http:\/\/(\S+)/)
    const base = `http://${address}`
    const helloHandler = hello
      .split('-')
      .map((p) => p[0].toUpperCase() + p.slice(1))
      .join('')
    const worldHandler = world
      .split('-')
      .map((p) => p[0].toUpperCase() + p.slice(1))
      .join('')

    // Both answer through the gateway, as curl would send it (curl -d says form-urlencoded).
    const first = await eventually(async () => {
      const res = await fetch(`${base}/api/${hello}/${helloHandler}/Call`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: '{"name":"John"}',
      })
      if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`)
      return res.json()
    })
    expect(first).toEqual({ msg: 'Hello John' })
    const created = await eventually(async () => {
      const res = await fetch(`${base}/${world}/${worldHandler}.Create`, {
        method: 'POST',
        body: '{"id":"1","title":"first"}',
      })
      if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`)
      return res.json()
    })
    expect(created).toEqual({ record: { id: '1', title: 'first', done: false } })

    const bad = await fetch(`${base}/api/${hello}/${helloHandler}/Call`, {
      method: 'POST',
      body: '{"name":7}',
    })
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({ code: 400, detail: expect.stringContaining('name') })

    const called = await micro(
      ['call', hello, `${helloHandler}.Call`, '{"name":"CLI"}', '--registry', 'etcd'],
      { env },
    )
    expect(JSON.parse(called.stdout)).toEqual({ msg: 'Hello CLI' })
    expect(run.stdout).toMatch(new RegExp(`\\[${hello}\\] .*server started`))

    // The gateway serves the dashboard, which lists both services.
    expect(run.stdout).toContain(`dashboard: http://${address}/dashboard/`)
    const listed = (await (await fetch(`${base}/dashboard/api/services`)).json()) as {
      services: { name: string }[]
    }
    expect(listed.services.map((s) => s.name)).toEqual(expect.arrayContaining([hello, world]))

    // An edit restarts the service: the new code answers.
    const file = path.join(parent, hello, 'src/handler.ts')
    // The handler's template literal as source text, its placeholder included.
    const greeting = (word: string) => `\`${word} $\{req.name}\``
    writeFileSync(file, readFileSync(file, 'utf8').replace(greeting('Hello'), greeting('Hi')))
    await run.waitFor(new RegExp(`\\[${hello}\\] src/handler\\.ts changed: restarting`))
    await eventually(async () => {
      const res = await fetch(`${base}/api/${hello}/${helloHandler}/Call`, {
        method: 'POST',
        body: '{"name":"again"}',
      })
      const body = await res.json()
      if ((body as { msg?: string }).msg !== 'Hi again') throw new Error(JSON.stringify(body))
    })

    // Ctrl-C: each service drains (deregisters) and exits 0, then the gateway stops.
    expect(await run.interrupt()).toBe(0)
    expect(run.stdout).toMatch(new RegExp(`\\[${hello}\\] stopped \\(code 0\\)`))
    expect(run.stdout).toMatch(new RegExp(`\\[${world}\\] stopped \\(code 0\\)`))
    expect(run.stdout).toMatch(/gateway stopped/)
    const gone = await micro(['describe', hello, '--registry', 'etcd'], { env })
    expect(gone.code).toBe(1)
    expect(JSON.parse(gone.stderr)).toMatchObject({ code: 404 })
  })
})
