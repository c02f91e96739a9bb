import { declaredCapabilities, pluginDefinitionConformance, registryConformance } from '@micro-ts/conformance'
import { probeBackend } from '@micro-ts/conformance/testing'
import { silentLogger } from '@micro-ts/core'
import plugin, { createConsulRegistry } from '../src/index.js'
import { agentReady, SHARED_ADDRESS } from './consul-server.js'

// Unreachable: the suite skips loudly, or fails under CI.
const skip = await probeBackend(`Consul at ${SHARED_ADDRESS}`, async () => {
  if (!(await agentReady(SHARED_ADDRESS))) throw new Error('no leader')
})

// Its options from code and from every variable, and its capability names, without Consul.
pluginDefinitionConformance(plugin)

registryConformance({
  name: 'consul',
  create: () => createConsulRegistry({ addresses: [SHARED_ADDRESS], logger: silentLogger }),
  // Declared on the plugin: TTL checks, watches on blocking queries, one agent shared by all.
  capabilities: declaredCapabilities(plugin),
  // A TTL check goes critical at its TTL and the node drops out of health answers at once.
  options: { ttl: 1000, expiryTolerance: 1500 },
  skip,
})
