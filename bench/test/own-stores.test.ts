/**
 * The store rows' own database servers: each starts empty in a folder of its own, answers queries
 * at the URL it gives, runs at the priority of the process that started it (so the shield's nice
 * -20 reaches it), and is gone with its folder after stop(). A server that cannot start says why.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import os, { tmpdir } from 'node:os'
import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { type OwnServer, startOwnStore } from '../src/own-stores.js'
import type { Backend } from '../src/stores.js'

const started: OwnServer[] = []
afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()))
})

/** The nice value of a process, field 19 of /proc/<pid>/stat. */
const niceOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])
}
const ownFolders = (b: Backend) => readdirSync(tmpdir()).filter((f) => f.startsWith(`micro-bench-${b}-`))

const query: Record<Backend, (url: string) => Promise<string>> = {
  postgres: async (url) => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      await client.query('CREATE TABLE t (k text PRIMARY KEY, v bytea)')
      await client.query('INSERT INTO t VALUES ($1, $2)', ["a'%_/ü", Buffer.from('value')])
      return (await client.query('SELECT v FROM t WHERE k = $1', ["a'%_/ü"])).rows[0].v.toString()
    } finally {
      await client.end()
    }
  },
  mysql: async (url) => {
    const conn = await mysql.createConnection(url)
    try {
      await conn.query('CREATE TABLE t (k varchar(64) PRIMARY KEY, v blob)')
      await conn.execute('INSERT INTO t VALUES (?, ?)', ["a'%_/ü", Buffer.from('value')])
      const [rows] = await conn.execute('SELECT v FROM t WHERE k = ?', ["a'%_/ü"])
      return (rows as { v: Buffer }[])[0].v.toString()
    } finally {
      await conn.end()
    }
  },
  redis: async (url) => {
    const client = new Redis(url, { maxRetriesPerRequest: 0 })
    try {
      await client.set("a'%_/ü", 'value')
      return (await client.get("a'%_/ü")) ?? ''
    } finally {
      client.disconnect()
    }
  },
}

describe.each(['postgres', 'mysql', 'redis'] as const)('own %s server', (backend) => {
  it('answers at its URL, at the priority of the run, and is gone with its folder after stop', async () => {
    const before = ownFolders(backend)
    const own = await startOwnStore(backend)
    if ('missing' in own) throw new Error(`could not start: ${own.missing}`)
    started.push(own)
    expect(new URL(own.url).hostname).toBe('127.0.0.1')
    expect(Number(new URL(own.url).port)).toBeGreaterThan(0)
    expect(own.what).toMatch(/^(PostgreSQL|MariaDB|Redis) \d+\.\d+/)
    expect(niceOf(own.pid!)).toBe(os.getPriority())
    expect(ownFolders(backend).length).toBe(before.length + 1)

    expect(await query[backend](own.url)).toBe('value')

    await own.stop()
    expect(existsSync(`/proc/${own.pid}`)).toBe(false)
    expect(ownFolders(backend)).toEqual(before)
  }, 60_000)
})

describe('a server that cannot start', () => {
  it('says why, and leaves no folder behind', async () => {
    const before = ownFolders('redis')
    const path = process.env.PATH
    process.env.PATH = '/nonexistent' // redis-server is looked up on PATH
    try {
      const own = await startOwnStore('redis')
      expect(own).toEqual({ missing: expect.stringMatching(/redis-server/) })
    } finally {
      process.env.PATH = path
    }
    expect(ownFolders('redis')).toEqual(before)
  })
})
