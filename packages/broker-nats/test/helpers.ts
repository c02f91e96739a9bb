/**
 * What this package's test files share: where the shared NATS is (and whether it answers), the
 * fixture certificates, and small message helpers. Servers, probes and assertions come from
 * `@micro-ts/conformance/testing`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { requireBackend, testAddress, uniqueName } from '@micro-ts/conformance/testing'
import type { BrokerEvent, BrokerMessage } from '@micro-ts/core'
import { connect } from 'nats'

/** `MICRO_TEST_NATS_ADDRESS`, else where scripts/backends.sh starts NATS with JetStream. */
export const SHARED_ADDRESS = testAddress('nats', '127.0.0.1:4222')

/** Resolves true when the shared NATS answers a real connection (skip loudly, or fail under CI). */
export function sharedNats(): Promise<boolean> {
  return requireBackend(`NATS at ${SHARED_ADDRESS}`, async () => {
    const nc = await connect({ servers: SHARED_ADDRESS, timeout: 2000, reconnect: false })
    await nc.close()
  })
}

/** Test certificates: a CA, a server certificate for 127.0.0.1, a client certificate. */
export const tlsFile = (name: string) =>
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'tls', name)

/** A topic no other test or run uses; its first token is its own (JetStream makes a stream per first token). */
export function topic(tag: string): string {
  return `${uniqueName('t')}.${tag}`
}

export const text = (e: BrokerEvent) => Buffer.from(e.message.body).toString()

export const msg = (body: string, headers: Record<string, string> = {}): BrokerMessage => ({
  headers,
  body: Buffer.from(body),
})

export const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The state letter of every thread of `pid`, from its /proc task list (`T` is stopped). */
function threadStates(pid: number): string {
  return readdirSync(`/proc/${pid}/task`)
    .map((task) => {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8')
        return stat[stat.lastIndexOf(')') + 2] // the process name may hold ')'
      } catch {
        return '' // the thread ended meanwhile
      }
    })
    .join('')
}

/**
 * SIGSTOP `pid` and wait until every thread of it has stopped. kill() returns before that: Linux
 * wakes one thread to take the signal, and only when it runs does it stop the others, which under
 * load go on reading and answering for milliseconds (a PING sent right after the kill got its
 * PONG in 9 of 40 tries here). Without /proc (not Linux) it waits a fixed half second.
 */
export async function suspend(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP')
  if (!existsSync(`/proc/${pid}/task`)) {
    await pause(500)
    return
  }
  const deadline = Date.now() + 10_000
  while (/[^Tt]/.test(threadStates(pid))) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not stop within 10 s of SIGSTOP`)
    await pause(2)
  }
}
