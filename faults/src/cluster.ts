/**
 * Node processes of the suite's RPC service (src/node.ts) and a client that finds them: start
 * three on one transport, kill or drain one by PID, and see what the registry says.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import {
  type CallWrapper,
  createService,
  type MicroService,
  type SelectStrategy,
  silentLogger,
} from '@micro-ts/core'
import etcdRegistry from '@micro-ts/registry-etcd'
import grpcTransport from '@micro-ts/transport-grpc'

/** The transports every RPC scenario runs on. */
export const TRANSPORTS = ['http', 'tcp', 'grpc'] as const
export type TransportName = (typeof TRANSPORTS)[number]

// From src/ (tests) and dist/ alike: the compiled node.
const NODE_SCRIPT = fileURLToPath(new URL('../dist/node.js', import.meta.url))

export interface NodeOptions {
  /** The node's name, returned by every call it answers. */
  name: string
  service: string
  transport: TransportName
  /** etcd client URLs, comma separated. */
  etcd: string
  /** Registration TTL and refresh interval, ms. */
  ttlMs?: number
  intervalMs?: number
  env?: Record<string, string>
  /** Run the process under this command prefix (`ip netns exec <ns>`). */
  prefix?: readonly string[]
}

export class NodeProcess {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** performance.now() when this process saw the child exit. */
  exitedAt: number | undefined
  address = ''
  id = ''
  private output = ''

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitedAt = performance.now()
        resolve({ code, signal })
      }),
    )
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-8000)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** What the process printed (the last 8 KiB), for failure messages. */
  get log(): string {
    return this.output
  }

  /** Resolves once the node printed `ready <address> <id>`. */
  ready(timeoutMs = 30_000): Promise<this> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`node ${this.name} not ready within ${timeoutMs} ms: ${this.output}`)),
        timeoutMs,
      )
      const check = () => {
        const m = /ready (\S+) (\S+)/.exec(this.output)
        if (!m) return
        clearTimeout(timer)
        this.child.stdout?.off('data', check)
        this.address = m[1]
        this.id = m[2]
        resolve(this)
      }
      this.child.stdout?.on('data', check)
      this.exited.then(({ code, signal }) => {
        clearTimeout(timer)
        reject(new Error(`node ${this.name} exited (${code ?? signal}) before it was ready: ${this.output}`))
      })
      check()
    })
  }

  /** Send `signal` to this process (by PID). */
  signal(signal: NodeJS.Signals): void {
    if (this.running && this.child.pid) process.kill(this.child.pid, signal)
  }

  async stop(): Promise<void> {
    if (!this.running) return
    this.signal('SIGKILL')
    await this.exited
  }
}

export function spawnNode(options: NodeOptions): NodeProcess {
  const env: Record<string, string | undefined> = {
    ...process.env,
    FAULTS_NODE: options.name,
    MICRO_SERVER_NAME: options.service,
    MICRO_TRANSPORT: options.transport,
    MICRO_REGISTRY: 'etcd',
    MICRO_REGISTRY_ADDRESS: options.etcd,
    MICRO_SERVER_ADDRESS: '127.0.0.1:0',
    MICRO_REGISTER_TTL: `${Math.round((options.ttlMs ?? 10_000) / 1000)}s`,
    MICRO_REGISTER_INTERVAL: `${Math.max(1, Math.round((options.intervalMs ?? 3_000) / 1000))}s`,
    MICRO_LOG_LEVEL: 'warn',
    ...options.env,
  }
  // etcd reads ETCD_* variables as flags, and a test run may carry some.
  for (const k of Object.keys(env)) if (k.startsWith('ETCD_')) delete env[k]
  const prefix = options.prefix ?? []
  const argv = [...prefix, process.execPath, NODE_SCRIPT]
  const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] })
  return new NodeProcess(options.name, child)
}

/** Start `count` nodes named `<prefix>1..n` and wait until each is registered. */
export async function startNodes(
  count: number,
  options: Omit<NodeOptions, 'name'> & { prefix?: readonly string[]; namePrefix?: string },
): Promise<NodeProcess[]> {
  const nodes = Array.from({ length: count }, (_, i) =>
    spawnNode({ ...options, name: `${options.namePrefix ?? options.transport}-${i + 1}` }),
  )
  try {
    await Promise.all(nodes.map((n) => n.ready()))
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()))
    throw err
  }
  return nodes
}

export interface ClientOptions {
  transport: TransportName
  etcd: string
  selector?: SelectStrategy
  wrappers?: CallWrapper[]
  env?: Record<string, string>
}

/** A client-only service on `transport`, finding nodes through etcd. */
export function clientService(options: ClientOptions): Promise<MicroService> {
  return createService({
    name: 'faults.client',
    logger: silentLogger,
    plugins: [etcdRegistry, grpcTransport],
    selector: options.selector,
    wrappers: { call: options.wrappers ?? [] },
    env: {
      MICRO_BROKER: 'memory',
      MICRO_STORE: 'memory',
      MICRO_REGISTRY: 'etcd',
      MICRO_REGISTRY_ADDRESS: options.etcd,
      MICRO_TRANSPORT: options.transport,
      ...options.env,
    },
  })
}

/** Wait until the registry lists exactly `ids` for `service` (checked every 20 ms). */
export async function waitForNodes(
  client: MicroService,
  service: string,
  count: number,
  timeoutMs = 30_000,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ids = await client.registry
      .getService(service)
      .then((ss) => ss.flatMap((s) => s.nodes.map((n) => n.id)))
      .catch(() => [] as string[])
    if (ids.length === count) return ids
    if (Date.now() > deadline)
      throw new Error(
        `${service}: the registry lists ${ids.length} nodes, not ${count}, after ${timeoutMs} ms`,
      )
    await new Promise((r) => setTimeout(r, 20))
  }
}
