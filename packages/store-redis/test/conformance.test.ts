import { declaredCapabilities, storeConformance } from '@micro-ts/conformance'
import { probeBackend, RUN_ID } from '@micro-ts/conformance/testing'
import { afterAll } from 'vitest'
import plugin, { createRedisStore, escapeGlob } from '../src/index.js'
import { deleteMatching, ping, REDIS_URL, SHARED } from './helpers.js'

// Every run writes under its own key prefix (deleted afterwards), so runs never see each other's keys.
const keyPrefix = `micro-conformance-${RUN_ID}:`
// Unreachable: the suite skips loudly, or fails under CI.
const skip = await probeBackend(SHARED, () => ping(REDIS_URL))

storeConformance({
  name: 'redis',
  create: () => createRedisStore({ address: REDIS_URL, keyPrefix }),
  capabilities: declaredCapabilities(plugin),
  skip,
})

afterAll(async () => {
  if (!skip) await deleteMatching(REDIS_URL, `${escapeGlob(keyPrefix)}*`)
})
