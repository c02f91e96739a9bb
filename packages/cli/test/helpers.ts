/**
 * What the CLI tests share: the shared etcd (every process finds every other there), the
 * `micro` binary run as a child process, and a greeter with schemas, a slow endpoint and a
 * stream, started in the test process.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { requireBackend, testAddress } from '@micro-ts/conformance/testing'
import {
  createService,
  errors,
  type HandlerContext,
  type MicroService,
  type RpcServerStream,
} from '@micro-ts/core'
import { z } from 'zod'

export const ETCD = testAddress('etcd', '127.0.0.1:2379')
export const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url))
export const OUTPUT_DIR = fileURLToPath(new URL('../.test-output/', import.meta.url))

export function etcdUp(): Promise<boolean> {
  return requireBackend(`etcd at ${ETCD}`, async () => {
    const res = await fetch(`http://${ETCD}/health`, { signal: AbortSignal.timeout(2000) })
    if (!res.ok) throw new Error(`etcd health: ${res.status}`)
  })
}

/**
 * The environment of every process a test starts: etcd as the registry (never mDNS outside a
 * namespace), loopback addresses only, and nothing from the developer's own MICRO_* variables.
 */
export function testEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('MICRO_')) env[k] = v
  return {
    ...env,
    MICRO_REGISTRY: 'etcd',
    MICRO_REGISTRY_ADDRESS: ETCD,
    MICRO_SERVER_ADDRESS: '127.0.0.1:0',
    MICRO_BROKER: 'memory',
    MICRO_LOG_LEVEL: 'warn',
    ...extra,
  }
}

export interface Result {
  code: number | null
  stdout: string
  stderr: string
}

/** Run `micro ARGS` to the end. */
export function micro(
  args: readonly string[],
  options: { env?: Record<string, string>; input?: string; cwd?: string } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: options.env ?? testEnv(),
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(options.input ?? '')
  })
}

/** A long-running `micro` (run, api, watch, subscribe) whose output can be waited on. */
export class Running {
  stdout = ''
  stderr = ''
  readonly child: ChildProcess
  readonly exited: Promise<number | null>

  constructor(args: readonly string[], env: Record<string, string> = testEnv(), cwd?: string) {
    this.child = spawn(process.execPath, [BIN, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    this.child.stdout?.on('data', (d: Buffer) => {
      this.stdout += d
    })
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d
    })
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)))
  }

  /** Resolves with the first match of `pattern` in stdout (or stderr), waiting up to `ms`. */
  async waitFor(
    pattern: RegExp,
    ms = 30_000,
    stream: 'stdout' | 'stderr' = 'stdout',
  ): Promise<RegExpMatchArray> {
    const until = Date.now() + ms
    for (;;) {
      const m = this[stream].match(pattern)
      if (m) return m
      if (this.child.exitCode !== null || Date.now() > until) {
        throw new Error(
          `no ${pattern} in ${stream} (exit ${this.child.exitCode}):\n${this.stdout}\n--- stderr\n${this.stderr}`,
        )
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  /** Ctrl-C (SIGINT, by PID), then the exit status. */
  async interrupt(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGINT')
    return this.exited
  }
}

export const HelloRequest = z.object({ name: z.string().min(1), times: z.number().int().optional() })

export class Greeter {
  async Hello(req: z.output<typeof HelloRequest>, ctx: HandlerContext) {
    return { greeting: `Hello ${req.name}`, header: ctx.headers['x-trace'] ?? null }
  }

  async Slow(req: { ms: number }, ctx: HandlerContext) {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, req.ms)
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(t)
        reject(ctx.signal.reason)
      })
    })
    return { slept: req.ms }
  }

  async Stream(stream: RpcServerStream<{ name: string }, { greeting: string }>) {
    for await (const msg of stream) {
      if (msg.name === 'fail') throw errors.badRequest('greeter', 'bad name fail')
      await stream.send({ greeting: `Hello ${msg.name}` })
    }
  }
}

export async function startGreeter(name: string, env: Record<string, string> = {}): Promise<MicroService> {
  const service = await createService({
    name,
    version: '1.0.0',
    env: testEnv({ MICRO_LOG_LEVEL: 'silent', ...env }),
  })
  service.handle(new Greeter(), {
    endpoints: {
      Hello: { request: HelloRequest, response: z.object({ greeting: z.string() }) },
      Stream: { stream: true },
    },
  })
  await service.start()
  return service
}
