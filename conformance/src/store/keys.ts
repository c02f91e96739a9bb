/** Store keys are exact strings: quoting, case, and filter characters that must stay literal. */
import { describe, expect, it } from 'vitest'
import { sorted, text, uniqueName, utf8 } from '../util.js'
import { keysOf, type StoreSuite, writeAll } from './context.js'

export function storeKeys(t: StoreSuite): void {
  const { h } = t

  describe('keys', () => {
    it('keys are exact strings: quotes, %, _, /, backslash, unicode and SQL fragments', async () => {
      const store = await h.fresh()
      const base = uniqueName('keys')
      const suffixes = [
        "it's",
        'say "hi"',
        '100%',
        '%',
        '_',
        'a_b',
        'a/b/c',
        '/leading',
        'back\\slash',
        'tab\tand\nnewline',
        'ünïcödé-日本語-🚀',
        "'; DROP TABLE records; --",
        '" OR 1=1 --',
        '$1 ? :name',
        'dots.and:colons',
        ' spaced ',
      ]
      const keys = suffixes.map((s) => `${base}-${s}`)
      for (const [i, key] of keys.entries()) await store.write({ key, value: utf8(String(i)) })
      for (const [i, key] of keys.entries()) {
        const records = await store.read(key)
        expect(records.map((r) => [r.key, text(r.value)])).toEqual([[key, String(i)]])
      }
      expect(await store.list({ prefix: `${base}-` })).toEqual(sorted(keys))
      for (const key of keys) await store.delete(key)
      expect(await store.list({ prefix: `${base}-` })).toEqual([])
    })

    it('keys that differ only in case are different keys', async () => {
      const store = await h.fresh()
      const base = uniqueName('case')
      await store.write({ key: `${base}-key`, value: utf8('lower') })
      await store.write({ key: `${base}-KEY`, value: utf8('upper') })
      expect(text((await store.read(`${base}-key`))[0].value)).toBe('lower')
      expect(text((await store.read(`${base}-KEY`))[0].value)).toBe('upper')
      expect(await store.list({ prefix: `${base}-` })).toHaveLength(2)
    })

    it('% and _ in prefix and suffix filters match themselves only (no wildcards)', async () => {
      const store = await h.fresh()
      const base = uniqueName('like')
      const keys = [`${base}-a_b`, `${base}-axb`, `${base}-100%`, `${base}-1000`, `${base}-%x`, `${base}-zx`]
      await writeAll(store, keys)
      expect(await keysOf(store.read(`${base}-a_`, { prefix: true }))).toEqual([`${base}-a_b`])
      expect(await store.list({ prefix: `${base}-a_` })).toEqual([`${base}-a_b`])
      expect(await keysOf(store.read(`${base}-100%`, { prefix: true }))).toEqual([`${base}-100%`])
      expect(await store.list({ prefix: `${base}-%` })).toEqual([`${base}-%x`])
      expect(await keysOf(store.read('%x', { suffix: true }))).not.toContain(`${base}-zx`)
      expect(await store.list({ prefix: base, suffix: '_b' })).toEqual([`${base}-a_b`])
    })

    it('glob and regular-expression characters (* ? [ ] \\ . ^ $ | + ( { ) in prefix and suffix filters match themselves only', async () => {
      const store = await h.fresh()
      const base = uniqueName('glob')
      const specials = ['*', '?', '[', ']', '\\', '.', '^', '$', '|', '+', '(', '{']
      // Keys an unescaped pattern would also match: any character, none, or a repeat where a special is.
      const decoys = ['x', '', 'aa', 'bb']
      await writeAll(store, [
        ...specials.map((c) => `${base}-a${c}b`),
        ...decoys.map((d) => `${base}-a${d}b`),
        ...specials.map((c) => `a${c}b-${base}`),
        ...decoys.map((d) => `a${d}b-${base}`),
      ])
      for (const c of specials) {
        const prefix = `${base}-a${c}`
        expect(await keysOf(store.read(prefix, { prefix: true })), `read prefix ${prefix}`).toEqual([
          `${prefix}b`,
        ])
        expect(await store.list({ prefix }), `list prefix ${prefix}`).toEqual([`${prefix}b`])
        const suffix = `${c}b-${base}`
        expect(await keysOf(store.read(suffix, { suffix: true })), `read suffix ${suffix}`).toEqual([
          `a${suffix}`,
        ])
        expect(await store.list({ suffix }), `list suffix ${suffix}`).toEqual([`a${suffix}`])
      }
    })
  })
}
