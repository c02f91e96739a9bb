import { randomUUID } from 'node:crypto'
import { declaredCapabilities, storeConformance } from '@micro-ts/conformance'
import { afterAll } from 'vitest'
import plugin, { createRedisStore, escapeGlob } from '../src/index.js'
import { deleteMatching, probe, REDIS_URL } from './helpers.js'

// Every run writes under its own key prefix (deleted afterwards), so runs never see each other's keys.
const keyPrefix = `micro-conformance-${randomUUID().slice(0, 8)}:`
// Unreachable: the suite skips loudly, or fails under CI.
const unreachable = await probe(REDIS_URL)

storeConformance({
  name: 'redis',
  create: () => createRedisStore({ address: REDIS_URL, keyPrefix }),
  capabilities: declaredCapabilities(plugin),
  skip: unreachable ?? false,
})

afterAll(async () => {
  if (!unreachable) await deleteMatching(REDIS_URL, `${escapeGlob(keyPrefix)}*`)
})
