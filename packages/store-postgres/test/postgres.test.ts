/**
 * PostgreSQL-specific behaviour beyond the conformance suite, on the shared server: go-micro's
 * layout, identifier and LIKE safety, SQL-side expiry and sweeping, bad input, unreachable and
 * hanging servers, and the plugin through core's loader.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import {
  deadAddress,
  eventually,
  RUN_ID,
  recordingLogger,
  silentServer,
  sleep,
} from '@micro-ts/conformance/testing'
import { createPlugin } from '@micro-ts/core/plugin'
import { afterAll, describe, expect, it } from 'vitest'
import plugin, { escapeLike, identifier } from '../src/index.js'
import { POSTGRES_URL, rawQuery, sharedPostgres, storeError, text, useStores, utf8 } from './helpers.js'

/** Schemas this file creates all start with this, and are dropped at the end. */
const SCHEMA = `pgt_${RUN_ID}`
const up = await sharedPostgres()
const store = useStores({ address: POSTGRES_URL })

let counter = 0
/** A database name of its own for one test. */
function db(label: string): string {
  counter++
  return `${SCHEMA}_${label}_${counter}`
}

afterAll(async () => {
  if (!up) return
  const schemas = await rawQuery<{ nspname: string }>(
    POSTGRES_URL,
    `SELECT nspname FROM pg_namespace WHERE nspname LIKE $1`,
    [`${escapeLike(SCHEMA)}%`],
  )
  for (const { nspname } of schemas)
    await rawQuery(POSTGRES_URL, `DROP SCHEMA ${identifier(nspname)} CASCADE`)
})

describe('identifiers and LIKE patterns', () => {
  it('identifier() maps ASCII names as go-micro does, lowercased and quoted', () => {
    expect(identifier('micro')).toBe('"micro"')
    expect(identifier('My-App.v2')).toBe('"my_app_v2"')
    expect(identifier('a--b..c')).toBe('"a_b_c"')
    expect(identifier('x"; DROP SCHEMA public; --')).toBe('"x_drop_schema_public_"')
    expect(identifier('9lives')).toBe('"9lives"')
    expect(identifier('a'.repeat(63))).toBe(`"${'a'.repeat(63)}"`)
  })

  it('identifier() keeps long names and names outside ASCII distinct, stable and within 63 bytes', () => {
    const long = [`${'a'.repeat(63)}b`, `${'a'.repeat(63)}c`, 'a'.repeat(100), 'a'.repeat(1000)]
    const mapped = long.map(identifier)
    expect(new Set(mapped).size).toBe(long.length)
    for (const id of mapped) {
      expect(id).toMatch(/^"a{54}_[0-9a-f]{8}"$/)
      expect(Buffer.byteLength(id) - 2).toBe(63)
    }
    expect(long.map(identifier)).toEqual(mapped)
    // go-micro maps both to `_n_`; here each keeps a hash of itself.
    expect(identifier('ünï')).toMatch(/^"_n___[0-9a-f]{8}"$/)
    expect(identifier('ünï')).not.toBe(identifier('änï'))
    expect(identifier('用户')).not.toBe(identifier('订单'))
    expect(Buffer.byteLength(identifier('用'.repeat(200))) - 2).toBeLessThanOrEqual(63)
  })

  it('escapeLike() escapes %, _ and backslash', () => {
    expect(escapeLike('100%_\\x')).toBe('100\\%\\_\\\\x')
    expect(escapeLike('plain')).toBe('plain')
  })
})

