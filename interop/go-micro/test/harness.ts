/**
 * Test harness: runs the Go programs (bin/) and their TypeScript twins (dist/) as child
 * processes, reads their JSON lines, and provides the environments the scenarios need: a
 * private network namespace for mDNS, an etcd of our own, the NATS server on 127.0.0.1:4222.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as amqp from 'amqplib'
import protobuf from 'protobufjs'

export const HERE = dirname(dirname(fileURLToPath(import.meta.url)))
export const GO_BIN = join(HERE, 'bin')
export const TS_DIST = join(HERE, 'dist')
export const IN_CI = Boolean(process.env.CI)

export type Side = 'go' | 'ts'
export type Program = 'greeter' | 'client' | 'publisher' | 'subscriber' | 'registry-dump'

/** The command line of one of the interop programs on one side. */
export function program(side: Side, name: Program): [string, string[]] {
  return side === 'go' ? [join(GO_BIN, name), []] : [process.execPath, [join(TS_DIST, `${name}.js`)]]
}

/** Something that wraps a command so it runs in a particular network namespace. */
export interface Place {
  wrap(cmd: string, args: string[]): [string, string[]]
  env: Record<string, string>
}

export const HOST: Place = { wrap: (cmd, args) => [cmd, args], env: {} }

const live = new Set<Proc>()

/** A running program whose stdout is read as JSON lines. */
export class Proc {
  readonly lines: unknown[] = []
  readonly child: ChildProcess
  stderr = ''
  readonly exited: Promise<number | null>
  private waiters: (() => void)[] = []

  constructor(
    readonly label: string,
    cmd: string,
    args: string[],
    env: Record<string, string>,
  ) {
    this.child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    live.add(this)
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.lines.push(JSON.parse(line))
      } catch {
        this.lines.push(line)
      }
      for (const w of this.waiters.splice(0)) w()
    })
    this.child.stderr!.on('data', (b: Buffer) => {
      this.stderr = (this.stderr + b.toString()).slice(-20_000)
    })
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': 'exit' can come before the last stdout lines were read, and a
      // program's answer went missing under load.
      this.child.once('close', (code) => {
        live.delete(this)
        resolve(code)
        for (const w of this.waiters.splice(0)) w()
      })
    })
  }

  /** Wait for a stdout line matching `match`; throws with the program's stderr after `ms`. */
  async waitFor<T = Record<string, unknown>>(match: (line: T) => boolean, ms = 15_000): Promise<T> {
    const deadline = Date.now() + ms
    for (;;) {
      const hit = this.lines.find((l) => typeof l === 'object' && l !== null && match(l as T))
      if (hit) return hit as T
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `${this.label} exited (${this.child.exitCode ?? this.child.signalCode}) before the expected line.\nstdout: ${JSON.stringify(this.lines)}\nstderr: ${this.stderr}`,
        )
      }
      const left = deadline - Date.now()
      if (left <= 0)
        throw new Error(
          `${this.label}: expected line not seen in ${ms} ms.\nstdout: ${JSON.stringify(this.lines)}\nstderr: ${this.stderr}`,
        )
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200))
        this.waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
  }

  /** Wait until `count` lines match. */
  async waitForCount(
    match: (line: Record<string, unknown>) => boolean,
    count: number,
    ms = 15_000,
  ): Promise<void> {
    await this.waitFor(
      () =>
        this.lines.filter((l) => typeof l === 'object' && l !== null && match(l as Record<string, unknown>))
          .length >= count,
      ms,
    )
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.kill('SIGTERM')
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(t)
  }
}

/** Start a long-running program (greeter, subscriber, watcher). */
export function start(
  side: Side,
  name: Program,
  args: string[],
  place: Place,
  env: Record<string, string> = {},
): Proc {
  const [cmd, pre] = program(side, name)
  const [wcmd, wargs] = place.wrap(cmd, [...pre, ...args])
  return new Proc(`${side} ${name} ${args.join(' ')}`, wcmd, wargs, { ...place.env, ...env })
}

export interface RunResult {
  code: number | null
  lines: unknown[]
  stderr: string
}

