/**
 * Which API server to talk to, as whom, and in which namespace. Four sources, first match wins:
 * `inCluster: true`; an address (`MICRO_REGISTRY_ADDRESS`) with a token and CA; a kubeconfig
 * file (`kubeconfig` / `KUBECONFIG`); in-cluster when `KUBERNETES_SERVICE_HOST` is set; and last
 * `$HOME/.kube/config`. Variables come from the environment the loader passes, never from
 * `process.env`, so a service configured in code is not changed by the shell it runs in.
 */
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { KubeConfig } from '@kubernetes/client-node'
import { type OptionValues, parseUrl, readTls } from '@micro-ts/core/plugin'
import { errors, type KubernetesOptionSpecs } from './options.js'

export type KubernetesOptionValues = OptionValues<KubernetesOptionSpecs>
export type Env = Readonly<Record<string, string | undefined>>

export interface ResolvedConfig {
  kubeConfig: KubeConfig
  /** Set when the token comes from a file: read again before requests, once a minute. */
  token?: TokenFile
  namespace: string
  /** Where the configuration came from, for logs and errors. */
  source: 'in-cluster' | 'address' | 'kubeconfig'
  /** The API server URL. */
  server: string
}

const CLUSTER = 'micro'
/** How long a token read from a file is used before the file is read again (client-go's figure). */
const TOKEN_REFRESH_MS = 60_000

/**
 * A bearer token kept in a file — the kubelet's projected service-account token, which it
 * rotates, or a `tokenFile` — read again once a minute, surrounding whitespace dropped (a
 * trailing newline is no part of a token, and would be an illegal header).
 */
export class TokenFile {
  private readAt = 0

  constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly user: string,
    readonly file: string,
  ) {
    this.refresh(true)
  }

  /** Read the file if its minute is up (or `force`); an unreadable file keeps the last token. */
  refresh(force = false): void {
    if (!force && Date.now() - this.readAt < TOKEN_REFRESH_MS) return
    let token: string
    try {
      token = readFileSync(this.file, 'utf8').trim()
    } catch (err) {
      if (force)
        throw errors.badOption(`cannot read the token file ${this.file}: ${(err as Error).message}`, err)
      return
    }
    if (force && token === '') throw errors.badOption(`the token file ${this.file} is empty`)
    this.readAt = Date.now()
    this.kubeConfig.users = this.kubeConfig.users.map((u) => (u.name === this.user ? { ...u, token } : u))
  }
}
const base64 = (pem: string) => Buffer.from(pem, 'utf8').toString('base64')

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8').trim()
  } catch (err) {
    throw errors.badOption(`cannot read the ${what} ${file}: ${(err as Error).message}`, err)
  }
}

