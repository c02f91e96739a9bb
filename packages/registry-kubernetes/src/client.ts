/**
 * The three pod calls the registry makes — list, patch, watch — on @kubernetes/client-node, with
 * a deadline on each request and every failure turned into a MicroError that names the verb, the
 * resource and the namespace (a 403 says which RBAC rule is missing).
 */
import https from 'node:https'
import {
  ApiException,
  CoreV1Api,
  type KubeConfig,
  Observable,
  PatchStrategy,
  type RequestContext,
  type ResponseContext,
  setHeaderOptions,
  type V1ObjectMeta,
  type V1Pod,
  type V1PodList,
  type V1Status,
  Watch,
} from '@kubernetes/client-node'
import type { MicroError } from '@micro-ts/core'
import { errors } from './options.js'

export type Verb = 'list' | 'watch' | 'patch'

/** What went wrong in a watch, as the API server reported it. */
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'

/** The Status body of a failed call, when the server sent one. */
function statusOf(err: unknown): V1Status | undefined {
  if (!(err instanceof ApiException)) return undefined
  const body: unknown = err.body
  if (typeof body === 'object' && body !== null) return body as V1Status
  if (typeof body !== 'string') return undefined
  try {
    return JSON.parse(body) as V1Status
  } catch {
    return undefined
  }
}

/** The HTTP status of a failed call (an ApiException, or the watch's plain Error), if any. */
export function statusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code
  const code = (err as { statusCode?: unknown } | null)?.statusCode
  return typeof code === 'number' ? code : undefined
}

/** 410 Gone: the resourceVersion a watch or list continued from is too old. */
export function isGone(err: unknown): boolean {
  return statusCode(err) === 410
}

/** `Bearer <token>` → `Bearer (redacted)`. */
function redactTokens(text: string): string {
  return text.replace(/Bearer\s+\S+/g, 'Bearer (redacted)')
}

/**
 * A MicroError for a failed `verb` on pods: 401/403 name the credentials or the missing RBAC rule,
 * 404 the missing pod, 422 the invalid patch, anything unanswered is a 503 (try again later).
 */
export function apiError(err: unknown, verb: Verb, namespace: string, pod?: string): MicroError {
  const what = `${verb} pods${pod ? `/${pod}` : ''} in namespace "${namespace}"`
  const code = statusCode(err)
  const message = redactTokens(
    statusOf(err)?.message ?? (err instanceof Error ? err.message.split('\n')[0] : String(err)),
  )
  // A transport error may quote the request's headers: such a cause is replaced by a redacted copy.
  if (err instanceof Error && /Bearer\s/.test(err.message)) {
    const safe = new Error(redactTokens(err.message))
    safe.name = err.name
    err = safe
  }
  switch (code) {
    case undefined:
      if ((err as Error | null)?.name === 'AbortError' || (err as Error | null)?.name === 'TimeoutError') {
        return errors.timeout(`${what}: the API server did not answer in time`, err)
      }
      return errors.unavailable(`cannot ${what}: the API server is unreachable (${message})`, err)
    case 401:
      return errors.unauthorized(`cannot ${what}: the API server rejected the credentials (401)`, err)
    case 403:
      return errors.forbidden(
        `forbidden to ${what} (403): grant the verb "${verb}" on "pods" in namespace "${namespace}" with a Role and RoleBinding (see the README's RBAC section); server said: ${message}`,
        err,
      )
    case 404:
      return errors.notFound(
        pod
          ? `cannot ${what}: pod "${pod}" does not exist in namespace "${namespace}" (set POD_NAME and POD_NAMESPACE from the downward API)`
          : `cannot ${what}: not found (${message})`,
        err,
      )
    case 409:
      return errors.conflict(`cannot ${what}: ${message}`, err)
    case 413:
      return errors.tooLarge(`cannot ${what}: ${message}`, err)
    case 422:
      // The usual cause: the annotations are over the API server's 256 KiB limit.
      return /too long|must have at most/i.test(message)
        ? errors.tooLarge(`cannot ${what}: ${message}`, err)
        : errors.badRequest(`cannot ${what}: ${message}`, err)
    default:
      if (code >= 500 || code === 429) return errors.unavailable(`cannot ${what}: ${code} ${message}`, err)
      return errors.internal(`cannot ${what}: ${code} ${message}`, err)
  }
}

/**
 * Connections kept open between requests. The client makes a new https.Agent for every request
 * (so every call would pay a TLS handshake); requests made with the same TLS material share one
 * keep-alive agent instead. Other agents (a proxy's) are left alone.
 */
class AgentPool {
  private agent: https.Agent | undefined
  private key = ''

