/**
 * Test helpers on a real API server: the shared one scripts/backends.sh starts (address, admin
 * token file and CA from MICRO_TEST_KUBERNETES_*), fresh namespaces, pods made Running by hand
 * (no scheduler or kubelet runs here, so pods would stay Pending), service-account tokens from
 * the TokenRequest API, and registry options that point at a pod.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node'
import { probeBackend } from '@micro-ts/conformance'

export interface ClusterAccess {
  /** `https://127.0.0.1:<port>` */
  server: string
  /** A file holding a token of a `system:masters` user. */
  tokenFile: string
  caFile: string
}

export const SHARED: ClusterAccess = {
  server: process.env.MICRO_TEST_KUBERNETES_ADDRESS ?? 'https://127.0.0.1:6443',
  tokenFile: process.env.MICRO_TEST_KUBERNETES_TOKEN_FILE ?? '/tmp/micro-kubernetes/admin.token',
  caFile: process.env.MICRO_TEST_KUBERNETES_CA_FILE ?? '/tmp/micro-kubernetes/ca.crt',
}

/** A short random suffix for names that must be DNS labels. */
export function suffix(bytes = 4): string {
  return randomBytes(bytes).toString('hex')
}

export function adminConfig(access: ClusterAccess): KubeConfig {
  const kc = new KubeConfig()
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: access.server, caFile: access.caFile, skipTLSVerify: false }],
    users: [{ name: 'admin', token: readFileSync(access.tokenFile, 'utf8').trim() }],
    contexts: [{ name: 'test', cluster: 'test', user: 'admin' }],
    currentContext: 'test',
  })
  return kc
}

/** Why the API server cannot be used (for a suite's `skip`), or false when it answers. */
export function probe(access: ClusterAccess = SHARED): Promise<string | false> {
  return probeBackend(`kube-apiserver at ${access.server}`, async () => {
    const core = adminConfig(access).makeApiClient(CoreV1Api)
    await core.listNamespace({ limit: 1 })
  })
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch)
const strategicPatch = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch)

export class Cluster {
  readonly kubeConfig: KubeConfig
  readonly core: CoreV1Api
  readonly rbac: RbacAuthorizationV1Api

  constructor(readonly access: ClusterAccess = SHARED) {
    this.kubeConfig = adminConfig(access)
    this.core = this.kubeConfig.makeApiClient(CoreV1Api)
    this.rbac = this.kubeConfig.makeApiClient(RbacAuthorizationV1Api)
  }

  /** A new namespace (deleted namespaces stay Terminating without a controller-manager: never reuse one). */
  async namespace(prefix = 'micro-test'): Promise<string> {
    const name = `${prefix}-${suffix()}`
    await this.core.createNamespace({ body: { metadata: { name } } })
    return name
  }

  /** Create a pod and, unless `phase` says otherwise, make it Running as a kubelet would. */
  async pod(
    namespace: string,
    name: string,
    options: { phase?: string; labels?: Record<string, string>; podIP?: string } = {},
  ): Promise<V1Pod> {
    await this.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name, labels: options.labels },
        spec: { containers: [{ name: 'app', image: 'micro-ts/test:0' }] },
      },
    })
    return this.setPhase(namespace, name, options.phase ?? 'Running', options.podIP)
  }

  /** Patch `pods/NAME/status`, the only way a pod leaves Pending here. */
  async setPhase(namespace: string, name: string, phase: string, podIP = '127.0.0.1'): Promise<V1Pod> {
    return this.core.patchNamespacedPodStatus(
      { name, namespace, body: { status: { phase, podIP, podIPs: [{ ip: podIP }] } } },
      mergePatch,
    )
  }

  /** A strategic merge patch of a pod's labels and annotations, as go-micro's UpdatePod sends it. */
  async patchMetadata(
    namespace: string,
    name: string,
    metadata: { labels?: Record<string, string | null>; annotations?: Record<string, string | null> },
  ): Promise<V1Pod> {
    return this.core.patchNamespacedPod({ name, namespace, body: { metadata } }, strategicPatch)
  }

  async readPod(namespace: string, name: string): Promise<V1Pod> {
    return this.core.readNamespacedPod({ name, namespace })
  }

  /** Mark a pod as being deleted (a graceful delete sets deletionTimestamp and keeps the pod). */
  async deletePod(namespace: string, name: string, gracePeriodSeconds = 30): Promise<void> {
    await this.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds })
  }

  /** A short-lived token of a service account, from the TokenRequest API (what the kubelet mounts). */
  async serviceAccountToken(namespace: string, serviceAccount: string, seconds = 3600): Promise<string> {
    const r = await this.core.createNamespacedServiceAccountToken({
      name: serviceAccount,
      namespace,
      body: { spec: { audiences: [], expirationSeconds: seconds } },
    })
    const token = r.status?.token
    if (!token) throw new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`)
    return token
  }

  /** Registry options for a process running as `pod` in `namespace`, with the admin token. */
  registryOptions(namespace: string, pod?: string): Record<string, unknown> & { addresses: string[] } {
    return {
      addresses: [this.access.server],
      tokenFile: this.access.tokenFile,
      'tls.caFile': this.access.caFile,
      namespace,
      ...(pod ? { pod } : {}),
    }
  }
}

/** The HTTP status of a failed admin call (for assertions). */
export function codeOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined
}
