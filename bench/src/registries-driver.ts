/**
 * A registry process for the warm-lookup and watch fan-out rows: `node dist/registries-driver.js
 * KIND CONFIG_JSON`, KIND `ours-etcd`, `raw-etcd3`, `ours-consul`, `raw-consul`,
 * `ours-kubernetes` or `raw-kubernetes`.
 *
 * Every kind writes with our registry (so the records are go-micro's and the writes are the
 * same on both sides of a ratio); what differs is the reader: ours (`getService`, `watch`) or the
 * client library the plugin is built on, reading the same records by hand with no decoding
 * beyond JSON (the floor).
 *
 * Line protocol: `setup` registers NODES nodes of its service, `lookup {durationMs}` →
 * `{lookups, elapsedMs}` (back-to-back lookups of those nodes, each checked), `watch {watchers}`
 * starts that many watchers (replacing earlier ones), `fanout {changes}` → `{latencies}`: one
 * node registered or deregistered at a time, each change's time until every watcher has had an
 * event for it (ms), `exit` deregisters and closes.
 */
import { readFileSync } from 'node:fs'
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, Watch } from '@kubernetes/client-node'
import { createLogger, type Registry, type Service } from '@micro-ts/core'
import { createConsulRegistry } from '@micro-ts/registry-consul'
import { createEtcdRegistry, servicePrefix } from '@micro-ts/registry-etcd'
import {
  annotationKey,
  createKubernetesRegistry,
  RUNNING,
  serviceSelector,
} from '@micro-ts/registry-kubernetes'
import Consul from 'consul'
import { Etcd3 } from 'etcd3'
import { configArg, die, send, serveCommands } from './protocol.js'

/** What the orchestrator gives a registries driver. */
export interface RegistriesConfig {
  /** etcd `host:port`, Consul agent `host:port`, or the API server's URL. */
  address: string
  /** The service written and read (unique to the run and contender). */
  service: string
  /** Kubernetes: admin token file, CA file, namespace, and the run's label value for its pods. */
  kubernetes?: { tokenFile: string; caFile: string; namespace: string; run: string }
}

export const REGISTRIES_KINDS = [
  'ours-etcd',
  'raw-etcd3',
  'ours-consul',
  'raw-consul',
  'ours-kubernetes',
  'raw-kubernetes',
] as const
export type RegistriesKind = (typeof REGISTRIES_KINDS)[number]

/** Nodes found by every lookup. */
export const NODES = 10
/** Time between two timed changes of a fan-out round, ms. */
export const SPACING_MS = 250

/** The reader side: a lookup that returns how many nodes it found, and watchers. */
interface Reader {
  lookup(): Promise<number>
  /** Start one watcher calling `onEvent` for each event of the service; returns its stop. */
  watch(onEvent: () => void): Promise<() => void>
  close(): Promise<void>
}

const node = (service: string, i: number) => ({
  id: `${service}-${i}`,
  address: `127.0.0.${1 + (i % 250)}:${9000 + i}`,
  metadata: { protocol: 'mucp' },
})
const record = (service: string, i: number): Service => ({
  name: service,
  version: '1.0.0',
  metadata: { team: 'bench' },
  endpoints: [{ name: 'Greeter.Hello', request: { name: 'Request', type: 'Request' } }],
  nodes: [node(service, i)],
})

function kubeConfig(server: string, k: NonNullable<RegistriesConfig['kubernetes']>): KubeConfig {
  const kc = new KubeConfig()
  kc.loadFromOptions({
    clusters: [{ name: 'bench', server, caFile: k.caFile, skipTLSVerify: false }],
    users: [{ name: 'admin', token: readFileSync(k.tokenFile, 'utf8').trim() }],
    contexts: [{ name: 'bench', cluster: 'bench', user: 'admin' }],
    currentContext: 'bench',
  })
  return kc
}

/** The writers: our registry for each node (Kubernetes: one per pod, as each pod patches itself). */
interface Writers {
  /** The registry that writes node `i` (made on first use). */
  get(i: number): Promise<Registry>
  /** Every registry made so far. */
  all(): Registry[]
}