/** The pod's service account, as the kubelet mounts it, and the API server the kubelet names. */
function inCluster(o: KubernetesOptionValues, env: Env): ResolvedConfig {
  const host = env.KUBERNETES_SERVICE_HOST?.trim()
  const port = env.KUBERNETES_SERVICE_PORT?.trim() || '443'
  if (!host) {
    throw errors.badOption(
      'in-cluster configuration needs KUBERNETES_SERVICE_HOST (set by the kubelet in every pod); outside a pod set KUBECONFIG or MICRO_REGISTRY_ADDRESS',
    )
  }
  const dir = o.serviceAccountDir
  const tokenFile = path.join(dir, 'token')
  const caFile = path.join(dir, 'ca.crt')
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`
  const kubeConfig = new KubeConfig()
  kubeConfig.loadFromOptions({
    clusters: [{ name: CLUSTER, server, caFile, skipTLSVerify: false }],
    users: [{ name: 'service-account' }],
    contexts: [{ name: CLUSTER, cluster: CLUSTER, user: 'service-account' }],
    currentContext: CLUSTER,
  })
  // Bound service account tokens rotate: the file is read again every minute. Reading it now
  // fails start-up, naming the file, rather than the first call.
  const token = new TokenFile(kubeConfig, 'service-account', tokenFile)
  const namespace = o.namespace ?? readText(path.join(dir, 'namespace'), 'service account namespace file')
  kubeConfig.contexts = [{ name: CLUSTER, cluster: CLUSTER, user: 'service-account', namespace }]
  if (!existsSync(caFile)) throw errors.badOption(`the service account CA ${caFile} does not exist`)
  return { kubeConfig, token, namespace, source: 'in-cluster', server }
}

/** An API server URL from `MICRO_REGISTRY_ADDRESS`, with the token and TLS options. */
function fromAddress(address: string, o: KubernetesOptionValues): ResolvedConfig {
  const url = parseUrl(address, {
    schemes: ['https', 'http'],
    defaultPort: 443,
    label: 'kubernetes registry',
    errorId: errors.id,
    example: 'https://host:6443',
  })
  const server = `${url.protocol}//${url.host}`
  const tls = readTls(o, errors, url.protocol === 'https:') ?? {}
  if (o.token !== undefined && o.tokenFile !== undefined) {
    throw errors.badOption('give token or tokenFile, not both')
  }
  const user: Record<string, unknown> = { name: 'micro' }
  if (o.token !== undefined) user.token = o.token.trim()
  if (tls.cert !== undefined) user.certData = base64(tls.cert)
  if (tls.key !== undefined) user.keyData = base64(tls.key)
  const namespace = o.namespace ?? 'default'
  const kubeConfig = new KubeConfig()
  kubeConfig.loadFromOptions({
    clusters: [
      { name: CLUSTER, server, skipTLSVerify: false, ...(tls.ca ? { caData: base64(tls.ca) } : {}) },
    ],
    users: [user],
    contexts: [{ name: CLUSTER, cluster: CLUSTER, user: 'micro', namespace }],
    currentContext: CLUSTER,
  })
  const token = o.tokenFile === undefined ? undefined : new TokenFile(kubeConfig, 'micro', o.tokenFile)
  return { kubeConfig, token, namespace, source: 'address', server }
}

/** A kubeconfig file, or several joined with `:` (merged, the first one's current context wins). */
function fromKubeconfig(list: string, o: KubernetesOptionValues): ResolvedConfig {
  const files = list.split(path.delimiter).filter(Boolean)
  const kubeConfig = new KubeConfig()
  for (const [i, file] of files.entries()) {
    if (!existsSync(file)) throw errors.badOption(`the kubeconfig ${file} does not exist`)
    try {
      if (i === 0) kubeConfig.loadFromFile(file)
      else {
        const more = new KubeConfig()
        more.loadFromFile(file)
        kubeConfig.mergeConfig(more, true)
      }
    } catch (err) {
      throw errors.badOption(`cannot load the kubeconfig ${file}: ${(err as Error).message}`, err)
    }
  }
  if (o.context !== undefined) {
    if (!kubeConfig.getContextObject(o.context)) {
      const known = kubeConfig.getContexts().map((c) => c.name)
      throw errors.badOption(`kubeconfig has no context ${o.context} (it has: ${known.join(', ') || 'none'})`)
    }
    kubeConfig.setCurrentContext(o.context)
  }
  const cluster = kubeConfig.getCurrentCluster()
  if (!cluster) throw errors.badOption(`kubeconfig ${files.join(':')} has no current cluster`)
  const namespace =
    o.namespace ?? kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace ?? 'default'
  return { kubeConfig, namespace, source: 'kubeconfig', server: cluster.server }
}

export function resolveConfig(
  addresses: readonly string[],
  o: KubernetesOptionValues,
  env: Env,
): ResolvedConfig {
  if (o.inCluster === true) return inCluster(o, env)
  if (addresses.length > 1) {
    throw errors.badOption(
      `one API server address is accepted, got ${addresses.length}: ${addresses.join(', ')}`,
    )
  }
  if (addresses.length === 1) return fromAddress(addresses[0], o)
  if (o.kubeconfig !== undefined) return fromKubeconfig(o.kubeconfig, o)
  if (o.inCluster === undefined && env.KUBERNETES_SERVICE_HOST) return inCluster(o, env)
  const home = env.HOME ? path.join(env.HOME, '.kube', 'config') : undefined
  if (home && existsSync(home)) return fromKubeconfig(home, o)
  throw errors.badOption(
    'no Kubernetes API server configured: run in a pod (its service account), or set KUBECONFIG, or MICRO_REGISTRY_ADDRESS with a token',
  )
}
