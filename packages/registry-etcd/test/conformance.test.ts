import { registryConformance } from '@micro-ts/conformance'
import { silentLogger } from '@micro-ts/core'
import { createEtcdRegistry } from '../src/index.js'
import { canConnect, SHARED_ADDRESS } from './etcd-server.js'

const up = await canConnect(SHARED_ADDRESS)

registryConformance({
  name: 'etcd',
  create: () => createEtcdRegistry({ addresses: [SHARED_ADDRESS], logger: silentLogger }),
  capabilities: ['ttl', 'watch', 'shared', 'serviceMetadata'],
  // A node the owner stops refreshing is revoked at its TTL; 1s keeps the TTL cases quick.
  // etcd creates a watch asynchronously (a stream, then a create request): give it a moment.
  options: { ttl: 1000, expiryTolerance: 1500, watchSettle: 500 },
  skip: up ? false : `etcd at ${SHARED_ADDRESS} is unreachable`,
})
