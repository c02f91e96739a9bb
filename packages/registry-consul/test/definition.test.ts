/** What the plugin's definition promises: its options from code and from every variable, its capabilities, its README table. */
import { pluginDefinitionConformance } from '@micro-ts/conformance'
import { expectReadmeOptions } from '@micro-ts/conformance/testing'
import { it } from 'vitest'
import plugin from '../src/index.js'

pluginDefinitionConformance(plugin)

it('the README documents every option exactly as declared', () => {
  expectReadmeOptions(new URL('../README.md', import.meta.url), plugin)
})
