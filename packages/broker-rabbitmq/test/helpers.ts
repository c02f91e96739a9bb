import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as amqp from 'amqplib'

/** The server the tests use: `RABBITMQ_TEST_ADDRESS`, else the local RabbitMQ as guest. */
export const ADDRESS = process.env.RABBITMQ_TEST_ADDRESS || 'amqp://guest:guest@127.0.0.1:5672'

/** True when `CI` is set to anything but an empty string, `0` or `false` (as the conformance suites read it). */
export function inCI(): boolean {
  const ci = process.env.CI
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false'
}

/**
 * Whether the test server answers. When it does not, the suite is skipped with a loud message on
 * a developer's machine, and fails when `CI` is set: CI never passes by skipping.
 */
export async function serverReachable(address = ADDRESS): Promise<boolean> {
  try {
    const c = await amqp.connect(address, { timeout: 3000 })
    await c.close()
    return true
  } catch (err) {
    const why = `RabbitMQ at ${address} is unreachable (${(err as Error).message})`
    if (inCI()) throw new Error(`${why}; CI is set, so this is a failure, not a skip`)
    console.warn(
      `\n!!! SKIPPING broker-rabbitmq tests: ${why}. Start RabbitMQ or set RABBITMQ_TEST_ADDRESS.\n`,
    )
    return false
  }
}

/** For the conformance suite: false when the server answers, else the reason to skip (the suite fails it under CI). */
export async function probe(address = ADDRESS): Promise<string | false> {
  try {
    const c = await amqp.connect(address, { timeout: 3000 })
    await c.close()
    return false
  } catch (err) {
    return `RabbitMQ at ${address} is unreachable (${(err as Error).message})`
  }
}

/** Run `fn` on a plain channel of a connection of its own (setup, checks, cleanup). */
export async function withChannel<T>(fn: (ch: amqp.Channel) => Promise<T>): Promise<T> {
  const c = await amqp.connect(ADDRESS)
  c.on('error', () => {})
  try {
    const ch = await c.createChannel()
    ch.on('error', () => {})
    return await fn(ch)
  } finally {
    await c.close().catch(() => {})
  }
}

/** Publish as a plain AMQP client would (go-micro's broker, say), waiting for RabbitMQ's confirm. */
export async function rawPublish(
  exchange: string,
  routingKey: string,
  content: Buffer,
  options: amqp.Options.Publish = {},
): Promise<void> {
  const c = await amqp.connect(ADDRESS)
  try {
    const ch = await c.createConfirmChannel()
    ch.publish(exchange, routingKey, content, options)
    await ch.waitForConfirms()
  } finally {
    await c.close().catch(() => {})
  }
}

/** Delete queues (missing ones are fine). */
export async function deleteQueues(names: readonly string[]): Promise<void> {
  for (const name of names) {
    await withChannel((ch) => ch.deleteQueue(name)).catch(() => {})
  }
}

/** `rabbitmqctl` with arguments; throws with its output when it fails. */
export function rabbitmqctl(...args: string[]): string {
  const r = spawnSync('rabbitmqctl', args, { encoding: 'utf8', timeout: 60_000 })
  if (r.status !== 0)
    throw new Error(`rabbitmqctl ${args.join(' ')} failed: ${r.stderr || r.stdout || r.error}`)
  return r.stdout
}

/** A TCP server that accepts connections and never says a word: a server that hangs. */
export async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/**
 * A TCP proxy in front of RabbitMQ that a test can cut: `cut()` drops every connection and stops
 * listening (an outage as the broker sees it, RabbitMQ itself untouched); `restore()` listens
 * again on the same port.
 */
export class CuttableProxy {
  private server: ReturnType<typeof createServer> | undefined
  private readonly sockets = new Set<Socket>()
  port = 0

  constructor(
    private readonly targetPort = 5672,
    private readonly targetHost = '127.0.0.1',
  ) {}

  address(user = 'guest:guest'): string {
    return `amqp://${user}@127.0.0.1:${this.port}`
  }

  async restore(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost)
      this.sockets.add(client)
      this.sockets.add(upstream)
      const drop = () => {
        client.destroy()
        upstream.destroy()
        this.sockets.delete(client)
        this.sockets.delete(upstream)
      }
      client.on('error', drop).on('close', drop)
      upstream.on('error', drop).on('close', drop)
      client.pipe(upstream)
      upstream.pipe(client)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.port, '127.0.0.1', () => resolve())
    })
    this.port = (server.address() as { port: number }).port
    this.server = server
  }

  async cut(): Promise<void> {
    const server = this.server
    this.server = undefined
    for (const s of this.sockets) s.destroy()
    this.sockets.clear()
    if (server) await new Promise((resolve) => server.close(resolve))
  }

  /** Drop the open connections but keep listening: a connection reset, reconnecting at once. */
  reset(): void {
    for (const s of this.sockets) s.destroy()
    this.sockets.clear()
  }
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

