import { declaredCapabilities, storeConformance } from '@micro-ts/conformance'
import { probeBackend, RUN_ID } from '@micro-ts/conformance/testing'
import { afterAll } from 'vitest'
import plugin, { createPostgresStore } from '../src/index.js'
import { POSTGRES_URL, rawQuery, SHARED } from './helpers.js'

// Every run gets its own schemas (dropped afterwards), so runs never see each other's rows.
const databases = [`conf_${RUN_ID}_default`, `conf_${RUN_ID}_a`, `conf_${RUN_ID}_b`] as const
// Unreachable: the suite skips loudly, or fails under CI.
const skip = await probeBackend(SHARED, () => rawQuery(POSTGRES_URL, 'SELECT 1'))

storeConformance({
  name: 'postgres',
  create: () => createPostgresStore({ address: POSTGRES_URL, database: databases[0], sweepInterval: 0 }),
  capabilities: declaredCapabilities(plugin),
  options: { databases: [databases[1], databases[2]] },
  skip,
})

afterAll(async () => {
  if (skip) return
  for (const db of databases) await rawQuery(POSTGRES_URL, `DROP SCHEMA IF EXISTS "${db}" CASCADE`)
})