/** Run a program to completion (client, publisher, registry-dump). */
export async function run(
  side: Side,
  name: Program,
  args: string[],
  place: Place,
  env: Record<string, string> = {},
  ms = 30_000,
): Promise<RunResult> {
  const p = start(side, name, args, place, env)
  const t = setTimeout(() => p.child.kill('SIGKILL'), ms)
  const code = await p.exited
  clearTimeout(t)
  return { code, lines: p.lines, stderr: p.stderr }
}

/** Stop every program still running (afterAll/afterEach). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()))
}

/**
 * A private network namespace whose only interface is a loopback with multicast on, so mDNS
 * never leaves on a real interface. A holder process keeps it alive; programs enter
 * it with nsenter.
 */
export class NetNs implements Place {
  readonly env: Record<string, string> = { MICRO_REGISTRY: 'mdns' }
  private constructor(
    private readonly holder: ChildProcess,
    private readonly rootless: boolean,
  ) {}

  static async create(): Promise<NetNs> {
    const rootless = process.getuid?.() !== 0
    const setup = [
      'set -e',
      'ip link set lo up',
      'ip link set lo multicast on',
      'ip route add 224.0.0.0/4 dev lo 2>/dev/null || true',
      'ip -6 route add ff00::/8 dev lo table local 2>/dev/null || true',
      'echo ready',
      'exec sleep 2147483647',
    ].join('\n')
    // unshare execs bash, which execs sleep: the holder's pid is the process inside the namespace.
    const holder = spawn('unshare', [...(rootless ? ['-r'] : []), '-n', '--', 'bash', '-c', setup], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let err = ''
    holder.stderr!.on('data', (b: Buffer) => {
      err += b.toString()
    })
    const ready = new Promise<void>((resolve, reject) => {
      holder.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && resolve())
      holder.once('exit', (code) =>
        reject(new Error(`could not create a network namespace (unshare exited ${code}): ${err}`)),
      )
      holder.once('error', reject)
    })
    await ready
    return new NetNs(holder, rootless)
  }

  wrap(cmd: string, args: string[]): [string, string[]] {
    const user = this.rootless ? ['-U', '--preserve-credentials'] : []
    return ['nsenter', ['-t', String(this.holder.pid), ...user, '-n', '--', cmd, ...args]]
  }

  async destroy(): Promise<void> {
    if (this.holder.exitCode !== null) return
    this.holder.kill('SIGKILL')
    await once(this.holder, 'exit')
  }
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const port = (srv.address() as { port: number }).port
  srv.close()
  await once(srv, 'close')
  return port
}

export async function reachable(host: string, port: number, ms = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port })
    const t = setTimeout(() => {
      s.destroy()
      resolve(false)
    }, ms)
    s.once('connect', () => {
      clearTimeout(t)
      s.end()
      resolve(true)
    })
    s.once('error', () => {
      clearTimeout(t)
      resolve(false)
    })
  })
}

function which(bin: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

/** Our own etcd on free loopback ports with a temporary data dir. */
export class Etcd {
  private constructor(
    private readonly proc: ChildProcess,
    private readonly dir: string,
    readonly address: string,
  ) {}

  static binary(): string | undefined {
    return which('etcd')
  }

  static async start(): Promise<Etcd> {
    const bin = Etcd.binary()
    if (!bin) throw new Error('etcd is not installed (Debian: apt-get install etcd-server)')
    const client = await freePort()
    const peer = await freePort()
    const dir = mkdtempSync(join(tmpdir(), 'interop-etcd-'))
    const proc = spawn(
      bin,
      [
        '--name',
        'interop',
        '--data-dir',
        join(dir, 'data'),
        '--listen-client-urls',
        `http://127.0.0.1:${client}`,
        '--advertise-client-urls',
        `http://127.0.0.1:${client}`,
        '--listen-peer-urls',
        `http://127.0.0.1:${peer}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${peer}`,
        '--initial-cluster',
        `interop=http://127.0.0.1:${peer}`,
      ],
      { stdio: 'ignore' },
    )
    const etcd = new Etcd(proc, dir, `127.0.0.1:${client}`)
    const deadline = Date.now() + 15_000
    while (!(await reachable('127.0.0.1', client, 300))) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        await etcd.stop()
        throw new Error(`etcd did not start on 127.0.0.1:${client}`)
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    return etcd
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null) {
      this.proc.kill('SIGTERM')
      await once(this.proc, 'exit')
    }
    rmSync(this.dir, { recursive: true, force: true })
  }
}

