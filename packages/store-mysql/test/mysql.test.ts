/**
 * MySQL/MariaDB behaviour beyond the conformance suite, on the shared server: the layout, odd
 * keys and names, byte order, size limits, expiry on the server's clock and both sweeps, bad
 * input, credentials and privileges, unreachable and hanging servers, killed connections.
 */
import { RUN_ID, silentServer } from '@micro-ts/conformance/testing'
import { silentLogger } from '@micro-ts/core'
import { createPlugin } from '@micro-ts/core/plugin'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import plugin, { createMySQLStore, type MySQLStore } from '../src/index.js'
import { ADDRESS, admin, bytes, sharedMySQL, storeError, text } from './helpers.js'

const reachable = await sharedMySQL()
const run = RUN_ID
const DB = `micro_test_${run}`

describe.runIf(reachable)('mysql store', () => {
  let store: MySQLStore

  beforeAll(async () => {
    store = createMySQLStore({ address: ADDRESS, database: DB, table: 'records', sweepInterval: 0 })
    await store.connect()
  })

  afterAll(async () => {
    await store?.close()
    await admin(`DROP DATABASE IF EXISTS \`${DB}\``)
    await admin(`DROP DATABASE IF EXISTS \`${DB}-other\``)
  })

  it('creates the documented table layout', async () => {
    const cols = await admin<{ COLUMN_NAME: string; COLUMN_TYPE: string; IS_NULLABLE: string }[]>(
      'SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
      [DB, 'records'],
    )
    expect(cols.map((c) => [c.COLUMN_NAME, c.COLUMN_TYPE.toLowerCase()])).toEqual([
      ['key', 'varbinary(255)'],
      ['value', 'longblob'],
      ['metadata', expect.stringMatching(/^(json|longtext)$/)],
      ['expiry', 'datetime(3)'],
    ])
    expect(cols.find((c) => c.COLUMN_NAME === 'expiry')?.IS_NULLABLE).toBe('YES')
  })

  it('round-trips bytes and metadata, and stores no expiry for records without one', async () => {
    const value = new Uint8Array([0, 1, 2, 255, 254, 0])
    const metadata = { owner: 'ann', n: 3, nested: { list: [1, 'two', null], ok: true } }
    await store.write({ key: 'rt', value, metadata })
    const [rec] = await store.read('rt')
    expect(rec.key).toBe('rt')
    expect(rec.value).toEqual(value)
    expect(rec.metadata).toEqual(metadata)
    expect(rec.expiry).toBeUndefined()
    // go-micro's MySQL store wrote expiry = now() here; the column must stay NULL.
    const rows = await admin<{ expiry: string | null }[]>(
      `SELECT expiry FROM \`${DB}\`.records WHERE \`key\` = 'rt'`,
    )
    expect(rows).toEqual([{ expiry: null }])
  })

  it('reading a missing key is a 404 "not found"; deleting it is not an error', async () => {
    const err = await storeError(store.read('nope'))
    expect(err.code).toBe(404)
    expect(err.detail).toBe('not found')
    await store.delete('nope')
  })

  it('keeps keys with quotes, LIKE characters, slashes, unicode and SQL fragments apart', async () => {
    const keys = [
      "it's",
      'say "hi"',
      'back`tick',
      'p%1',
      'p_1',
      'pa1',
      'p!1',
      'p\\1',
      'a/b/c',
      'ünïcødé-键-🔑',
      "x'); DROP TABLE records; --",
      'x" OR 1=1 --',
    ]
    for (const key of keys) await store.write({ key, value: bytes(`v:${key}`) }, { table: 'weird' })
    for (const key of keys) {
      const [rec] = await store.read(key, { table: 'weird' })
      expect(rec.key).toBe(key)
      expect(text(rec.value)).toBe(`v:${key}`)
    }
    // `%`, `_`, `!` and `\` in a prefix or suffix are literal characters.
    expect(await store.list({ table: 'weird', prefix: 'p%' })).toEqual(['p%1'])
    expect(await store.list({ table: 'weird', prefix: 'p_' })).toEqual(['p_1'])
    expect(await store.list({ table: 'weird', prefix: 'p!' })).toEqual(['p!1'])
    expect(await store.list({ table: 'weird', prefix: 'p\\' })).toEqual(['p\\1'])
    expect(await store.list({ table: 'weird', suffix: '_1' })).toEqual(['p_1'])
    expect((await store.read('x', { table: 'weird', prefix: true })).map((r) => r.key)).toEqual([
      'x" OR 1=1 --',
      "x'); DROP TABLE records; --",
    ])
    expect((await store.list({ table: 'weird' })).sort()).toEqual([...keys].sort())
    // The table the fragment names is intact.
    expect((await store.read('rt')).length).toBe(1)
  })

  it('orders keys by their UTF-8 bytes, and `a` and `a ` are different keys', async () => {
    const keys = ['b', 'a ', 'a', 'A', 'é', '中', 'Z', 'a\u0000', '~']
    for (const key of keys) await store.write({ key, value: bytes(key) }, { table: 'order' })
    const expected = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    expect(await store.list({ table: 'order' })).toEqual(expected)
    expect(text((await store.read('a ', { table: 'order' }))[0].value)).toBe('a ')
    expect(text((await store.read('a', { table: 'order' }))[0].value)).toBe('a')
  })

  it('applies prefix and suffix before offset and limit', async () => {
    for (let i = 0; i < 10; i++)
      await store.write({ key: `page/${i}`, value: bytes(String(i)) }, { table: 'paging' })
    await store.write({ key: 'other/0', value: bytes('x') }, { table: 'paging' })
    expect(await store.list({ table: 'paging', prefix: 'page/', offset: 2, limit: 3 })).toEqual([
      'page/2',
      'page/3',
      'page/4',
    ])
    expect(await store.list({ table: 'paging', suffix: '0', limit: 1 })).toEqual(['other/0'])
    expect(await store.list({ table: 'paging', suffix: '0', offset: 1 })).toEqual(['page/0'])
    const recs = await store.read('page/', { table: 'paging', prefix: true, offset: 8 })
    expect(recs.map((r) => r.key)).toEqual(['page/8', 'page/9'])
    expect(await store.read('page/', { table: 'paging', prefix: true, suffix: true })).toEqual([])
  })

  it('refuses keys over 255 bytes with a 400, and takes exactly 255', async () => {
    const max = '中'.repeat(85) // 255 bytes
    await store.write({ key: max, value: bytes('ok') })
    expect((await store.read(max))[0].key).toBe(max)
    for (const p of [
      store.write({ key: `${max}x`, value: bytes('no') }),
      store.read('k'.repeat(256)),
      store.delete('k'.repeat(256)),
    ]) {
      const err = await storeError(p)
      expect(err.code).toBe(400)
      expect(err.detail).toMatch(/at most 255 bytes/)
    }
  })

  it('rejects bad input with a 400 and keeps working', async () => {
    const cases: Promise<unknown>[] = [
      store.write({ key: '', value: bytes('x') }),
      store.write({ key: 'k', value: 'string' as unknown as Uint8Array }),
      store.write({ key: 'k', value: bytes('x'), metadata: [] as unknown as Record<string, unknown> }),
      store.write({ key: 'k', value: bytes('x'), metadata: { big: 1n } }),
      store.write({ key: '\uD800lone', value: bytes('x') }),
      store.write({ key: 'k', value: bytes('x') }, { ttl: Number.NaN }),
      store.write({ key: 'k', value: bytes('x') }, { expiry: new Date(Number.NaN) }),
      store.read('k', { prefix: true, limit: -1 }),
      store.list({ offset: 1.5 }),
      store.list({ database: 'mysql' }),
      store.list({ database: 'x'.repeat(65) }),
      store.list({ table: 'nul\u0000' }),
      store.list({ table: 'trailing ' }),
      store.read(42 as unknown as string),
    ]
    for (const p of cases) await storeError(p, 400)
    await store.write({ key: 'still-ok', value: bytes('yes') })
    expect(text((await store.read('still-ok'))[0].value)).toBe('yes')
  })

  it('keeps databases and tables apart, whatever characters their names hold', async () => {
    const table = "t`able'; DROP TABLE records; -- ü"
    await store.write({ key: 'same', value: bytes('a') })
    await store.write({ key: 'same', value: bytes('b') }, { table })
    await store.write({ key: 'same', value: bytes('c') }, { database: `${DB}-other` })
    expect(text((await store.read('same'))[0].value)).toBe('a')
    expect(text((await store.read('same', { table }))[0].value)).toBe('b')
    expect(text((await store.read('same', { database: `${DB}-other` }))[0].value)).toBe('c')
    const tables = await admin<{ TABLE_NAME: string }[]>(
      'SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
      [DB, table],
    )
    expect(tables).toHaveLength(1)
  })

  it('names of up to 64 characters work, and two that share their first 63 are two tables', async () => {
    const [one, two] = [`${'t'.repeat(63)}1`, `${'t'.repeat(63)}2`]
    await store.write({ key: 'k', value: bytes('1') }, { table: one })
    await store.write({ key: 'k', value: bytes('2') }, { table: two })
    expect(text((await store.read('k', { table: one }))[0].value)).toBe('1')
    expect(text((await store.read('k', { table: two }))[0].value)).toBe('2')
    const database = `${DB}_${'d'.repeat(64 - DB.length - 1)}`
    expect(database).toHaveLength(64)
    await store.write({ key: 'k', value: bytes('db') }, { database })
    expect(text((await store.read('k', { database }))[0].value)).toBe('db')
    await admin(`DROP DATABASE \`${database}\``)
  })

  it('a name over 64 characters, or one whose file name would be too long, is a clear 400', async () => {
    for (const [scope, detail] of [
      [{ table: 't'.repeat(65) }, /table name "t{65}" is longer than 64 characters/],
      [{ database: 'd'.repeat(65) }, /database name "d{65}" is longer than 64 characters/],
      // MySQL keeps each table in files named after it, each character outside [A-Za-z0-9_] in
      // up to 5 bytes: these fit in 64 characters but not in a 255-byte file name.
      [{ table: '中'.repeat(60) }, /too long for the server's file names/],
      [{ table: '-'.repeat(51) }, /too long for the server's file names/],
      [{ database: `${'中'.repeat(53)}${run}` }, /too long for the server's file names/],
    ] as const) {
      const e = await storeError(store.write({ key: 'k', value: bytes('x') }, scope), 400)
      expect(e.detail, JSON.stringify(scope)).toMatch(detail)
    }
    await store.write({ key: 'still-ok', value: bytes('yes') })
    expect(text((await store.read('still-ok'))[0].value)).toBe('yes')
  })

  it('stores a 1 MiB value', async () => {
    const value = new Uint8Array(1024 * 1024)
    for (let i = 0; i < value.length; i++) value[i] = (i * 31) & 0xff
    await store.write({ key: 'big', value })
    const [rec] = await store.read('big')
    expect(rec.value.length).toBe(value.length)
    expect(Buffer.compare(Buffer.from(rec.value), Buffer.from(value))).toBe(0)
  })

  it('refuses a value larger than max_allowed_packet with a 413', async () => {
    const [{ max }] = await admin<{ max: number }[]>('SELECT @@max_allowed_packet AS max')
    const err = await storeError(store.write({ key: 'huge', value: new Uint8Array(Number(max) + 1) }))
    expect(err.code).toBe(413)
    expect(err.detail).toMatch(/max_allowed_packet/)
  })

  it('takes 100 concurrent writers, to different keys and to one key', async () => {
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        store.write({ key: `c/${String(i).padStart(3, '0')}`, value: bytes(`${i}`) }),
      ),
    )
    expect(await store.list({ prefix: 'c/' })).toHaveLength(100)
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => store.write({ key: 'hot', value: bytes(`${i}`) })),
    )
    const v = Number(text((await store.read('hot'))[0].value))
    expect(v).toBeGreaterThanOrEqual(0)
    expect(v).toBeLessThan(100)
  })

  describe('expiry', () => {
    it('record.expiry is a TTL in ms; read gives the time left', async () => {
      await store.write({ key: 'ttl/rec', value: bytes('x'), expiry: 60_000 })
      const [rec] = await store.read('ttl/rec')
      expect(rec.expiry).toBeGreaterThan(55_000)
      expect(rec.expiry).toBeLessThanOrEqual(60_000)
    })

    it('options.ttl wins over options.expiry and record.expiry; options.expiry over record.expiry', async () => {
      await store.write(
        { key: 'ttl/win', value: bytes('x'), expiry: 1 },
        { ttl: 120_000, expiry: new Date(Date.now() + 1) },
      )
      expect((await store.read('ttl/win'))[0].expiry).toBeGreaterThan(100_000)
      const at = new Date(Date.now() + 300_000)
      await store.write({ key: 'ttl/date', value: bytes('x'), expiry: 1 }, { expiry: at })
      const left = (await store.read('ttl/date'))[0].expiry ?? 0
      expect(Math.abs(left - (at.getTime() - Date.now()))).toBeLessThan(2000)
    })

    it('expired records are never returned, then deleted lazily and by the sweep', async () => {
      await store.write({ key: 'ttl/short', value: bytes('x'), expiry: 150 })
      await store.write({ key: 'ttl/short2', value: bytes('x') }, { ttl: 150 })
      await store.write({ key: 'ttl/long', value: bytes('x'), expiry: 60_000 })
      expect(await store.list({ prefix: 'ttl/s' })).toEqual(['ttl/short', 'ttl/short2'])
      await new Promise((r) => setTimeout(r, 300))
      await storeError(store.read('ttl/short'), 404)
      expect(await store.list({ prefix: 'ttl/s' })).toEqual([])
      expect(await store.read('ttl/s', { prefix: true })).toEqual([])
      const count = async (key: string) =>
        (await admin<unknown[]>(`SELECT 1 FROM \`${DB}\`.records WHERE \`key\` = ?`, [key])).length
      // The exact read deleted its row; the other one waits for the sweep.
      await expect.poll(() => count('ttl/short')).toBe(0)
      expect(await count('ttl/short2')).toBe(1)
      await store.sweep()
      expect(await count('ttl/short2')).toBe(0)
      expect(await count('ttl/long')).toBe(1)
    })

    it("TTLs run on the server's clock: a skewed client clock changes nothing", async () => {
      const skew = vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 3_600_000)
      try {
        await store.write({ key: 'ttl/skew', value: bytes('x'), expiry: 60_000 })
      } finally {
        skew.mockRestore()
      }
      const left = (await store.read('ttl/skew'))[0].expiry ?? 0
      expect(left).toBeGreaterThan(55_000)
      expect(left).toBeLessThanOrEqual(60_000)
    })

    it('a TTL of zero or less deletes the key', async () => {
      await store.write({ key: 'ttl/zero', value: bytes('x') })
      await store.write({ key: 'ttl/zero', value: bytes('y'), expiry: 0 })
      await storeError(store.read('ttl/zero'), 404)
      await store.write({ key: 'ttl/neg', value: bytes('y') }, { ttl: -5 })
      await storeError(store.read('ttl/neg'), 404)
    })

    it('an overwrite without expiry clears the old one', async () => {
      await store.write({ key: 'ttl/clear', value: bytes('x'), expiry: 200 })
      await store.write({ key: 'ttl/clear', value: bytes('y') })
      await new Promise((r) => setTimeout(r, 300))
      expect((await store.read('ttl/clear'))[0].expiry).toBeUndefined()
    })
  })

  it('recreates a table dropped behind its back', async () => {
    await store.write({ key: 'k', value: bytes('1') }, { table: 'dropped' })
    await admin(`DROP TABLE \`${DB}\`.dropped`)
    await store.write({ key: 'k', value: bytes('2') }, { table: 'dropped' })
    expect(text((await store.read('k', { table: 'dropped' }))[0].value)).toBe('2')
  })

  it('fails with 503 after close', async () => {
    const s = createMySQLStore({ address: ADDRESS, database: DB, sweepInterval: 0 })
    await s.close()
    await storeError(s.read('x'), 503)
  })
})

