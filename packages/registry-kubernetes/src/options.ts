/**
 * The kubernetes registry's options, declared once: the loader checks them, fills them from the
 * environment (`MICRO_REGISTRY_KUBERNETES_<OPTION>` and the variables listed), and the README's
 * table is made from them.
 */
import { option, pluginErrors, tlsOptions } from '@micro-ts/core/plugin'

/** Where the kubelet mounts a pod's service account: token, ca.crt, namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

export const OPTIONS = {
  namespace: option.string({
    doc: "Namespace whose pods hold the services; default: the service account's (in a pod), the kubeconfig context's, else `default`",
    env: ['POD_NAMESPACE'],
  }),
  pod: option.string({
    doc: 'This process’s pod, which register patches (the downward API’s metadata.name; go-micro reads HOSTNAME)',
    env: ['POD_NAME', 'HOSTNAME'],
  }),
  kubeconfig: option.string({
    doc: 'Path of a kubeconfig file, or several joined with `:` (merged; the first one’s current context names the cluster, user and namespace)',
    env: ['KUBECONFIG'],
  }),
  context: option.string({ doc: 'Kubeconfig context to use instead of its current one' }),
  inCluster: option.flag({
    doc: "Use the pod's service account and KUBERNETES_SERVICE_HOST/PORT; default: when KUBERNETES_SERVICE_HOST is set and neither an address nor a kubeconfig is given",
  }),
  serviceAccountDir: option.string({
    doc: "Folder with the service account's token, ca.crt and namespace (in-cluster)",
    default: SERVICE_ACCOUNT_DIR,
  }),
  token: option.secret({ doc: 'Bearer token for the API server at MICRO_REGISTRY_ADDRESS' }),
  tokenFile: option.string({
    doc: 'File with the bearer token for MICRO_REGISTRY_ADDRESS, read again every minute (rotated tokens)',
  }),
  ...tlsOptions('the API server at MICRO_REGISTRY_ADDRESS'),
  timeout: option.duration({
    doc: 'Deadline of each API request (not of watches), ms',
    default: 10_000,
    min: 1,
  }),
  pageSize: option.integer({ doc: 'Pods per page when listing', default: 500, min: 1, max: 10_000 }),
} as const

export type KubernetesOptionSpecs = typeof OPTIONS

/** Every error this registry makes: go-micro's registry id, detail starting `kubernetes registry:`. */
export const errors = pluginErrors('registry', 'kubernetes registry')
