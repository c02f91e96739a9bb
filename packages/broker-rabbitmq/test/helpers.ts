import { spawnSync } from 'node:child_process'
import { createServer, type Socket } from 'node:net'
import * as amqp from 'amqplib'

/** The server the tests use: `RABBITMQ_TEST_ADDRESS`, else the local RabbitMQ as guest. */
export const ADDRESS = process.env.RABBITMQ_TEST_ADDRESS || 'amqp://guest:guest@127.0.0.1:5672'

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
    if (process.env.CI) throw new Error(`${why}; CI is set, so this is a failure, not a skip`)
    console.warn(
      `\n!!! SKIPPING broker-rabbitmq tests: ${why}. Start RabbitMQ or set RABBITMQ_TEST_ADDRESS.\n`,
    )
    return false
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

/** Whether this machine can control the local RabbitMQ node (restart tests need it). */
export function canControlRabbitMQ(): boolean {
  try {
    rabbitmqctl('status')
    return true
  } catch {
    return false
  }
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
