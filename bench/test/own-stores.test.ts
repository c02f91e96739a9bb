/**
 * The store rows' own database servers: each answers at the URL it gives, runs at the priority of
 * the process that started it (so the shield's nice -20 reaches it), has the settings of the
 * machine's own that change what a query costs, and is gone after stop().
 */
import { existsSync } from 'node:fs'
import os from 'node:os'
import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { type OwnServer, startOwnStore } from '../src/own-stores.js'
import { statFields } from '../src/proc.js'
import type { Backend } from '../src/stores.js'

const started: OwnServer[] = []
afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()))
})

/** The nice value of a process, field 19 of /proc/<pid>/stat. */
const niceOf = (pid: number) => Number(statFields(pid)[19 - 3])

const KEY = "a'%_/ü"

/** Write and read back one value under an odd key; return it with the settings that matter. */
const probe: Record<Backend, (url: string) => Promise<{ value: string; settings: Record<string, string> }>> =
  {
    postgres: async (url) => {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        await client.query('CREATE TABLE t (k text PRIMARY KEY, v bytea)')
        await client.query('INSERT INTO t VALUES ($1, $2)', [KEY, Buffer.from('value')])
        const value = (await client.query('SELECT v FROM t WHERE k = $1', [KEY])).rows[0].v.toString()
        const rows = await client.query(
          "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'max_connections')",
        )
        return { value, settings: Object.fromEntries(rows.rows.map((r) => [r.name, r.setting])) }
      } finally {
        await client.end()
      }
    },
    mysql: async (url) => {
      // The URL names the store's database, which the store (and the bench's raw driver) creates.
      const { hostname: host, port } = new URL(url)
      const conn = await mysql.createConnection({ host, port: Number(port), user: 'root' })
      try {
        await conn.query('CREATE DATABASE IF NOT EXISTS test')
        await conn.query('CREATE TABLE test.t (k varchar(64) PRIMARY KEY, v blob)')
        await conn.execute('INSERT INTO test.t VALUES (?, ?)', [KEY, Buffer.from('value')])
        const [rows] = await conn.execute('SELECT v FROM test.t WHERE k = ?', [KEY])
        const [vars] = await conn.query(
          "SHOW VARIABLES WHERE Variable_name IN ('innodb_buffer_pool_size', 'character_set_server', 'innodb_flush_log_at_trx_commit')",
        )
        return {
          value: (rows as { v: Buffer }[])[0].v.toString(),
          settings: Object.fromEntries(
            (vars as { Variable_name: string; Value: string }[]).map((r) => [r.Variable_name, r.Value]),
          ),
        }
      } finally {
        await conn.end()
      }
    },
    redis: async (url) => {
      const client = new Redis(url, { maxRetriesPerRequest: 0 })
      try {
        await client.set(KEY, 'value')
        const save = (await client.config('GET', 'save')) as string[]
        const aof = (await client.config('GET', 'appendonly')) as string[]
        return { value: (await client.get(KEY)) ?? '', settings: { save: save[1], appendonly: aof[1] } }
      } finally {
        client.disconnect()
      }
    },
  }

const MACHINE_LIKE: Record<Backend, Record<string, string>> = {
  postgres: { fsync: 'on', synchronous_commit: 'on', max_connections: '100' },
  mysql: {
    innodb_buffer_pool_size: String(128 * 1024 * 1024),
    character_set_server: 'utf8mb4',
    innodb_flush_log_at_trx_commit: '1',
  },
  redis: { save: '', appendonly: 'no' },
}

describe.each(['postgres', 'mysql', 'redis'] as const)('own %s server', (backend) => {
  it("answers at its URL, at the run's priority, with the machine's settings, and is gone after stop", async () => {
    const own = await startOwnStore(backend)
    if ('missing' in own) throw new Error(`could not start: ${own.missing}`)
    started.push(own)
    expect(new URL(own.url).hostname).toBe('127.0.0.1')
    expect(own.what).toMatch(/^(PostgreSQL|MariaDB|Redis)$/)
    expect(niceOf(own.pid!)).toBe(os.getPriority())

    const { value, settings } = await probe[backend](own.url)
    expect(value).toBe('value')
    expect(settings).toEqual(MACHINE_LIKE[backend])

    await own.stop()
    expect(existsSync(`/proc/${own.pid}`)).toBe(false)
  }, 60_000)
})