describe.runIf(up)('store-postgres against PostgreSQL', () => {
  describe("go-micro's layout", () => {
    it('one schema per database, one table per table, with go-micro columns and indexes', async () => {
      const database = db('layout')
      const s = store({ database, table: 'records' })
      await s.write({ key: 'k', value: utf8('v'), metadata: { a: 1 } }, { ttl: 60_000 })
      const schema = identifier(database).slice(1, -1)
      const columns = await rawQuery(
        POSTGRES_URL,
        `SELECT column_name, data_type, collation_name, is_nullable FROM information_schema.columns
         WHERE table_schema = $1 AND table_name = 'records' ORDER BY ordinal_position`,
        [schema],
      )
      expect(columns).toEqual([
        { column_name: 'key', data_type: 'text', collation_name: 'C', is_nullable: 'NO' },
        { column_name: 'value', data_type: 'bytea', collation_name: null, is_nullable: 'YES' },
        { column_name: 'metadata', data_type: 'jsonb', collation_name: null, is_nullable: 'YES' },
        {
          column_name: 'expiry',
          data_type: 'timestamp with time zone',
          collation_name: null,
          is_nullable: 'YES',
        },
      ])
      const indexes = await rawQuery<{ indexname: string; indexdef: string }>(
        POSTGRES_URL,
        `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'records' ORDER BY indexname`,
        [schema],
      )
      const byName = Object.fromEntries(indexes.map((i) => [i.indexname, i.indexdef]))
      expect(byName['pkey:records']).toMatch(/UNIQUE INDEX .* USING btree \(key\)/)
      expect(byName['key:records']).toMatch(/USING btree \(key\)/)
      expect(byName['metadata:records']).toMatch(/USING gin \(metadata\)/)
      expect(byName['expiry:records']).toMatch(/USING btree \(expiry\) WHERE \(expiry IS NOT NULL\)/)

      const [row] = await rawQuery(
        POSTGRES_URL,
        `SELECT key, value, metadata, expiry > now() + interval '50 seconds' AS later,
                expiry < now() + interval '61 seconds' AS bounded
         FROM ${identifier(database)}."records"`,
      )
      expect(row).toEqual({
        key: 'k',
        value: Buffer.from('v'),
        metadata: { a: 1 },
        later: true,
        bounded: true,
      })
    })

    it('names go through go-micro’s mapping: odd database and table names are safe and shared as go-micro would', async () => {
      const database = `${db('odd')}-"; DROP TABLE x; --`
      const table = 'user' // a reserved word
      const s = store({ database, table })
      await s.write({ key: 'k', value: utf8('1') })
      // The same mapped name reaches the same table.
      const same = store({ database: database.replace(/[^a-zA-Z0-9]+/g, '.'), table: 'USER' })
      expect(text((await same.read('k'))[0].value)).toBe('1')
      const [{ n }] = await rawQuery<{ n: number }>(
        POSTGRES_URL,
        `SELECT count(*)::int AS n FROM ${identifier(database)}.${identifier(table)}`,
      )
      expect(n).toBe(1)
    })

    it('reads and writes a table that go-micro created (unquoted DDL, default collation, no expiry index)', async () => {
      const schema = identifier(db('gomicro'))
      await rawQuery(POSTGRES_URL, `CREATE SCHEMA ${schema}`)
      await rawQuery(
        POSTGRES_URL,
        `CREATE TABLE ${schema}.micro (key text NOT NULL, value bytea, metadata JSONB,
           expiry timestamp with time zone, CONSTRAINT micro_pkey PRIMARY KEY (key))`,
      )
      await rawQuery(POSTGRES_URL, `INSERT INTO ${schema}.micro VALUES ('go-key', '\\x0102', '{}', NULL)`)
      const s = store({ database: schema.slice(1, -1) })
      const [record] = await s.read('go-key')
      expect(record).toEqual({ key: 'go-key', value: new Uint8Array([1, 2]), metadata: {} })
      await s.write({ key: 'ts-key', value: utf8('x') }, { ttl: 60_000 })
      expect(await s.list()).toEqual(['go-key', 'ts-key'])
    })

    it('a table dropped behind the store’s back is created again on the next call', async () => {
      const database = db('dropped')
      const s = store({ database })
      await s.write({ key: 'a', value: utf8('1') })
      await rawQuery(POSTGRES_URL, `DROP SCHEMA ${identifier(database)} CASCADE`)
      await storeError(s.read('a'), 404)
      await s.write({ key: 'b', value: utf8('2') })
      expect(await s.list()).toEqual(['b'])
    })

    it('many stores creating the same new table at once all succeed', async () => {
      const database = db('race')
      const stores = Array.from({ length: 8 }, () => store({ database, table: 'contended' }))
      await Promise.all(stores.map((s, i) => s.write({ key: `k${i}`, value: utf8(String(i)) })))
      expect(await stores[0].list()).toEqual(stores.map((_, i) => `k${i}`))
    })
  })

  describe('long and odd names', () => {
    const tables = (database: string) =>
      rawQuery<{ table_name: string }>(
        POSTGRES_URL,
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
        [identifier(database).slice(1, -1)],
      )

    it('a table name of 63 bytes or more works (its primary key, indexes and table no longer share a name)', async () => {
      const database = db('long_table')
      for (const length of [58, 59, 62, 63, 64, 100, 300]) {
        const table = `t${'x'.repeat(length - 1)}`
        const s = store({ database, table })
        await s.write({ key: 'k', value: utf8(String(length)) })
        expect(text((await s.read('k'))[0].value), `table of ${length}`).toBe(String(length))
      }
      const names = (await tables(database)).map((t) => t.table_name)
      expect(names).toHaveLength(7)
      for (const name of names) expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63)
    })

    it('two long table names that share their first 63 bytes are two tables, each found again by a new store', async () => {
      const database = db('long_pair')
      const prefix = `t${'x'.repeat(70)}`
      const a = store({ database, table: `${prefix}_a` })
      const b = store({ database, table: `${prefix}_b` })
      await a.write({ key: 'k', value: utf8('a') })
      await b.write({ key: 'k', value: utf8('b') })
      expect(text((await a.read('k'))[0].value)).toBe('a')
      expect(text((await b.read('k'))[0].value)).toBe('b')
      expect(await tables(database)).toHaveLength(2)
      // Stable: another store (another process) maps the names to the same tables.
      const again = store({ database })
      expect(text((await again.read('k', { table: `${prefix}_b` }))[0].value)).toBe('b')
    })

    it('two long database names that share their first 63 bytes are two schemas', async () => {
      const base = `${db('long_db')}${'x'.repeat(70)}`
      const [one, two] = [`${base}_one`, `${base}_two`]
      expect(one.slice(0, 63)).toBe(two.slice(0, 63))
      await store({ database: one }).write({ key: 'k', value: utf8('1') })
      await store({ database: two }).write({ key: 'k', value: utf8('2') })
      expect(text((await store({ database: one }).read('k'))[0].value)).toBe('1')
      expect(text((await store({ database: two }).read('k'))[0].value)).toBe('2')
    })

    it('names go-micro would map to one table stay apart when they differ outside ASCII', async () => {
      const database = db('unicode')
      const names = ['用户', '订单', 'ü', 'ä', 'ü1', 'ä1', 'café', 'cafe']
      for (const table of names) await store({ database, table }).write({ key: 'k', value: utf8(table) })
      for (const table of names)
        expect(text((await store({ database, table }).read('k'))[0].value), table).toBe(table)
      expect(await tables(database)).toHaveLength(names.length)
    })

    it('a table name taken by an index (go-micro names them <table>_pkey) is a clear 409, and nothing is replaced', async () => {
      const database = db('taken')
      const schema = identifier(database)
      await rawQuery(POSTGRES_URL, `CREATE SCHEMA ${schema}`)
      await rawQuery(
        POSTGRES_URL,
        `CREATE TABLE ${schema}.micro (key text NOT NULL, value bytea, metadata JSONB,
           expiry timestamp with time zone, CONSTRAINT micro_pkey PRIMARY KEY (key))`,
      )
      const s = store({ database, table: 'micro_pkey' })
      const e = await storeError(s.write({ key: 'k', value: utf8('x') }), 409)
      expect(e.detail).toMatch(/"micro_pkey" exists and is not a table/)
      await store({ database }).write({ key: 'k', value: utf8('still works') })
      expect(text((await store({ database }).read('k'))[0].value)).toBe('still works')
    })

    it('a table named like another table’s primary key or index works beside it', async () => {
      const database = db('collide')
      const names = ['micro', 'micro_pkey', 'key_index_micro', 'metadata_index_micro', 'expiry_index_micro']
      for (const table of [...names, ...names.slice().reverse()])
        await store({ database, table }).write({ key: table, value: utf8(table) })
      for (const table of names) expect(await store({ database, table }).list(), table).toEqual([table])
    })
  })

  describe('keys, filters and order', () => {
    it('LIKE metacharacters and backslashes in prefix and suffix match only themselves', async () => {
      const s = store({ database: db('like') })
      const keys = ['a\\b', 'a\\%', 'a\\\\', 'ab', 'a%', 'a_', 'axb', '\\', '%', '_']
      for (const key of keys) await s.write({ key, value: utf8(key) })
      expect(await s.list({ prefix: 'a\\' })).toEqual(['a\\%', 'a\\\\', 'a\\b'])
      expect(await s.list({ suffix: '\\' })).toEqual(['\\', 'a\\\\'])
      expect(await s.list({ prefix: '_' })).toEqual(['_'])
      expect(await s.list({ suffix: '%' })).toEqual(['%', 'a%', 'a\\%'])
      expect((await s.read('a_', { prefix: true })).map((r) => r.key)).toEqual(['a_'])
      expect((await s.read('%', { suffix: true, prefix: true })).map((r) => r.key)).toEqual(['%'])
    })

    it('a key that is both prefix and suffix of itself matches (overlapping prefix and suffix)', async () => {
      const s = store({ database: db('overlap') })
      await s.write({ key: 'aba', value: utf8('x') })
      await s.write({ key: 'ab', value: utf8('x') })
      expect(await s.list({ prefix: 'ab', suffix: 'ba' })).toEqual(['aba'])
      expect(await s.list({ prefix: 'ab', suffix: 'b' })).toEqual(['ab'])
    })

    it('keys are in code-point (UTF-8 byte) order, whatever the database collation', async () => {
      const s = store({ database: db('order') })
      const keys = ['b', 'B', 'a', 'A', '_', '~', ' ', '0', 'é', 'e', '日', '\uFF5E', '🚀', 'aa', 'a b']
      for (const key of keys) await s.write({ key, value: utf8(key) })
      const byCodePoint = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
      expect(await s.list()).toEqual(byCodePoint)
      expect(byCodePoint.indexOf('\uFF5E')).toBeLessThan(byCodePoint.indexOf('🚀'))
    })

    it('exact reads of SQL fragments and quotes find only their own row', async () => {
      const s = store({ database: db('sql') })
      const keys = ["'", "''", '"', "' OR '1'='1", 'x); DELETE FROM micro; --', '$1', '\\x00']
      for (const [i, key] of keys.entries()) await s.write({ key, value: utf8(String(i)) })
      for (const [i, key] of keys.entries())
        expect((await s.read(key)).map((r) => text(r.value))).toEqual([String(i)])
      expect(await s.list()).toHaveLength(keys.length)
    })

    it('a 1 MiB binary value is stored byte for byte in the bytea column', async () => {
      const database = db('large')
      const s = store({ database })
      const value = new Uint8Array(randomBytes(1024 * 1024))
      await s.write({ key: 'big', value })
      const [record] = await s.read('big')
      expect(Buffer.compare(Buffer.from(record.value), Buffer.from(value))).toBe(0)
      const [{ n }] = await rawQuery<{ n: number }>(
        POSTGRES_URL,
        `SELECT octet_length(value) AS n FROM ${identifier(database)}."micro" WHERE key = 'big'`,
      )
      expect(n).toBe(1024 * 1024)
    })

    it('100 concurrent writers on a brand-new table all land, through at most maxConnections connections', async () => {
      const s = store({ database: db('concurrent'), maxConnections: 4 })
      const keys = Array.from({ length: 100 }, (_, i) => `w-${String(i).padStart(3, '0')}`)
      await Promise.all(keys.map((key) => s.write({ key, value: utf8(key) })))
      expect(await s.list()).toEqual(keys)
      const records = await s.read('w-', { prefix: true })
      expect(records.map((r) => text(r.value))).toEqual(keys)
    })
  })

  describe('expiry', () => {
    it('expiry is set from the server clock and reported as the remaining time', async () => {
      const s = store({ database: db('ttl') })
      await s.write({ key: 'k', value: utf8('x') }, { ttl: 30_000 })
      const [record] = await s.read('k')
      expect(record.expiry).toBeGreaterThan(25_000)
      expect(record.expiry).toBeLessThanOrEqual(30_000)
    })

    it('an expired row is never returned; a read of its key deletes it, a list skips it for the sweep', async () => {
      const database = db('lazy')
      const s = store({ database })
      await s.write({ key: 'gone', value: utf8('x') }, { ttl: 100 })
      await s.write({ key: 'gone-too', value: utf8('x') }, { ttl: 100 })
      await s.write({ key: 'stays', value: utf8('x') })
      await sleep(250)
      const count = async () =>
        (
          await rawQuery<{ n: number }>(
            POSTGRES_URL,
            `SELECT count(*)::int AS n FROM ${identifier(database)}."micro" WHERE key LIKE 'gone%'`,
          )
        )[0].n
      expect(await count()).toBe(2)
      await storeError(s.read('gone'), 404)
      expect(await count()).toBe(1)
      expect(await s.list()).toEqual(['stays'])
      expect(await s.read('', { prefix: true })).toHaveLength(1)
      expect(await count()).toBe(1)
      await s.sweep()
      expect(await count()).toBe(0)
    })

    it('sweep() deletes expired rows of the tables the store used, and the timer runs it unprompted', async () => {
      const database = db('sweep')
      const s = store({ database })
      for (let i = 0; i < 5; i++) await s.write({ key: `k${i}`, value: utf8('x') }, { ttl: 100 })
      await s.write({ key: 'live', value: utf8('x') })
      await sleep(200)
      await s.sweep()
      const rows = await rawQuery(POSTGRES_URL, `SELECT key FROM ${identifier(database)}."micro"`)
      expect(rows).toEqual([{ key: 'live' }])

      const timerDb = db('sweep_timer')
      const timed = store({ database: timerDb, sweepInterval: 100 })
      for (let i = 0; i < 3; i++) await timed.write({ key: `k${i}`, value: utf8('x') }, { ttl: 50 })
      await eventually(async () => {
        const rows = await rawQuery(POSTGRES_URL, `SELECT key FROM ${identifier(timerDb)}."micro"`)
        expect(rows).toEqual([])
      }, 5000)
    })

    it('an infinite TTL means no expiry; a TTL beyond the timestamp range is a 400', async () => {
      const s = store({ database: db('range') })
      await s.write({ key: 'forever', value: utf8('x') }, { ttl: Number.POSITIVE_INFINITY })
      expect((await s.read('forever'))[0].expiry).toBeUndefined()
      await storeError(s.write({ key: 'far', value: utf8('x') }, { ttl: 1e300 }), 400)
    })

    it('an already-expired write removes what was there', async () => {
      const s = store({ database: db('expired-write') })
      await s.write({ key: 'k', value: utf8('x') })
      await s.write({ key: 'k', value: utf8('y'), expiry: 0 })
      await storeError(s.read('k'), 404)
    })
  })

  describe('bad input', () => {
    it('rejects with a 400 MicroError and keeps working', async () => {
      const s = store({ database: db('bad') })
      const bad: [string, () => Promise<unknown>][] = [
        ['NUL in key', () => s.write({ key: 'a\0b', value: utf8('x') })],
        ['lone surrogate', () => s.write({ key: 'a\uD800', value: utf8('x') })],
        ['NUL in read key', () => s.read('a\0b')],
        ['NUL in prefix', () => s.list({ prefix: '\0' })],
        ['non-string key', () => s.read(42 as unknown as string)],
        ['negative limit', () => s.list({ limit: -1 })],
        ['fractional offset', () => s.list({ offset: 1.5 })],
        ['non-string database', () => s.list({ database: {} as unknown as string })],
        ['BigInt metadata', () => s.write({ key: 'm', value: utf8('x'), metadata: { n: 1n } })],
        [
          'array metadata',
          () => s.write({ key: 'm', value: utf8('x'), metadata: [1] as unknown as Record<string, unknown> }),
        ],
        ['NUL in metadata text', () => s.write({ key: 'm', value: utf8('x'), metadata: { s: 'a\0b' } })],
        ['NaN ttl', () => s.write({ key: 'm', value: utf8('x') }, { ttl: Number.NaN })],
        ['invalid Date', () => s.write({ key: 'm', value: utf8('x') }, { expiry: new Date('nope') })],
      ]
      for (const [what, call] of bad) expect((await storeError(call)).code, what).toBe(400)
      await s.write({ key: 'ok', value: utf8('x') })
      expect(await s.list()).toEqual(['ok'])
    })
  })

  describe('connections', () => {
    it('an address where nothing listens fails with a 503 within the connect timeout', async () => {
      const dead = await deadAddress()
      const s = store({ address: `postgresql://user:supersecret@${dead}/db`, connectTimeout: 1000 })
      const started = Date.now()
      const e = await storeError(s.write({ key: 'k', value: utf8('x') }), 503)
      expect(Date.now() - started).toBeLessThan(1000 + 1500)
      expect(e.detail).toContain('ECONNREFUSED')
      expect(e.detail).toContain(dead)
      expect(e.detail).not.toContain('supersecret')
    })

    it('a server that accepts and never answers fails with a 503 within the connect timeout', async () => {
      const silent = await silentServer()
      try {
        const s = store({
          address: `postgresql://postgres@127.0.0.1:${silent.port}/db`,
          connectTimeout: 1000,
        })
        const started = Date.now()
        await storeError(s.read('k'), 503)
        expect(Date.now() - started).toBeLessThan(1000 + 1500)
      } finally {
        await silent.close()
      }
    })

    it('a database that does not exist is a clear 503 at once', async () => {
      const url = new URL(POSTGRES_URL)
      url.pathname = `/no_such_db_${RUN_ID}`
      const s = store({ address: url.href, connectTimeout: 5000 })
      const started = Date.now()
      const e = await storeError(s.list(), 503)
      expect(e.detail).toContain(`no_such_db_${RUN_ID}`)
      expect(Date.now() - started).toBeLessThan(4000)
    })

    it('calls after close() reject with a 503; close() twice is fine', async () => {
      const s = store({ database: db('closed') })
      await s.write({ key: 'k', value: utf8('x') })
      await s.close()
      await s.close()
      await storeError(s.read('k'), 503)
    })
  })

  describe('plugin', () => {
    it('through the loader: the first address (with a warning), options given as strings', async () => {
      const logger = recordingLogger()
      const s = store.track(
        await createPlugin(plugin, {
          addresses: [POSTGRES_URL, 'second:1'],
          options: { connectTimeout: '3000', maxConnections: '2' },
          env: {},
          logger,
          database: `${SCHEMA}_plugin`,
        }),
      )
      await s.write({ key: 'k', value: utf8('x') })
      expect(await s.list({ database: `${SCHEMA}_plugin` })).toContain('k')
      await s.delete('k')
      expect(logger.at('warn').map((l) => l.msg)).toEqual(['postgres store: using the first address only'])
    })

    it('MICRO_STORE=postgres works through core’s plugin loader, with MICRO_STORE_ADDRESS/DATABASE/TABLE', async () => {
      const database = db('env')
      const script = `
        import { loadPlugin, readEnv } from '@micro-ts/core'
        const env = readEnv(process.env)
        const store = await loadPlugin('store', env.store.name, {
          addresses: env.store.addresses, database: env.store.database, table: env.store.table,
        })
        await store.write({ key: 'from-env', value: new TextEncoder().encode('ok') })
        const [record] = await store.read('from-env')
        console.log(JSON.stringify({ name: store.name, value: new TextDecoder().decode(record.value) }))
        await store.close()
      `
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        env: {
          ...process.env,
          MICRO_STORE: 'postgres',
          MICRO_STORE_ADDRESS: POSTGRES_URL,
          MICRO_STORE_DATABASE: database,
          MICRO_STORE_TABLE: 'from_env',
        },
        timeout: 20_000,
      })
      expect(JSON.parse(stdout)).toEqual({ name: 'postgres', value: 'ok' })
      const rows = await rawQuery(POSTGRES_URL, `SELECT key FROM ${identifier(database)}."from_env"`)
      expect(rows).toEqual([{ key: 'from-env' }])
    })
  })
})
