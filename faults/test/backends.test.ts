/**
 * RabbitMQ, PostgreSQL, MariaDB (the MySQL store) and Redis, each a private server of the
 * testing kit, restarted (SIGKILL — SIGQUIT for PostgreSQL, its crash-like stop — 2 s down, then
 * started on the same port with the same data) under a steady loop of writes or confirmed
 * publishes. During the outage every failure must be a clear MicroError; afterwards the loop
 * must work again; and everything acknowledged before, during or after must still be there.
 * The shared servers are never touched.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { createRabbitMQBroker } from '@micro-ts/broker-rabbitmq'
import type { PrivateServer } from '@micro-ts/conformance/testing'
import { requireThat } from '@micro-ts/conformance/testing'
import { MariaDBServer } from '@micro-ts/conformance/testing/mariadb'
import { PostgresServer } from '@micro-ts/conformance/testing/postgres'
import { RabbitMQServer } from '@micro-ts/conformance/testing/rabbitmq'
import { RedisServer } from '@micro-ts/conformance/testing/redis'
import { type Store, silentLogger } from '@micro-ts/core'
import { createMySQLStore } from '@micro-ts/store-mysql'
import { createPostgresStore } from '@micro-ts/store-postgres'
import { createRedisStore } from '@micro-ts/store-redis'
import { afterEach, describe, expect, it } from 'vitest'
import { fmt, recordFigure } from '../src/figures.js'
import { type Op, outage, steady } from '../src/steady.js'

const DOWN_MS = 2000
const BEFORE_MS = 2000
const AFTER_MS = 4000
/** How long the loop may take to work again once the server is back (a client's reconnect back-off). */
const RECOVER_MS = 30_000
const BOUND = 'clear errors while down; works again after; nothing acknowledged lost'

const servers: PrivateServer[] = []
const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c().catch(() => {})
  for (const s of servers.splice(0)) await s.stop()
})

const bytes = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

/** Steady loop, restart in the middle, stop; what happened, and the acknowledged sequence numbers. */
async function underRestart(server: PrivateServer, op: (seq: number) => Promise<void>) {
  const stop = new AbortController()
  const noted: Op[] = []
  const looping = steady(op, stop.signal, 5, noted)
  await sleep(BEFORE_MS)
  const downAt = performance.now()
  await server.kill()
  await sleep(DOWN_MS)
  await server.start()
  const upAt = performance.now()
  await sleep(AFTER_MS)
  // A client still backing off its reconnect works again later: wait for it (bounded), then a
  // while more, so "works again" is a run of successes and not one.
  const until = performance.now() + RECOVER_MS
  while (!noted.some((o) => o.ok && o.t0 >= downAt) && performance.now() < until) await sleep(100)
  await sleep(1000)
  stop.abort()
  const ops = await looping
  return { ops, downAt, upAt, acked: ops.filter((o) => o.ok).map((o) => o.seq) }
}

function report(
  subject: string,
  id: string,
  r: { ops: Op[]; downAt: number; upAt: number },
  lost: number,
  what: string,
) {
  const o = outage(r.ops, id, r.downAt, r.upAt)
  const holds = o.unclear.length === 0 && Number.isFinite(o.recoveryMs) && lost === 0
  recordFigure({
    scenario: 'backend restarted under a steady loop',
    subject,
    measured:
      `${fmt(r.ops.length)} ${what}; down ${fmt(r.upAt - r.downAt)} ms (kill to ready): ${o.failed} failed ` +
      `(${o.codes}; ${o.unclear.length} unclear), longest ${fmt(o.longestMs)} ms; working again ${fmt(o.recoveryMs)} ms ` +
      `after it was ready; ${lost} acknowledged lost`,
    bound: BOUND,
    holds,
    values: {
      ops: r.ops.length,
      failed: o.failed,
      unclear: o.unclear.length,
      recoveryMs: o.recoveryMs,
      lost,
      downMs: r.upAt - r.downAt,
      longestMs: o.longestMs,
    },
  })
  expect(o.unclear.map((u) => u.raw ?? `${u.error?.id} ${u.error?.code} ${u.error?.detail}`)).toEqual([])
  expect(o.failed).toBeGreaterThan(0) // the restart was noticed
  expect(Number.isFinite(o.recoveryMs)).toBe(true)
  expect(lost).toBe(0)
}

/** Write `k<seq>` in a loop across a restart; then read back every acknowledged key. */
async function storeUnderRestart(subject: string, server: PrivateServer, store: Store) {
  closers.push(() => store.close())
  const r = await underRestart(server, (seq) => store.write({ key: `k${seq}`, value: bytes(`v${seq}`) }))
  let lost = 0
  for (const seq of r.acked) {
    const rec = await store.read(`k${seq}`)
    if (rec.length !== 1 || text(rec[0].value) !== `v${seq}`) lost++
  }
  report(subject, 'go.micro.store', r, lost, 'writes')
}

describe('backends restarted under steady loops', () => {
  it.runIf(
    requireThat(PostgresServer.unavailable() === undefined, `PostgreSQL: ${PostgresServer.unavailable()}`),
  )('PostgreSQL', async () => {
    const server = await PostgresServer.start()
    servers.push(server)
    const store = createPostgresStore({ address: server.url(), connectTimeout: 1000, logger: silentLogger })
    await storeUnderRestart('PostgreSQL (store-postgres)', server, store)
  })

  it.runIf(requireThat(MariaDBServer.available(), 'MariaDB server binaries (mariadbd, mariadb-install-db)'))(
    'MariaDB',
    async () => {
      const server = await MariaDBServer.start()
      servers.push(server)
      const store = createMySQLStore({ address: server.url(), connectTimeout: 1000, logger: silentLogger })
      await storeUnderRestart('MariaDB (store-mysql)', server, store)
    },
  )

  it.runIf(requireThat(RedisServer.available(), 'redis-server'))('Redis', async () => {
    // Without an append-only file a Redis restart keeps nothing by design: fsync every write.
    const server = await RedisServer.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] })
    servers.push(server)
    const store = createRedisStore({ address: server.url(), connectTimeout: 1000, logger: silentLogger })
    await storeUnderRestart('Redis (store-redis, AOF always)', server, store)
  })

  it.runIf(requireThat(RabbitMQServer.available(), 'rabbitmq-server and rabbitmqctl'))(
    'RabbitMQ',
    async () => {
      const server = await RabbitMQServer.start()
      servers.push(server)
      // Durable exchange and queue group, persistent messages, confirms: what survives a restart.
      const options = {
        address: server.url,
        durableExchange: true,
        publishTimeout: 1000,
        logger: silentLogger,
      }
      const pub = createRabbitMQBroker(options)
      const sub = createRabbitMQBroker(options)
      closers.push(
        () => pub.disconnect(),
        () => sub.disconnect(),
      )
      await pub.connect()
      await sub.connect()
      const received = new Set<number>()
      await sub.subscribe(
        'faults.rabbit',
        async (ev) => {
          received.add(Number(text(ev.message.body)))
        },
        { queue: 'faults' },
      )
      const r = await underRestart(server, (seq) =>
        pub.publish('faults.rabbit', { headers: {}, body: bytes(String(seq)) }),
      )
      const deadline = performance.now() + 30_000
      while (r.acked.some((s) => !received.has(s)) && performance.now() < deadline) await sleep(100)
      const lost = r.acked.filter((s) => !received.has(s)).length
      report('RabbitMQ (broker-rabbitmq)', 'go.micro.broker', r, lost, 'confirmed publishes')
    },
  )
})