describe.runIf(reachable)('mysql store: connections and credentials', () => {
  const user = `micro_t_${run}`.slice(0, 32)

  beforeAll(async () => {
    await admin(`CREATE USER IF NOT EXISTS '${user}'@'%' IDENTIFIED BY 'right-pass'`)
    await admin(`CREATE USER IF NOT EXISTS '${user}'@'localhost' IDENTIFIED BY 'right-pass'`)
    await admin(`GRANT ALL PRIVILEGES ON \`${DB}_own\`.* TO '${user}'@'%'`)
    await admin(`GRANT ALL PRIVILEGES ON \`${DB}_own\`.* TO '${user}'@'localhost'`)
  })

  afterAll(async () => {
    await admin(`DROP USER IF EXISTS '${user}'@'%'`)
    await admin(`DROP USER IF EXISTS '${user}'@'localhost'`)
    await admin(`DROP DATABASE IF EXISTS \`${DB}_own\``)
  })

  const host = new URL(ADDRESS).host

  it('takes the user and password from the address', async () => {
    const s = createMySQLStore({ address: `mysql://${user}:right-pass@${host}/${DB}_own`, sweepInterval: 0 })
    try {
      await s.write({ key: 'mine', value: bytes('ok') })
      expect(text((await s.read('mine'))[0].value)).toBe('ok')
      // The database in the address is the default one.
      expect(await admin<unknown[]>(`SELECT 1 FROM \`${DB}_own\`.micro`)).toHaveLength(1)
      // A database the user may not touch: 403, not a crash.
      const err = await storeError(s.list({ database: `${DB}_forbidden` }))
      expect(err.code).toBe(403)
    } finally {
      await s.close()
    }
  })

  it('a wrong password is a 401 naming the server, without the password', async () => {
    const s = createMySQLStore({ address: `mysql://${user}:wrong-pass@${host}/${DB}_own`, sweepInterval: 0 })
    try {
      const err = await storeError(s.connect())
      expect(err.code).toBe(401)
      expect(err.detail).toContain(host)
      expect(err.detail).not.toContain('wrong-pass')
    } finally {
      await s.close()
    }
  })

  it('an unreachable address is a 503 within the connect timeout, from the plugin too', async () => {
    const started = Date.now()
    const err = await storeError(
      createPlugin(plugin, {
        addresses: ['mysql://root@127.0.0.1:1/test'],
        options: { connectTimeout: '2000' },
        env: {},
        logger: silentLogger,
      }),
    )
    expect(err.code).toBe(503)
    expect(err.detail).toMatch(/cannot reach mysql:\/\/root@127\.0\.0\.1:1/)
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('a server that accepts but never answers is a 503 after the connect timeout', async () => {
    const silent = await silentServer()
    const s = createMySQLStore({
      address: `mysql://root@127.0.0.1:${silent.port}`,
      connectTimeout: 500,
      sweepInterval: 0,
    })
    try {
      const started = Date.now()
      const err = await storeError(s.write({ key: 'k', value: bytes('x') }))
      expect(err.code).toBe(503)
      expect(err.detail).toMatch(/cannot reach/)
      expect(Date.now() - started).toBeLessThan(5000)
    } finally {
      await s.close()
      await silent.close()
    }
  })

  it('reconnects after the server kills its connections', async () => {
    const s = createMySQLStore({
      address: `mysql://${user}:right-pass@${host}/${DB}_own`,
      table: 'killed',
      sweepInterval: 0,
    })
    try {
      await Promise.all([1, 2, 3].map((i) => s.write({ key: `k${i}`, value: bytes('x') })))
      const ids = await admin<{ ID: number }[]>(
        'SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?',
        [user],
      )
      expect(ids.length).toBeGreaterThan(0)
      for (const { ID } of ids) await admin(`KILL ${Number(ID)}`).catch(() => {})
      expect(await s.list()).toEqual(['k1', 'k2', 'k3'])
      await s.write({ key: 'k4', value: bytes('x') })
    } finally {
      await s.close()
    }
  })
})
