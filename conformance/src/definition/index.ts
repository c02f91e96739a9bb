/**
 * The plugin-definition suite: what every plugin's definition promises before any backend is
 * involved. Its options go through core's one intake (`createPlugin` → `parseOptions`), so an
 * unknown option and a bad value of each declared option are the same 400 MicroError, every
 * option can be set from its environment variable and arrives coerced in `create()`'s context,
 * and its capabilities are names the suites know. `create()` itself is never called: the suite
 * runs the loader on a copy of the definition whose factory only records its context.
 */
import type { PluginDefinition, PluginKind } from '@micro-ts/core'
import { capabilitiesOf } from '@micro-ts/core/plugin'
import { describe, expect, it } from 'vitest'
import { KNOWN_CAPABILITIES, unknownCapabilities } from '../capabilities.js'
import { definitionContext } from './context.js'
import { definitionOptions } from './options.js'

export interface PluginDefinitionConformanceOptions {
  /** Shown in the test names instead of `<kind> <name>`. */
  name?: string
}

/** Register the plugin-definition suite for one plugin definition (a package's default export). */
export function pluginDefinitionConformance(
  definition: PluginDefinition<PluginKind>,
  options: PluginDefinitionConformanceOptions = {},
): void {
  if (!definition || typeof definition.create !== 'function') {
    throw new TypeError('pluginDefinitionConformance: pass a plugin definition (definePlugin({ ... }))')
  }
  const title = options.name ?? `${definition.kind} ${definition.name}`
  describe(`plugin definition: ${title}`, () => {
    const t = definitionContext(definition)

    describe('shape', () => {
      it('its capabilities are names its kind’s suite knows, in every mode its options select', async () => {
        for (const mode of t.modes()) {
          const ctx = await t.load({ options: mode })
          const caps = [...capabilitiesOf(definition, ctx.options)]
          const where = `with ${JSON.stringify(mode)}; known ${definition.kind} capabilities: ${KNOWN_CAPABILITIES[definition.kind].join(', ')}`
          expect(unknownCapabilities(definition.kind, caps), where).toEqual([])
          expect(new Set(caps).size, `each capability once, ${where}`).toBe(caps.length)
        }
      })

      it('every option is declared with a camelCase (dotted) name, a known type and a one-line doc', () => {
        for (const [name, s] of t.options) {
          expect(name, 'option name').toMatch(/^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)*$/)
          expect(['string', 'number', 'integer', 'boolean', 'duration', 'list', 'enum'], name).toContain(
            s.type,
          )
          expect(typeof s.doc === 'string' && s.doc.trim().length > 0, `${name}: doc`).toBe(true)
          expect(s.doc.includes('\n'), `${name}: the doc is one line`).toBe(false)
          if (s.type === 'enum') expect((s.values ?? []).length, `${name}: values`).toBeGreaterThan(0)
        }
      })

      it('every default is a value its own declaration accepts', async () => {
        const defaults = Object.fromEntries(
          t.options.filter(([, s]) => s.default !== undefined).map(([name, s]) => [name, s.default]),
        )
        const ctx = await t.load({ options: defaults })
        for (const [name, value] of Object.entries(defaults)) expect(ctx.options[name], name).toEqual(value)
        const bare = await t.load({})
        for (const [name, value] of Object.entries(defaults))
          expect(bare.options[name], `${name} without a value`).toEqual(value)
      })
    })

    definitionOptions(t)
  })
}