const SERVER_SCRIPT = '/usr/lib/rabbitmq/bin/rabbitmq-server'

/** The private node's `max_message_size`, small so a test can exceed it cheaply. */
export const PRIVATE_MAX_MESSAGE_SIZE = 2 * 1024 * 1024

/**
 * A private RabbitMQ node (its own name, ports, data directory and Erlang cookie) for the tests
 * that stop and start a server, so the shared one and other test files are never disturbed.
 */
export class PrivateRabbitMQ {
  private child: ChildProcess | undefined

  private constructor(
    readonly port: number,
    private readonly distPort: number,
    private readonly dir: string,
    private readonly node: string,
  ) {}

  static available(): boolean {
    return (existsSync(SERVER_SCRIPT) || which('rabbitmq-server')) && which('rabbitmqctl')
  }

  static async create(): Promise<PrivateRabbitMQ> {
    const dir = mkdtempSync(join(tmpdir(), 'micro-rmq-'))
    const port = await freePort()
    const server = new PrivateRabbitMQ(port, await freePort(), dir, `micro-test-${port}@localhost`)
    writeFileSync(
      join(dir, 'rabbitmq.conf'),
      `listeners.tcp.local = 127.0.0.1:${port}\nloopback_users = none\nmax_message_size = ${PRIVATE_MAX_MESSAGE_SIZE}\n`,
    )
    writeFileSync(join(dir, 'enabled_plugins'), '[].\n')
    await server.boot()
    return server
  }

  get address(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`
  }

  private async boot(): Promise<void> {
    const d = this.dir
    // The script itself, not /usr/sbin's wrapper, which would switch to the rabbitmq user.
    this.child = spawn(existsSync(SERVER_SCRIPT) ? SERVER_SCRIPT : 'rabbitmq-server', [], {
      stdio: 'ignore',
      env: {
        PATH: process.env.PATH,
        HOME: d,
        RABBITMQ_NODENAME: this.node,
        RABBITMQ_NODE_PORT: String(this.port),
        RABBITMQ_DIST_PORT: String(this.distPort),
        RABBITMQ_MNESIA_BASE: join(d, 'mnesia'),
        RABBITMQ_LOG_BASE: join(d, 'log'),
        RABBITMQ_CONFIG_FILE: join(d, 'rabbitmq'),
        RABBITMQ_ENABLED_PLUGINS_FILE: join(d, 'enabled_plugins'),
        RABBITMQ_PID_FILE: join(d, 'pid'),
        ERL_EPMD_ADDRESS: '127.0.0.1',
      },
    })
    await this.waitListening(true, 60_000)
  }

  private async waitListening(up: boolean, timeout: number): Promise<void> {
    const deadline = Date.now() + timeout
    while ((await listening(this.port)) !== up) {
      if (Date.now() > deadline)
        throw new Error(`private RabbitMQ did not ${up ? 'start' : 'stop'} in ${timeout}ms`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }

  private ctl(...args: string[]): string {
    const cookie = readFileSync(join(this.dir, '.erlang.cookie'), 'utf8').trim()
    return rabbitmqctl('--erlang-cookie', cookie, '-n', this.node, ...args)
  }

  /** Stop the RabbitMQ application (every connection closes; the node keeps running). */
  async stopApp(): Promise<void> {
    this.ctl('stop_app')
    await this.waitListening(false, 30_000)
  }

  /** Start it again; retried while the old listener still holds the port. */
  async startApp(): Promise<void> {
    const deadline = Date.now() + 60_000
    for (;;) {
      try {
        this.ctl('start_app')
        break
      } catch (err) {
        if (Date.now() > deadline) throw err
        await new Promise((r) => setTimeout(r, 500))
      }
    }
    await this.waitListening(true, 30_000)
  }

  async destroy(): Promise<void> {
    try {
      this.ctl('stop')
    } catch {
      this.child?.kill('SIGKILL')
    }
    const child = this.child
    if (child && child.exitCode === null) await new Promise((r) => child.once('exit', r))
    rmSync(this.dir, { recursive: true, force: true })
  }
}
