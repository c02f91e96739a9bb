// Capabilities are read from definitions: the built-ins' from core, a plugin's from its own, a
// mode-dependent one for the options given, and an unknown name is an error, not an absence.
import { builtInPlugins, createMemoryBroker, definePlugin, option } from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import {
  BUILT_IN_CAPABILITIES,
  builtInDefinition,
  declaredCapabilities,
  KNOWN_CAPABILITIES,
} from '../src/index.js'

describe('capabilities', () => {
  it('BUILT_IN_CAPABILITIES is what core’s built-in definitions declare', () => {
    for (const d of builtInPlugins()) {
      expect(BUILT_IN_CAPABILITIES[d.kind][d.name], `${d.kind} ${d.name}`).toEqual(declaredCapabilities(d))
    }
    expect(builtInDefinition('store', 'memory').name).toBe('memory')
    expect(() => builtInDefinition('store', 'nope')).toThrow('built-in stores: memory')
  })

  it('a definition whose capabilities depend on its options is asked with them', () => {
    const plugin = definePlugin({
      kind: 'broker',
      name: 'modes',
      options: { durable: option.flag({ doc: 'Stored, acknowledged delivery', default: false }) },
      capabilities: ['queue'],
      modeCapabilities: (o) => (o.durable ? ['ack'] : []),
      create: () => createMemoryBroker(),
    })
    expect(declaredCapabilities(plugin)).toEqual(['queue'])
    expect(declaredCapabilities(plugin, { durable: true })).toEqual(['queue', 'ack'])
  })

  it('an unknown capability is a TypeError naming it and the known ones', () => {
    const plugin = definePlugin({
      kind: 'store',
      name: 'typo',
      capabilities: ['ttl', 'metdata'],
      create: () => {
        throw new Error('not created')
      },
    })
    expect(() => declaredCapabilities(plugin)).toThrow(
      `store plugin typo declares unknown capabilities metdata; known: ${KNOWN_CAPABILITIES.store.join(', ')}`,
    )
  })
})
