/**
 * @micro-ts/registry-kubernetes — service discovery on the Kubernetes API in go-micro's layout: a
 * service labels and annotates its own pod, lookups read the Running pods that carry the labels.
 * Select it with `MICRO_REGISTRY=kubernetes`.
 */
import { type Logger, silentLogger } from '@micro-ts/core'
import { definePlugin, type OptionInput, parseOptions } from '@micro-ts/core/plugin'
import { PodApi } from './client.js'
import { type Env, resolveConfig } from './config.js'
import { KubernetesRegistry } from './kubernetes.js'
import { type KubernetesOptionSpecs, OPTIONS } from './options.js'

export { apiError } from './client.js'
export type { ResolvedConfig } from './config.js'
export { KubernetesRegistry } from './kubernetes.js'
export {
  ALL_SERVICES_SELECTOR,
  ANNOTATION_PREFIX,
  annotationKey,
  extraAnnotationKey,
  keyName,
  RUNNING,
  SELECTOR_PREFIX,
  SELECTOR_VALUE,
  sanitize,
  selectorLabel,
  serviceSelector,
  TYPE_LABEL,
  TYPE_VALUE,
} from './layout.js'
export { OPTIONS, SERVICE_ACCOUNT_DIR } from './options.js'

/** The capabilities the conformance suite checks: no `ttl` (a registration lasts as long as its pod). */
export const CAPABILITIES = ['watch', 'shared', 'serviceMetadata'] as const

const plugin = definePlugin({
  kind: 'registry',
  name: 'kubernetes',
  options: OPTIONS,
  capabilities: CAPABILITIES,
  create({ addresses, options, env, logger }) {
    const config = resolveConfig(addresses, options, env)
    logger.debug(
      { server: config.server, namespace: config.namespace, source: config.source, pod: options.pod },
      'kubernetes registry: configured',
    )
    const api = new PodApi(
      config.kubeConfig,
      config.namespace,
      options.timeout,
      options.pageSize,
      config.token,
    )
    return new KubernetesRegistry({ api, pod: options.pod, logger })
  },
})
export default plugin

export interface CreateKubernetesRegistryOptions extends OptionInput<KubernetesOptionSpecs> {
  /** The API server (else the kubeconfig or the pod's service account). */
  addresses?: string[]
  /**
   * Where the variables the options name are read (POD_NAME, KUBECONFIG, KUBERNETES_SERVICE_HOST,
   * ...). Default: none, so code alone decides.
   */
  env?: Env
  logger?: Logger
}

/** The registry from code: `createKubernetesRegistry({ namespace: 'shop', pod: 'greeter-0', kubeconfig })`. */
export async function createKubernetesRegistry(
  options: CreateKubernetesRegistryOptions = {},
): Promise<KubernetesRegistry> {
  const { addresses = [], env = {}, logger = silentLogger, ...given } = options
  // The loader's intake: the same 400s for a bad option as MICRO_REGISTRY=kubernetes gives.
  const values = parseOptions(OPTIONS, given, { kind: 'registry', name: 'kubernetes', env })
  return (await plugin.create({ addresses, options: values, env, logger })) as KubernetesRegistry
}
