import { randomUUID } from 'node:crypto'
import { declaredCapabilities, storeConformance } from '@micro-ts/conformance'
import { afterAll } from 'vitest'
import plugin, { createPostgresStore } from '../src/index.js'
import { POSTGRES_URL, probe, rawQuery } from './helpers.js'

// Every run gets its own schemas (dropped afterwards), so runs never see each other's rows.
const run = randomUUID().slice(0, 8)
const databases = [`conf_${run}_default`, `conf_${run}_a`, `conf_${run}_b`] as const
// Unreachable: the suite skips loudly, or fails under CI.
const unreachable = await probe(POSTGRES_URL)

storeConformance({
  name: 'postgres',
  create: () => createPostgresStore({ address: POSTGRES_URL, database: databases[0], sweepInterval: 0 }),
  capabilities: declaredCapabilities(plugin),
  options: { databases: [databases[1], databases[2]] },
  skip: unreachable ?? false,
})

afterAll(async () => {
  if (unreachable) return
  for (const db of databases) await rawQuery(POSTGRES_URL, `DROP SCHEMA IF EXISTS "${db}" CASCADE`)
})
