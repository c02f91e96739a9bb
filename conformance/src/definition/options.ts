/**
 * Options through core's one intake: an unknown option and a bad value of each declared option
 * are the same 400; every option works from its variables; code wins over the environment,
 * the environment over the default; secret values are never echoed.
 */
import { optionEnvName, optionEnvNames } from '@micro-ts/core/plugin'
import { describe, expect, it } from 'vitest'
import type { DefinitionSuite } from './context.js'
import { badText, badValues, goodTexts } from './values.js'

export function definitionOptions(t: DefinitionSuite): void {
  const { definition, options, refused, load } = t
  const owner = { kind: definition.kind, name: definition.name }
  const accepted = options.map(([name]) => name)

  describe('options', () => {
    it('an unknown option is a 400 naming it and every accepted option', async () => {
      const err = await refused({ options: { conformanceNoSuchOption: 1 } })
      expect(err.detail).toContain('unknown option conformanceNoSuchOption')
      expect(err.detail).toContain(`accepted: ${accepted.length > 0 ? accepted.join(', ') : '(none)'}`)
    })

    const group = accepted.find((n) => n.includes('.'))?.split('.')[0]
    if (group !== undefined) {
      it(`an unknown option inside the ${group} group is a 400 naming its dotted name`, async () => {
        const err = await refused({ options: { [group]: { conformanceNoSuchOption: 1 } } })
        expect(err.detail).toContain(`unknown option ${group}.conformanceNoSuchOption`)
      })
    }

    if (options.length === 0) {
      it('it declares no options: any option is refused', async () => {
        const err = await refused({ options: { address: 'x' } })
        expect(err.detail).toContain('accepted: (none)')
      })
      return
    }

    for (const [name, s] of options) {
      for (const bad of badValues(s)) {
        it(`option ${name}: ${bad.label} from code is a 400 naming the option and what it accepts`, async () => {
          const err = await refused({ options: { [name]: bad.value } })
          expect(err.detail).toContain(`option ${name} must be `)
          if (s.type === 'enum') expect(err.detail).toContain((s.values ?? []).join(', '))
          if (s.secret) expect(err.detail).not.toContain(String(bad.value))
        })
      }

      const text = badText(s)
      if (text !== undefined) {
        it(`option ${name}: bad text in ${optionEnvName(owner, name)} is the same 400, naming the variable`, async () => {
          const variable = optionEnvName(owner, name)
          const err = await refused({ env: { [variable]: text } })
          expect(err.detail).toContain(`option ${name} must be `)
          expect(err.detail).toContain(`(from ${variable})`)
        })
      }

      const goods = goodTexts(s)
      if (goods.length > 0) {
        it(`option ${name}: every variable that sets it works, and the value arrives coerced in create()`, async () => {
          const good = goods[0]
          for (const variable of optionEnvNames(owner, name, s)) {
            const ctx = await load({ env: { [variable]: good.text } })
            expect(ctx.options[name], `${variable}=${good.text}`).toEqual(good.value)
          }
        })
      }

      if (goods.length > 1) {
        it(`option ${name}: a value from code wins over the variable, which wins over the default`, async () => {
          const [fromEnv, fromCode] = goods
          const variable = optionEnvName(owner, name)
          const ctx = await load({ env: { [variable]: fromEnv.text }, options: { [name]: fromCode.value } })
          expect(ctx.options[name], 'code over environment').toEqual(fromCode.value)
          const envOnly = await load({ env: { [variable]: fromEnv.text } })
          expect(envOnly.options[name], 'environment over default').toEqual(fromEnv.value)
        })
      }
    }
  })
}
