/**
 * What the definition groups share: the declared options, and the loader run on a copy of the
 * definition whose `create()` only hands back the context it was given (no backend needed).
 */
import type { OptionSpec, PluginContext, PluginDefinition, PluginKind } from '@micro-ts/core'
import { createPlugin, errorIdOf, type LoadContext } from '@micro-ts/core/plugin'
import { expect } from 'vitest'
import { describeError, type ErrorShape, isMicroErrorShape } from '../util.js'

export interface DefinitionSuite {
  definition: PluginDefinition<PluginKind>
  /** The declared options, in declaration order. */
  options: Array<[string, OptionSpec]>
  /** The error id every option error carries (`go.micro.<kind>`). */
  id: string
  /** `<name> <kind>`, the start of every option error's detail. */
  label: string
  /** Run core's loader (options checked, variables read) and return what `create()` was given. */
  load(context: Pick<LoadContext, 'options' | 'env'>): Promise<PluginContext>
  /**
   * Option sets that may change what the plugin is (for capabilities that depend on a mode):
   * none, each flag flipped from its default, each value of each choice.
   */
  modes(): Array<Record<string, unknown>>
  /** Run the loader and return the 400 it must refuse with. */
  refused(context: Pick<LoadContext, 'options' | 'env'>): Promise<ErrorShape>
}

/** A sentinel `create()` resolves with: the suite never builds a real instance. */
const NOT_CREATED = Symbol('not created')

export function definitionContext(definition: PluginDefinition<PluginKind>): DefinitionSuite {
  const options = Object.entries(definition.options ?? {})
  const id = errorIdOf(definition.kind)
  const label = `${definition.name} ${definition.kind}`

  async function load(context: Pick<LoadContext, 'options' | 'env'>): Promise<PluginContext> {
    let seen: PluginContext | undefined
    const recording = {
      ...definition,
      create: (ctx: PluginContext) => {
        seen = ctx
        return NOT_CREATED as never
      },
    } as PluginDefinition<PluginKind>
    // Without `env` the test's own environment would leak in: an empty one unless the case sets it.
    await createPlugin(recording, { env: {}, ...context, addresses: [] })
    if (!seen) throw new Error('createPlugin() did not call create()')
    return seen
  }

  return {
    definition,
    options,
    id,
    label,
    load,
    modes() {
      const out: Array<Record<string, unknown>> = [{}]
      for (const [name, s] of options) {
        if (s.type === 'boolean') out.push({ [name]: s.default !== true })
        if (s.type === 'enum') for (const v of s.values ?? []) if (v !== s.default) out.push({ [name]: v })
      }
      return out
    },
    async refused(context) {
      let outcome: unknown
      try {
        await load(context)
      } catch (e) {
        outcome = e
      }
      if (outcome === undefined)
        expect.fail(`expected a 400 MicroError for ${JSON.stringify(context)}, but it loaded`)
      if (!isMicroErrorShape(outcome)) expect.fail(`expected a 400 MicroError, got ${describeError(outcome)}`)
      expect(outcome.code, outcome.detail).toBe(400)
      expect(outcome.id, outcome.detail).toBe(id)
      expect(
        outcome.detail.startsWith(`${label}: `),
        `detail starts with "${label}: ": ${outcome.detail}`,
      ).toBe(true)
      return outcome
    },
  }
}
