import { declaredCapabilities, pluginDefinitionConformance, registryConformance } from '@micro-ts/conformance'
import { probeBackend } from '@micro-ts/conformance/testing'
import { silentLogger } from '@micro-ts/core'
import plugin, { createEtcdRegistry } from '../src/index.js'
import { pingEtcd, SHARED_ADDRESS } from './helpers.js'

// Its options from code and from every variable, and its capability names, without etcd.
pluginDefinitionConformance(plugin)

registryConformance({
  name: 'etcd',
  create: () => createEtcdRegistry({ addresses: [SHARED_ADDRESS], logger: silentLogger }),
  // The definition's: ttl, watch, shared, serviceMetadata.
  capabilities: declaredCapabilities(plugin),
  // A node the owner stops refreshing is revoked at its TTL; 1s keeps the TTL cases quick.
  // etcd creates a watch asynchronously (a stream, then a create request): give it a moment.
  options: { ttl: 1000, expiryTolerance: 1500, watchSettle: 500 },
  skip: await probeBackend(`etcd at ${SHARED_ADDRESS}`, () => pingEtcd(SHARED_ADDRESS)),
})
