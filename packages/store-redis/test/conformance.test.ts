import { randomUUID } from 'node:crypto'
import { storeConformance } from '@micro-ts/conformance'
import { afterAll } from 'vitest'
import { createRedisStore, escapeGlob } from '../src/index.js'
import { deleteMatching, REDIS_URL, reachable } from './helpers.js'

// Every run writes under its own key prefix (deleted afterwards), so runs never see each other's keys.
const keyPrefix = `micro-conformance-${randomUUID().slice(0, 8)}:`
const up = await reachable(REDIS_URL, 'store-redis conformance')

storeConformance({
  name: 'redis',
  create: () => createRedisStore({ address: REDIS_URL, keyPrefix }),
  capabilities: ['ttl', 'metadata', 'shared'],
  skip: up ? false : `Redis at ${REDIS_URL} is unreachable`,
})

afterAll(async () => {
  if (up) await deleteMatching(REDIS_URL, `${escapeGlob(keyPrefix)}*`)
})