export const NATS_ADDRESS = process.env.INTEROP_NATS_ADDRESS ?? '127.0.0.1:4222'

/** The RabbitMQ both sides use (go-micro's rabbitmq broker only takes `amqp://` or `amqps://` URLs). */
export const RABBITMQ_ADDRESS = process.env.INTEROP_RABBITMQ_ADDRESS ?? 'amqp://guest:guest@127.0.0.1:5672'

/**
 * A plain AMQP connection of the test's own, beside the programs: it publishes probes as
 * go-micro's broker does, reads a queue's consumer count, and deletes the queues a test made.
 */
export class Rabbit {
  private constructor(
    private readonly conn: amqp.ChannelModel,
    private readonly channel: amqp.ConfirmChannel,
  ) {}

  static async connect(address = RABBITMQ_ADDRESS): Promise<Rabbit> {
    const conn = await amqp.connect(address, { timeout: 5_000 })
    conn.on('error', () => {})
    const channel = await conn.createConfirmChannel()
    channel.on('error', () => {})
    return new Rabbit(conn, channel)
  }

  /** Publish JSON to go-micro's exchange with go-micro's headers, and wait for RabbitMQ's confirm. */
  async publish(topic: string, body: unknown, exchange = 'micro'): Promise<void> {
    this.channel.publish(exchange, topic, Buffer.from(JSON.stringify(body)), {
      headers: { 'Content-Type': 'application/json', 'Micro-Topic': topic },
    })
    await this.channel.waitForConfirms()
  }

  /**
   * The queue's settings and consumer count, or undefined when it does not exist. A passive
   * declare of a missing queue closes the channel it ran on, so each look runs on a fresh one.
   */
  async queue(name: string): Promise<{ consumers: number; messages: number } | undefined> {
    const ch = await this.conn.createChannel()
    ch.on('error', () => {})
    try {
      const q = await ch.checkQueue(name)
      return { consumers: q.consumerCount, messages: q.messageCount }
    } catch {
      return undefined
    } finally {
      await ch.close().catch(() => {})
    }
  }