  reuse(made: unknown): unknown {
    if (!(made instanceof https.Agent) || made.constructor !== https.Agent) return made
    const o = made.options
    const key = JSON.stringify([String(o.ca ?? ''), String(o.cert ?? ''), o.rejectUnauthorized, o.servername])
    if (!this.agent || key !== this.key) {
      this.agent?.destroy()
      this.agent = new https.Agent({ ...o, keepAlive: true, maxSockets: 32 })
      this.key = key
    }
    made.destroy()
    return this.agent
  }

  close(): void {
    this.agent?.destroy()
    this.agent = undefined
  }
}

/**
 * A middleware that gives each request its own deadline (the generated client has none), the
 * caller's signal beside it when there is one, and a pooled connection.
 */
function perRequest(ms: number, pool: AgentPool, signal?: AbortSignal) {
  return {
    pre: (ctx: RequestContext) => {
      ctx.setSignal(signal ? AbortSignal.any([AbortSignal.timeout(ms), signal]) : AbortSignal.timeout(ms))
      const agent = pool.reuse(ctx.getAgent())
      if (agent) ctx.setAgent(agent as https.Agent)
      return new Observable(Promise.resolve(ctx))
    },
    post: (ctx: ResponseContext) => new Observable(Promise.resolve(ctx)),
  }
}

export interface WatchHandlers {
  event(type: WatchEventType, pod: V1Pod | V1Status): void
  /** Called once when the watch ends: `err` is undefined for an orderly end (server timeout). */
  done(err: unknown): void
}

export class PodApi {
  private readonly core: CoreV1Api
  private readonly watcher: Watch
  private readonly options: ReturnType<typeof setHeaderOptions>
  private readonly patchOptions: ReturnType<typeof setHeaderOptions>
  private readonly pool = new AgentPool()

  constructor(
    kubeConfig: KubeConfig,
    readonly namespace: string,
    private readonly timeout: number,
    private readonly pageSize: number,
    /** Re-reads a token file before requests (rotated tokens). */
    private readonly token?: { refresh(): void },
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api)
    this.watcher = new Watch(kubeConfig)
    this.options = { middleware: [perRequest(timeout, this.pool)], middlewareMergeStrategy: 'append' }
    // go-micro patches with a strategic merge patch; the client's default would be JSON Patch.
    this.patchOptions = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch, this.options)
  }

  /** Close the pooled connections. */
  close(): void {
    this.pool.close()
  }

  /** Every pod matching `labelSelector`, page by page, and the list's resourceVersion. */
  async list(
    labelSelector: string,
    fieldSelector?: string,
  ): Promise<{ pods: V1Pod[]; resourceVersion: string }> {
    const pods: V1Pod[] = []
    let next: string | undefined
    let resourceVersion = ''
    do {
      this.token?.refresh()
      let page: V1PodList
      try {
        page = await this.core.listNamespacedPod(
          { namespace: this.namespace, labelSelector, fieldSelector, limit: this.pageSize, _continue: next },
          this.options,
        )
      } catch (err) {
        throw apiError(err, 'list', this.namespace)
      }
      pods.push(...page.items)
      next = page.metadata?._continue || undefined
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion
    } while (next)
    return { pods, resourceVersion }
  }

  /**
   * The cheapest request that proves the API server answers these credentials with the rights
   * the registry needs: a list of at most one pod (`pod` by name, when known) — `list` is
   * granted anyway, `get` is not. Gives up when `signal` fires, and after `timeout`.
   */
  async ping(pod: string | undefined, signal?: AbortSignal): Promise<void> {
    this.token?.refresh()
    await this.core.listNamespacedPod(
      { namespace: this.namespace, fieldSelector: pod ? `metadata.name=${pod}` : undefined, limit: 1 },
      { middleware: [perRequest(this.timeout, this.pool, signal)], middlewareMergeStrategy: 'append' },
    )
  }

  /** A strategic merge patch of `pod`'s metadata: `null` values remove keys. */
  async patchMetadata(
    pod: string,
    metadata: Pick<V1ObjectMeta, 'labels' | 'annotations'> | Record<string, Record<string, string | null>>,
  ): Promise<V1Pod> {
    this.token?.refresh()
    try {
      return await this.core.patchNamespacedPod(
        { name: pod, namespace: this.namespace, body: { metadata } },
        this.patchOptions,
      )
    } catch (err) {
      throw apiError(err, 'patch', this.namespace, pod)
    }
  }

  /** Watch pods matching `labelSelector` from `resourceVersion`, with bookmarks. Resolves to its stopper. */
  async watch(
    labelSelector: string,
    resourceVersion: string,
    handlers: WatchHandlers,
  ): Promise<AbortController> {
    return this.watcher.watch(
      `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/pods`,
      { labelSelector, resourceVersion, allowWatchBookmarks: true },
      (type: string, object: V1Pod | V1Status) => handlers.event(type as WatchEventType, object),
      (err: unknown) => handlers.done(err ?? undefined),
    )
  }
}
