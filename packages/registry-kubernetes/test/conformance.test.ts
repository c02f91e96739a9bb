/**
 * The registry conformance suite against the real kube-apiserver scripts/backends.sh starts. Each
 * instance the suite asks for is a process in a pod of its own: a fresh pod in this run's
 * namespace, made Running, and a registry that patches it.
 */
import { declaredCapabilities, pluginDefinitionConformance, registryConformance } from '@micro-ts/conformance'
import plugin, { createKubernetesRegistry } from '../src/index.js'
import { Cluster, probe, SHARED, suffix } from './cluster.js'

const skip = await probe(SHARED)
const cluster = skip ? undefined : new Cluster(SHARED)
const namespace = cluster ? await cluster.namespace('micro-conformance') : ''
let pods = 0

// Its options from code and from every variable, and its capability names, without an API server.
pluginDefinitionConformance(plugin)

registryConformance({
  name: 'kubernetes',
  async create() {
    if (!cluster) throw new Error('no API server')
    const pod = `conformance-${++pods}-${suffix(2)}`
    await cluster.pod(namespace, pod)
    return createKubernetesRegistry(cluster.registryOptions(namespace, pod))
  },
  // Declared once, on the plugin definition.
  capabilities: declaredCapabilities(plugin),
  // A watch lists before it watches: give it a moment before the suite's first change.
  options: { watchSettle: 300, visibilityTimeout: 5_000 },
  skip,
})