  /** Wait until queue `name` has at least `count` consumers. */
  async waitForConsumers(name: string, count: number, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms
    for (;;) {
      const q = await this.queue(name)
      if ((q?.consumers ?? 0) >= count) return
      if (Date.now() > deadline)
        throw new Error(`queue ${name}: ${q ? `${q.consumers} consumer(s)` : 'missing'}, expected ${count}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  /**
   * Bind a queue of the test's own (exclusive, server-named) to `topic` on go-micro's exchange
   * and collect what arrives, as RabbitMQ delivers it: body bytes, headers and properties.
   */
  async tap(topic: string, exchange = 'micro'): Promise<amqp.ConsumeMessage[]> {
    const got: amqp.ConsumeMessage[] = []
    const ch = await this.conn.createChannel()
    ch.on('error', () => {})
    const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true })
    await ch.bindQueue(queue, exchange, topic)
    await ch.consume(queue, (m) => m && got.push(m), { noAck: true })
    return got
  }

  /** Declare `name` as go-micro's rabbitmq broker declares a queue group's queue by default. */
  async declareAsGoMicro(name: string): Promise<void> {
    const ch = await this.conn.createChannel()
    ch.on('error', () => {})
    try {
      // broker/rabbitmq/channel.go DeclareQueue: durable false, autoDelete true, exclusive false.
      await ch.assertQueue(name, { durable: false, autoDelete: true, exclusive: false })
    } finally {
      await ch.close().catch(() => {})
    }
  }

  /** Delete queues (missing ones are fine). */
  async deleteQueues(...names: string[]): Promise<void> {
    for (const name of names) {
      const ch = await this.conn.createChannel()
      ch.on('error', () => {})
      await ch.deleteQueue(name).catch(() => {})
      await ch.close().catch(() => {})
    }
  }

  async close(): Promise<void> {
    await this.conn.close().catch(() => {})
  }
}

/** Why RabbitMQ at `address` cannot be used, or undefined when it answers and takes the credentials. */
async function rabbitProblem(address = RABBITMQ_ADDRESS): Promise<string | undefined> {
  try {
    const r = await Rabbit.connect(address)
    await r.close()
    return undefined
  } catch (err) {
    return `RabbitMQ at ${address.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')} (${(err as Error).message})`
  }
}

/**
 * What a suite needs before it can run. On a laptop a missing piece skips the suite with a loud
 * message; in CI (CI set) it fails instead, so CI never passes by skipping.
 */
export async function missingPrerequisites(needs: {
  etcd?: boolean
  nats?: boolean
  netns?: boolean
  rabbitmq?: boolean
}): Promise<string[]> {
  const missing: string[] = []
  if (!existsSync(join(GO_BIN, 'greeter')))
    missing.push('the Go programs (is `go` installed? run `node interop/go-micro/build.mjs`)')
  if (!existsSync(join(TS_DIST, 'greeter.js')))
    missing.push('the TypeScript programs (run `pnpm --filter @micro-ts/interop-go-micro build`)')
  if (needs.etcd && !Etcd.binary()) missing.push('etcd (apt-get install etcd-server)')
  if (needs.nats) {
    const [host, port] = NATS_ADDRESS.split(':')
    if (!(await reachable(host, Number(port)))) missing.push(`a NATS server on ${NATS_ADDRESS}`)
  }
  if (needs.rabbitmq) {
    const problem = await rabbitProblem()
    if (problem) missing.push(problem)
  }
  if (needs.netns && (!which('unshare') || !which('nsenter')))
    missing.push('unshare and nsenter (util-linux)')
  return missing
}

/** A short random tag that keeps names and topics of one run apart from any other. */
export function runTag(): string {
  return Math.random().toString(36).slice(2, 8)
}

/** go-micro's transport message (`transport/grpc/proto/transport.proto`). */
const TransportMessage = new protobuf.Type('Message')
  .add(new protobuf.MapField('header', 1, 'string', 'string'))
  .add(new protobuf.Field('body', 2, 'bytes'))
new protobuf.Root().add(TransportMessage)

export interface CapturedMessage {
  header: Record<string, string>
  body: string
}

/** One call of `go.micro.transport.grpc.Transport/Stream` as the capture server saw it. */
export interface CapturedCall {
  metadata: Record<string, string>
  messages: CapturedMessage[]
  /** How the client ended it: half-close (`end`), `cancelled`, or still open. */
  ended?: 'end' | 'cancelled'
}

/**
 * A gRPC server of the test's own on 127.0.0.1 that speaks go-micro's transport service with raw
 * bytes, decodes every frame as `Message {header, body}` and records it, and answers each
 * message that is not an EOS with `{"greeting":"Hello cap"}`: what a client of either side
 * puts on the wire, without our transport's code on the receiving end.
 */
export class GrpcCapture {
  readonly calls: CapturedCall[] = []
  private constructor(
    private readonly server: grpc.Server,
    readonly address: string,
  ) {}

  static async start(): Promise<GrpcCapture> {
    const server = new grpc.Server()
    const raw = (b: Buffer) => b
    const path = '/go.micro.transport.grpc.Transport/Stream'
    let capture: GrpcCapture | undefined
    server.addService(
      {
        Stream: {
          path,
          requestStream: true,
          responseStream: true,
          requestSerialize: raw,
          requestDeserialize: raw,
          responseSerialize: raw,
          responseDeserialize: raw,
          originalName: 'Stream',
        },
      },
      {
        Stream: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
          const rec: CapturedCall = { metadata: {}, messages: [] }
          for (const [k, v] of Object.entries(call.metadata.getMap())) rec.metadata[k] = String(v)
          capture?.calls.push(rec)
          call.on('data', (buf: Buffer) => {
            const m = TransportMessage.toObject(TransportMessage.decode(buf), { bytes: String }) as {
              header?: Record<string, string>
              body?: string
            }
            const header = m.header ?? {}
            rec.messages.push({ header, body: Buffer.from(m.body ?? '', 'base64').toString() })
            if (header['Micro-Error'] === 'EOS') return
            const reply = TransportMessage.encode(
              TransportMessage.fromObject({
                header: { 'Content-Type': 'application/json' },
                body: Buffer.from('{"greeting":"Hello cap"}'),
              }),
            ).finish()
            call.write(Buffer.from(reply))
          })
          call.on('end', () => {
            rec.ended ??= 'end'
            call.end()
          })
          call.on('cancelled', () => {
            rec.ended ??= 'cancelled'
          })
          call.on('error', () => {})
        },
      },
    )
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    )
    capture = new GrpcCapture(server, `127.0.0.1:${port}`)
    return capture
  }

  stop(): void {
    this.server.forceShutdown()
  }
}

// ---- consul (new exports for test/consul.test.ts) -------------------------------------------

const REPO = join(HERE, '..', '..')

/**
 * Our own Consul agent: the v1.14.8 binary scripts/servers/consul.sh builds from the Go module
 * proxy, as a -dev agent on free loopback ports (DNS, gRPC and HTTPS off, no update check).
 */
export class Consul {
  private constructor(
    private readonly proc: ChildProcess,
    readonly address: string,
  ) {}

