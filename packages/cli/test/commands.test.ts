/**
 * The `micro` command against real services on the shared etcd: go-micro's flags in both forms
 * and the MICRO_* variables, tables and --json, calls (arguments, stdin, headers, deadlines,
 * direct addresses), streams, health, the registry, the broker and the store, and go-micro's
 * error JSON with a non-zero exit status on every failure.
 */
import { requireBackend, testAddress, uniqueName } from '@micro-ts/conformance/testing'
import type { MicroService } from '@micro-ts/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ETCD, etcdUp, micro, Running, startGreeter, testEnv } from './helpers.js'

const up = await etcdUp()
const name = uniqueName('cli.greeter')
let greeter: MicroService

beforeAll(async () => {
  if (up) greeter = await startGreeter(name)
})
afterAll(async () => {
  await greeter?.stop()
})

/** go-micro's own flags select the registry; the environment has none. */
const flagEnv = () => testEnv({ MICRO_REGISTRY: '', MICRO_REGISTRY_ADDRESS: '' })

describe.runIf(up)('micro: inspect', () => {
  it('services: a table by default, --json for scripts; go-micro flags in both forms', async () => {
    const table = await micro(['services', '--registry', 'etcd', '--registry_address', ETCD], {
      env: flagEnv(),
    })
    expect(table.code, table.stderr).toBe(0)
    expect(table.stdout).toMatch(/^NAME\s+VERSIONS\n/)
    expect(table.stdout).toMatch(new RegExp(`\\n${name.replaceAll('.', '\\.')}\\s+1\\.0\\.0\\n`))
    const j = await micro([`--registry=etcd`, `--registry_address=${ETCD}`, 'services', '--json'], {
      env: flagEnv(),
    })
    expect(JSON.parse(j.stdout)).toContainEqual({ name, versions: ['1.0.0'] })
  })

  it('describe: versions, nodes, and endpoints with their request and response shapes', async () => {
    const r = await micro(['describe', name])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`${name} 1.0.0`)
    expect(r.stdout).toMatch(
      /Greeter\.Hello\s+HelloRequest \{name string, times int64\}\s+HelloResponse \{greeting string\}/,
    )
    expect(r.stdout).toMatch(/Greeter\.Stream\s+\(not declared\)\s+\(not declared\)\s+stream=true/)
    expect(r.stdout).toContain(greeter.server.describe().nodes[0].id)
    const j = JSON.parse((await micro(['describe', name, '--json'])).stdout)
    expect(j[0].endpoints.find((e: { name: string }) => e.name === 'Greeter.Hello').request.values).toEqual([
      { name: 'name', type: 'string' },
      { name: 'times', type: 'int64' },
    ])
  })

  it('health: every node up, exit 0', async () => {
    const r = await micro(['health', name])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/\s127\.0\.0\.1:\d+\s+up\s+server=up, registry=up/)
  })

  it('registry list and get print the records', async () => {
    const list = JSON.parse((await micro(['registry', 'list', '--json'])).stdout) as { name: string }[]
    expect(list.map((s) => s.name)).toContain(name)
    const get = JSON.parse((await micro(['registry', 'get', name])).stdout)
    expect(get[0].nodes[0].metadata).toMatchObject({ protocol: 'mucp', registry: 'etcd' })
  })

  it('registry watch prints an event when a service starts', async () => {
    const other = uniqueName('cli.watched')
    const watch = new Running(['registry', 'watch', other])
    await watch.waitFor(/watching/, 30_000, 'stderr')
    // The watch is open once etcd has it: give it a moment before the service registers.
    await new Promise((r) => setTimeout(r, 1500))
    const svc = await startGreeter(other)
    try {
      const [line] = await watch.waitFor(
        new RegExp(`\\{"action":"create".*"name":"${other.replaceAll('.', '\\.')}".*\\n`),
      )
      expect(JSON.parse(line).service.nodes[0].id).toBe(svc.server.describe().nodes[0].id)
    } finally {
      await svc.stop()
      expect(await watch.interrupt()).toBe(0)
    }
  })
})

