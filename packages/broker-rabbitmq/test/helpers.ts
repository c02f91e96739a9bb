/**
 * What this package's test files share: where the shared RabbitMQ is (and whether it answers),
 * plain AMQP clients for setup and checks, and a proxy a test can cut. Servers, probes,
 * assertions and the recording logger come from `@micro-ts/conformance/testing`.
 */
import { connect, createServer, type Socket } from 'node:net'
import { requireBackend, testAddress } from '@micro-ts/conformance/testing'
import { silentLogger } from '@micro-ts/core'
import * as amqp from 'amqplib'
import { afterAll, afterEach } from 'vitest'
import { createRabbitMQBroker, type RabbitMQBroker, type RabbitMQBrokerOptions } from '../src/index.js'

/** `MICRO_TEST_RABBITMQ_ADDRESS`, else where scripts/backends.sh starts RabbitMQ (guest/guest). */
export const ADDRESS = testAddress('rabbitmq', 'amqp://guest:guest@127.0.0.1:5672')

/** A real AMQP connection to `address` (throws when it cannot be opened). */
export async function ping(address = ADDRESS): Promise<void> {
  const c = await amqp.connect(address, { timeout: 3000 })
  await c.close()
}

/** Resolves true when the shared RabbitMQ answers (skip loudly, or fail under CI). */
export function sharedRabbitMQ(): Promise<boolean> {
  return requireBackend(`RabbitMQ at ${ADDRESS}`, () => ping())
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
export const text = (b: Uint8Array): string => new TextDecoder().decode(b)

/**
 * A factory of silent brokers on `address()`, each disconnected after its test. Call it at the
 * top of a file or a `describe` (it registers the `afterEach`).
 */
export function testBrokers(
  address: () => string = () => ADDRESS,
): (options?: RabbitMQBrokerOptions) => RabbitMQBroker {
  const made: RabbitMQBroker[] = []
  afterEach(async () => {
    await Promise.allSettled(made.splice(0).map((b) => b.disconnect()))
  })
  return (options = {}) => {
    const b = createRabbitMQBroker({ address: address(), logger: silentLogger, ...options })
    made.push(b)
    return b
  }
}

/**
 * Names for queues a test file creates on the shared server (queue groups, with their retry
 * queues), deleted after the file when `enabled()`.
 */
export function testQueues(enabled: () => boolean): {
  add(name: string): string
  group(name: string): string
} {
  const names: string[] = []
  afterAll(async () => {
    if (enabled()) await deleteQueues(names)
  })
  return {
    add(name) {
      names.push(name)
      return name
    },
    group(name) {
      names.push(name, `${name}.micro-retry`)
      return name
    },
  }
}

/** Run `fn` on a plain channel of a connection of its own (setup, checks, cleanup). */
export async function withChannel<T>(fn: (ch: amqp.Channel) => Promise<T>, address = ADDRESS): Promise<T> {
  const c = await amqp.connect(address)
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
    private readonly targetPort = Number(new URL(ADDRESS).port || 5672),
    private readonly targetHost = new URL(ADDRESS).hostname,
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
