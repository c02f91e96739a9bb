/**
 * What the logs say: the service's name on every line, a handler crash with its endpoint, error
 * and stack, backend failures (5xx) with their cause, a request line at debug; JSON for
 * collectors, pretty for a terminal.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError, createLogger, readEnv } from '../src/index.js'

const fixture = fileURLToPath(new URL('./fixtures/logging-service.mjs', import.meta.url))
const running: ChildProcess[] = []
afterEach(() => {
  for (const p of running.splice(0)) if (p.exitCode === null) p.kill('SIGKILL')
})

interface Run {
  stderr: string
  lines: Record<string, unknown>[]
}

/** Start the fixture, call each endpoint over plain HTTP, stop it with SIGTERM, return its stderr. */
async function run(env: Record<string, string>, endpoints: string[]): Promise<Run> {
  const child = spawn(process.execPath, [fixture], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.push(child)
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  const address = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /ready (\S+)/.exec(out)
      if (m) resolve(m[1])
    })
    exited.then((code) => reject(new Error(`fixture exited (${code}): ${stderr}`)))
  })
  for (const endpoint of endpoints) {
    const res = await fetch(`http://${address}/`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'Micro-Service': 'logging.svc',
        'Micro-Endpoint': endpoint,
      },
      body: '{}',
    })
    await res.arrayBuffer()
  }
  child.kill('SIGTERM')
  expect(await exited).toBe(0)
  const lines = stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
  return { stderr, lines }
}

describe('service logs', () => {
  it('name the service, and log a crash with endpoint, error and stack', async () => {
    const { lines } = await run({}, ['Greeter.Hello', 'Greeter.Crash'])
    expect(lines.length).toBeGreaterThan(0)
    for (const line of lines) expect(line.name).toBe('logging.svc')
    const crash = lines.find((l) => l.endpoint === 'Greeter.Crash')
    expect(crash).toMatchObject({ level: 50, service: 'logging.svc', code: 500 })
    const err = crash?.err as { type: string; message: string; stack: string }
    expect(err.type).toBe('TypeError')
    expect(err.message).toMatch(/field/)
    // The stack points into the handler.
    expect(err.stack).toContain('logging-service.mjs')
    expect(String(crash?.msg)).toContain('Greeter.Crash')
    const started = lines.find((l) => l.msg === 'server started')
    expect(started?.endpoints).toEqual(['Greeter.Crash', 'Greeter.Hello', 'Greeter.Unavailable'])
  })

  it('log a backend failure (503) with its cause, and each request at debug', async () => {
    const { lines } = await run({ MICRO_LOG_LEVEL: 'debug' }, ['Greeter.Hello', 'Greeter.Unavailable'])
    const failure = lines.find((l) => l.endpoint === 'Greeter.Unavailable' && l.level === 40)
    expect(failure).toMatchObject({ code: 503, id: 'logging.db', detail: 'database unreachable' })
    expect((failure?.err as { message?: string } | undefined)?.message).toContain('ECONNREFUSED')
    const requests = lines.filter((l) => l.msg === 'request')
    expect(requests).toEqual([
      expect.objectContaining({ level: 20, endpoint: 'Greeter.Hello', code: 200, ms: expect.any(Number) }),
      expect.objectContaining({ level: 20, endpoint: 'Greeter.Unavailable', code: 503 }),
    ])
    // Every setting's source at debug.
    expect(lines.find((l) => l.settings)?.settings).toMatchObject({
      logLevel: { value: 'debug', source: 'MICRO_LOG_LEVEL' },
    })
  })

  it('pretty for a terminal (MICRO_LOG_FORMAT=pretty, or a TTY), JSON otherwise', async () => {
    const { stderr } = await run({ MICRO_LOG_FORMAT: 'pretty', NO_COLOR: '1' }, ['Greeter.Crash'])
    expect(stderr).not.toMatch(/^\{/m)
    expect(stderr).toMatch(/ERROR.*\(logging\.svc/)
    expect(stderr).toContain('TypeError')

    const collect = (tty: boolean) => {
      const stream = new PassThrough() as PassThrough & { isTTY?: boolean }
      if (tty) stream.isTTY = true
      let text = ''
      stream.on('data', (d: Buffer) => {
        text += d.toString()
      })
      return { stream, text: () => text }
    }
    const terminal = collect(true)
    createLogger('info', 'svc', { destination: terminal.stream }).info({ a: 1 }, 'hello')
    const pipe = collect(false)
    createLogger('info', 'svc', { destination: pipe.stream }).info({ a: 1 }, 'hello')
    await new Promise((resolve) => setImmediate(resolve))
    expect(terminal.text()).toContain('INFO')
    expect(terminal.text()).toContain('hello')
    expect(JSON.parse(pipe.text())).toMatchObject({ name: 'svc', msg: 'hello', a: 1 })
    expect(() => readEnv({ MICRO_LOG_FORMAT: 'xml' })).toThrow(ConfigError)
  })
})
