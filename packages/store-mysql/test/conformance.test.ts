import { declaredCapabilities, storeConformance } from '@micro-ts/conformance'
import { afterAll } from 'vitest'
import plugin, { createMySQLStore } from '../src/index.js'
import { ADDRESS, admin, probe, runId } from './helpers.js'

// Every run gets its own databases (dropped afterwards), so runs never see each other's rows.
const run = runId()
const databases = [`conf_${run}_default`, `conf_${run}_a`, `conf_${run}_b`] as const
const skip = await probe()

storeConformance({
  name: 'mysql',
  create: () => createMySQLStore({ address: ADDRESS, database: databases[0], sweepInterval: 0 }),
  capabilities: declaredCapabilities(plugin),
  options: { databases: [databases[1], databases[2]] },
  skip,
})

afterAll(async () => {
  if (skip) return
  for (const db of databases) await admin(`DROP DATABASE IF EXISTS \`${db}\``)
})