  /** The cached agent binary, or undefined when scripts/servers/consul.sh has not built it. */
  static binary(): string | undefined {
    try {
      const bin = execFileSync('bash', [join(REPO, 'scripts', 'servers', 'consul.sh'), 'path'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim()
      return bin && existsSync(bin) ? bin : undefined
    } catch {
      return undefined
    }
  }

  static async start(): Promise<Consul> {
    const bin = Consul.binary()
    if (!bin) throw new Error('no Consul agent binary (bash scripts/servers/consul.sh build)')
    const [http, server, serf] = [await freePort(), await freePort(), await freePort()]
    const ports = `http = ${http}, https = -1, grpc = -1, grpc_tls = -1, dns = -1, server = ${server}, serf_lan = ${serf}, serf_wan = -1`
    const proc = spawn(
      bin,
      [
        'agent',
        '-dev',
        '-bind',
        '127.0.0.1',
        '-client',
        '127.0.0.1',
        '-node',
        `interop-${http}`,
        '-log-level',
        'warn',
        '-hcl',
        `ports { ${ports} }`,
        '-hcl',
        'disable_update_check = true',
      ],
      { stdio: 'ignore' },
    )
    const consul = new Consul(proc, `127.0.0.1:${http}`)
    const deadline = Date.now() + 20_000
    while (!(await consul.hasLeader())) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        await consul.stop()
        throw new Error(`consul did not start on 127.0.0.1:${http}`)
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    return consul
  }

  private async hasLeader(): Promise<boolean> {
    try {
      const res = await fetch(`http://${this.address}/v1/status/leader`, {
        signal: AbortSignal.timeout(1_000),
      })
      return res.ok && ((await res.json()) as string) !== ''
    } catch {
      return false
    }
  }

  /** GET a path of the agent's HTTP API as JSON. */
  async get<T>(path: string): Promise<T> {
    const res = await fetch(`http://${this.address}${path}`)
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`)
    return (await res.json()) as T
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM')
      await once(this.proc, 'exit')
    }
  }
}

/**
 * Build @micro-ts/registry-consul (incremental) and return its entry. The TypeScript programs
 * find it as `MICRO_REGISTRY=consul`; a path to this entry selects it too.
 */
export function consulPlugin(): string {
  const pkg = join(REPO, 'packages', 'registry-consul')
  // Incremental: next to nothing when the build is current.
  const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc')
  execFileSync(process.execPath, [tsc, '-b', pkg], { stdio: 'inherit' })
  return join(pkg, 'dist', 'index.js')
}