describe.runIf(up)('micro call and stream', () => {
  it('calls with a JSON argument, or the JSON on stdin', async () => {
    const r = await micro(['call', name, 'Greeter.Hello', '{"name":"John"}'])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ greeting: 'Hello John', header: null })
    const s = await micro(['call', name, 'Greeter.Hello'], { input: '{"name":"Stdin"}' })
    expect(JSON.parse(s.stdout).greeting).toBe('Hello Stdin')
  })

  it('--header reaches the handler; --address calls a node directly', async () => {
    const r = await micro(['call', '-H', 'X-Trace:abc', name, 'Greeter.Hello', '{"name":"H"}', '--json'])
    expect(r.stdout).toBe('{"greeting":"Hello H","header":"abc"}\n')
    const direct = await micro([
      'call',
      '--address',
      greeter.server.address,
      name,
      'Greeter.Hello',
      '{"name":"D"}',
    ])
    expect(JSON.parse(direct.stdout).greeting).toBe('Hello D')
  })

  it("a request its schema refuses: exit 1, go-micro's error JSON naming the field on stderr", async () => {
    const r = await micro(['call', name, 'Greeter.Hello', '{"name":42}'])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    const err = JSON.parse(r.stderr)
    expect(err).toMatchObject({ id: 'go.micro.server', code: 400, status: 'Bad Request' })
    expect(err.detail).toMatch(/name: /)
  })

  it('--timeout travels to the service: a 408 at the deadline', async () => {
    const r = await micro(['call', name, 'Greeter.Slow', '{"ms":5000}', '--timeout', '300ms'])
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(1)
    expect(JSON.parse(r.stderr)).toMatchObject({ code: 408, status: 'Request Timeout' })
  })

  it('unknown endpoint and service, bad JSON, unknown command: errors as JSON, non-zero exit', async () => {
    const unknown = await micro(['call', name, 'Greeter.Nope'])
    expect(unknown.code).toBe(1)
    expect(JSON.parse(unknown.stderr)).toMatchObject({ code: 404 })
    const missing = await micro(['call', uniqueName('nobody'), 'X.Y', '{}'])
    expect(JSON.parse(missing.stderr)).toMatchObject({ code: 404 })
    const badJson = await micro(['call', name, 'Greeter.Hello', '{nope'])
    expect(badJson.code).toBe(2)
    expect(JSON.parse(badJson.stderr)).toMatchObject({ id: 'go.micro.cli', code: 400 })
    const cmd = await micro(['frobnicate'])
    expect(cmd.code).toBe(2)
    expect(JSON.parse(cmd.stderr.trim().split('\n').pop() ?? '')).toMatchObject({
      id: 'go.micro.cli',
      code: 400,
    })
  })

  it('stream: each message sent, each answer a JSON line; a failure is the error JSON', async () => {
    const r = await micro(['stream', name, 'Greeter.Stream', '{"name":"a"}', '{"name":"b"}'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toBe('{"greeting":"Hello a"}\n{"greeting":"Hello b"}\n')
    const lines = await micro(['stream', name, 'Greeter.Stream'], {
      input: '{"name":"x"}\n{"name":"fail"}\n',
    })
    expect(lines.stdout).toBe('{"greeting":"Hello x"}\n')
    expect(lines.code).toBe(1)
    expect(JSON.parse(lines.stderr)).toMatchObject({ id: 'greeter', code: 400, detail: 'bad name fail' })
  })
})

describe.runIf(up)('micro broker', () => {
  it('subscribe prints what publish sends (the http broker, found through etcd)', async () => {
    const env = testEnv({ MICRO_BROKER: 'http' })
    const topic = uniqueName('cli.topic')
    const sub = new Running(['broker', 'subscribe', topic], env)
    await sub.waitFor(/subscribed to/, 30_000, 'stderr')
    const pub = await micro(['broker', 'publish', topic, '{"n":1}', '-H', 'k:v'], { env })
    expect(pub.code, pub.stderr).toBe(0)
    const [line] = await sub.waitFor(/\{"topic".*\n/)
    expect(JSON.parse(line)).toMatchObject({
      topic,
      body: { n: 1 },
      header: { k: 'v', 'Micro-Topic': topic },
    })
    expect(await sub.interrupt()).toBe(0)
  })
})

const REDIS = testAddress('redis', 'redis://127.0.0.1:6379')
const redisUp = await requireBackend(`Redis at ${REDIS}`, async () => {
  const { createConnection } = await import('node:net')
  const url = new URL(REDIS)
  await new Promise<void>((resolve, reject) => {
    const s = createConnection(Number(url.port || 6379), url.hostname, () => {
      s.end()
      resolve()
    })
    s.on('error', reject)
  })
})

describe.runIf(up && redisUp)('micro store (redis, through --store)', () => {
  it('write, read, list, delete', async () => {
    const args = ['--store', 'redis', '--store_address', REDIS, '--store_table', uniqueName('t')]
    const key = uniqueName('key')
    expect((await micro(['store', 'write', key, 'value 1', ...args])).code).toBe(0)
    expect((await micro(['store', 'read', key, ...args])).stdout).toBe('value 1\n')
    expect(JSON.parse((await micro(['store', 'list', '--json', ...args])).stdout)).toEqual([key])
    expect((await micro(['store', 'delete', key, ...args])).code).toBe(0)
    const gone = await micro(['store', 'read', key, ...args])
    expect(gone.code).toBe(1)
    expect(JSON.parse(gone.stderr)).toMatchObject({ code: 404 })
  })
})
