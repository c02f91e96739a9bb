/** What the plugin's definition promises: its options from code and from every variable, its capabilities, its README table. */
import { pluginDefinitionConformance } from '@micro-ts/conformance'
import { expectReadmeOptions } from '@micro-ts/conformance/testing'
import type { AnyPluginDefinition } from '@micro-ts/core/plugin'
import { it } from 'vitest'
import plugin from '../src/index.js'

// The cast goes once the kit's PluginDefinition accepts a specific definition (requested).
const definition = plugin as unknown as AnyPluginDefinition

pluginDefinitionConformance(definition)

it('the README documents every option exactly as declared', () => {
  expectReadmeOptions(new URL('../README.md', import.meta.url), definition)
})