async function writers(kind: RegistriesKind, c: RegistriesConfig): Promise<Writers> {
  const logger = createLogger('warn')
  if (kind === 'ours-etcd' || kind === 'raw-etcd3' || kind === 'ours-consul' || kind === 'raw-consul') {
    const r = kind.endsWith('consul')
      ? createConsulRegistry({ addresses: [c.address], logger })
      : createEtcdRegistry({ addresses: [c.address], logger })
    return { get: async () => r, all: () => [r] }
  }
  const k = c.kubernetes!
  const core = kubeConfig(c.address, k).makeApiClient(CoreV1Api)
  const byPod = new Map<number, Registry>()
  const get = async (i: number) => {
    let r = byPod.get(i)
    if (r) return r
    const pod = `bench-${k.run}-${kind.startsWith('ours') ? 'o' : 'r'}-${i}`
    await core.createNamespacedPod({
      namespace: k.namespace,
      body: {
        metadata: { name: pod, labels: { 'bench-run': k.run } },
        spec: { containers: [{ name: 'app', image: 'micro-ts/bench:0' }] },
      },
    })
    // No kubelet runs here: the pod is made Running by hand, as a kubelet would.
    await core.patchNamespacedPodStatus(
      { name: pod, namespace: k.namespace, body: { status: { phase: RUNNING, podIP: '127.0.0.1' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )
    r = await createKubernetesRegistry({
      addresses: [c.address],
      tokenFile: k.tokenFile,
      'tls.caFile': k.caFile,
      namespace: k.namespace,
      pod,
      logger,
    })
    byPod.set(i, r)
    return r
  }
  return { get, all: () => [...byPod.values()] }
}

async function reader(kind: RegistriesKind, c: RegistriesConfig): Promise<Reader> {
  const logger = createLogger('warn')
  const name = c.service
  if (kind.startsWith('ours-')) {
    const registry: Registry =
      kind === 'ours-etcd'
        ? createEtcdRegistry({ addresses: [c.address], logger })
        : kind === 'ours-consul'
          ? createConsulRegistry({ addresses: [c.address], logger })
          : await createKubernetesRegistry({
              addresses: [c.address],
              tokenFile: c.kubernetes!.tokenFile,
              'tls.caFile': c.kubernetes!.caFile,
              namespace: c.kubernetes!.namespace,
              logger,
            })
    return {
      async lookup() {
        return (await registry.getService(name)).reduce((n, s) => n + s.nodes.length, 0)
      },
      async watch(onEvent) {
        const w = registry.watch({ service: name })
        void (async () => {
          for await (const _ of w) onEvent()
        })().catch(() => {})
        return () => w.stop()
      },
      close: () => registry.close(),
    }
  }
  if (kind === 'raw-etcd3') {
    const etcd = new Etcd3({ hosts: c.address })
    return {
      async lookup() {
        const values = await etcd.getAll().prefix(servicePrefix(name)).strings()
        let n = 0
        for (const v of Object.values(values)) n += (JSON.parse(v) as { nodes: unknown[] }).nodes.length
        return n
      },
      async watch(onEvent) {
        const w = await etcd.watch().prefix(servicePrefix(name)).create()
        w.on('put', onEvent)
        w.on('delete', onEvent)
        return () => void w.cancel()
      },
      async close() {
        etcd.close()
      },
    }
  }
  if (kind === 'raw-consul') {
    const [host, port] = c.address.split(':')
    const consul = new Consul({ host, port: Number(port) })
    return {
      async lookup() {
        const entries = (await consul.health.service({ service: name, passing: true })) as {
          Service: { Meta?: Record<string, string> }
        }[]
        let n = 0
        for (const e of entries) if (e.Service) n++
        return n
      },
      async watch(onEvent) {
        const w = consul.watch({
          method: consul.health.service,
          options: { service: name, passing: true, wait: '30s' } as never,
        })
        let first = true
        // The first answer is the state at the start, not a change.
        w.on('change', () => {
          if (first) first = false
          else onEvent()
        })
        w.on('error', () => {})
        await new Promise<void>((resolve) => {
          const t = setInterval(() => {
            if (!first) {
              clearInterval(t)
              resolve()
            }
          }, 5)
        })
        return () => w.end()
      },
      async close() {},
    }
  }
  // raw-kubernetes
  const k = c.kubernetes!
  const kc = kubeConfig(c.address, k)
  const core = kc.makeApiClient(CoreV1Api)
  const key = annotationKey(name)
  return {
    async lookup() {
      const pods = await core.listNamespacedPod({
        namespace: k.namespace,
        labelSelector: serviceSelector(name),
      })
      let n = 0
      for (const p of pods.items) {
        if (p.status?.phase !== RUNNING || p.metadata?.deletionTimestamp) continue
        const a = p.metadata?.annotations?.[key]
        if (a) n += (JSON.parse(a) as { nodes?: unknown[] }).nodes?.length ?? 0
      }
      return n
    },
    async watch(onEvent) {
      const list = await core.listNamespacedPod({
        namespace: k.namespace,
        labelSelector: serviceSelector(name),
      })
      const req = await new Watch(kc).watch(
        `/api/v1/namespaces/${k.namespace}/pods`,
        { labelSelector: serviceSelector(name), resourceVersion: list.metadata?.resourceVersion },
        () => onEvent(),
        () => {},
      )
      return () => req.abort()
    },
    async close() {},
  }
}

async function main() {
  const kind = process.argv[2] as RegistriesKind
  if (!REGISTRIES_KINDS.includes(kind))
    throw new Error(`unknown registries driver ${kind}; one of ${REGISTRIES_KINDS.join(', ')}`)
  const config = configArg<RegistriesConfig>()
  const writer = await writers(kind, config)
  const read = await reader(kind, config)
  const registered = new Set<number>()
  let watchers: { stop: () => void; events: number }[] = []
  const stopWatchers = () => {
    for (const w of watchers) w.stop()
    watchers = []
  }
  serveCommands(
    {
      async setup() {
        for (let i = 0; i < NODES; i++) {
          await (await writer.get(i)).register(record(config.service, i))
          registered.add(i)
        }
        // The writer of the fan-out rounds, made (a pod, on Kubernetes) before anything is timed.
        await writer.get(NODES)
        return { ok: true }
      },
      async lookup(c) {
        const durationMs = Number(c.durationMs)
        const start = performance.now()
        let lookups = 0
        do {
          const n = await read.lookup()
          if (n !== registered.size)
            throw new Error(`a lookup found ${n} nodes, ${registered.size} are registered`)
          lookups++
        } while (performance.now() - start < durationMs)
        return { lookups, elapsedMs: performance.now() - start }
      },
      async watch(c) {
        stopWatchers()
        const n = Number(c.watchers)
        for (let i = 0; i < n; i++) {
          const w = { stop: () => {}, events: 0 }
          w.stop = await read.watch(() => {
            w.events++
          })
          watchers.push(w)
        }
        // Watches are live once their first request is answered; give them a moment to settle.
        await new Promise((r) => setTimeout(r, 500))
        return { ok: true, watchers: watchers.length }
      },
      async fanout(c) {
        const changes = Number(c.changes)
        const w = await writer.get(NODES)
        const latencies: number[] = []
        for (let k = 0; k < changes; k++) {
          const before = watchers.map((x) => x.events)
          const t0 = performance.now()
          // Alternately add and remove one node: every change is an event for every watcher.
          if (registered.has(NODES)) {
            await w.deregister(record(config.service, NODES))
            registered.delete(NODES)
          } else {
            await w.register(record(config.service, NODES))
            registered.add(NODES)
          }
          const deadline = t0 + 30_000
          while (watchers.some((x, i) => x.events === before[i])) {
            if (performance.now() > deadline) throw new Error('a watcher saw no event within 30 s')
            await new Promise((r) => setImmediate(r))
          }
          latencies.push(performance.now() - t0)
          // Each change is timed on its own, as a change after a quiet spell: trailing events of
          // this one arrive first, and a watch that spaces its queries (ours on Consul starts
          // them at least 200 ms apart, to coalesce bursts) is back to waiting when the next
          // change comes.
          await new Promise((r) => setTimeout(r, SPACING_MS))
        }
        return { latencies }
      },
    },
    async () => {
      stopWatchers()
      for (const i of [...registered])
        await (await writer.get(i)).deregister(record(config.service, i)).catch(() => {})
      await read.close().catch(() => {})
      for (const r of writer.all()) await r.close().catch(() => {})
    },
  )
  send({ ready: true })
}

main().catch(die)
