/** Docs that cannot drift: a plugin's README carries the option table made from its declarations. */
import { readFileSync } from 'node:fs'
import type { AnyPluginDefinition } from '@micro-ts/core'
import { optionsTable } from '@micro-ts/core/plugin'
import { expect } from 'vitest'

/** The Markdown table of `definition`'s options, as the README must carry it. */
export function optionsTableOf(definition: AnyPluginDefinition): string {
  return optionsTable(definition.options ?? {}, definition)
}

/**
 * Fails unless the README at `readmePath` contains the option table generated from the
 * definition, byte for byte (regenerate it with `optionsTableOf` when an option changes).
 */
export function expectReadmeOptions(readmePath: string | URL, definition: AnyPluginDefinition): void {
  const readme = readFileSync(readmePath, 'utf8')
  const table = optionsTableOf(definition)
  expect(
    readme.includes(table),
    `${String(readmePath)} must contain the generated options table:\n\n${table}\n`,
  ).toBe(true)
}
