/** Registry names are kept exactly and apart: awkward characters, names that look alike. */
import { describe, expect, it } from 'vitest'
import { eventually, expectMicroError, uniqueName } from '../util.js'
import { ids, node, type RegistrySuite, service } from './context.js'

export function registryIsolation(t: RegistrySuite): void {
  const { h, register, see, listed } = t

  describe('isolation', () => {
    it('service names with /, ., :, _, - and unicode are kept exactly', async () => {
      const registry = await h.fresh()
      const base = uniqueName('names')
      const names = [
        `${base}/api/v1`,
        `${base}.greeter.service`,
        `${base}:8080`,
        `${base}_under-dash`,
        `${base}-ünïcödé-日本`,
      ]
      for (const [i, name] of names.entries())
        await register(registry, service(name, [node(`${base}-node-${i}`)]))
      for (const [i, name] of names.entries()) {
        await see(registry, name, (services) => {
          expect(services.map((s) => s.name)).toEqual([name])
          expect(ids(services[0])).toEqual([`${base}-node-${i}`])
        })
      }
      await eventually(
        async () => expect(await listed(registry, base)).toEqual(names.map((n) => `${n}@1.0.0`).sort()),
        t.visibility,
      )
    })

    it('names that differ only in / and - stay apart: a/b and a-b', async () => {
      const registry = await h.fresh()
      const base = uniqueName('apart')
      const slash = service(`${base}/b`, [node(`${base}-slash`)])
      const dash = service(`${base}-b`, [node(`${base}-dash`)])
      await register(registry, slash)
      await register(registry, dash)
      for (const s of [slash, dash]) {
        await see(registry, s.name, (services) => {
          expect(services.map((x) => x.name)).toEqual([s.name])
          expect(ids(services[0])).toEqual([s.nodes[0].id])
        })
      }
      await registry.deregister(slash)
      await eventually(() => expectMicroError(registry.getService(slash.name), 404), t.visibility)
      await see(registry, dash.name, (services) => {
        expect(services.map((x) => x.name)).toEqual([dash.name])
        expect(ids(services[0])).toEqual([dash.nodes[0].id])
      })
    })
  })
}
