/**
 * The registry on a real kube-apiserver (the shared one from scripts/backends.sh), beyond the
 * conformance suite: the exact labels and annotations on the pod, what go-micro reads back,
 * Running-only, pods being deleted, versions and names that share a key, pagination, bad
 * annotations, oversized records, missing pods, and the configuration errors.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import {
  eventually,
  expectMicroError,
  expectReadmeOptions,
  requireBackend,
  silentServer,
} from '@micro-ts/conformance/testing'
import type { Service, WatchEvent } from '@micro-ts/core'
import { createPlugin, encodeServiceJson } from '@micro-ts/core/plugin'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import plugin, {
  annotationKey,
  CAPABILITIES,
  createKubernetesRegistry,
  extraAnnotationKey,
  type KubernetesRegistry,
  OPTIONS,
  selectorLabel,
} from '../src/index.js'
import { Cluster, probe, SHARED, suffix } from './cluster.js'

const svc = (name: string, nodes: string[], extra: Partial<Service> = {}): Service => ({
  name,
  version: '1.0.0',
  nodes: nodes.map((id, i) => ({ id, address: `10.0.0.${i + 1}:8080` })),
  ...extra,
})

describe('definition and configuration (no API server needed)', () => {
  it('declares its kind, name, options and capabilities on the definition', () => {
    expect(plugin.kind).toBe('registry')
    expect(plugin.name).toBe('kubernetes')
    expect([...(plugin.capabilities ?? [])]).toEqual([...CAPABILITIES])
    expect(Object.keys(plugin.options ?? {})).toEqual(Object.keys(OPTIONS))
  })

  it("the README's options table is the declarations'", () => {
    expectReadmeOptions(new URL('../README.md', import.meta.url), plugin)
  })

  it('an unknown option or a bad value is a 400 naming it', async () => {
    const unknown = await expectMicroError(
      createPlugin(plugin, { options: { nope: 1 }, env: {}, addresses: ['https://127.0.0.1:1'] }),
      400,
    )
    expect(unknown.detail).toMatch(/unknown option nope; accepted: namespace, pod, kubeconfig/)
    const bad = await expectMicroError(
      createPlugin(plugin, {
        env: { MICRO_REGISTRY_KUBERNETES_PAGE_SIZE: 'lots' },
        addresses: ['https://127.0.0.1:1'],
      }),
      400,
    )
    expect(bad.detail).toContain('MICRO_REGISTRY_KUBERNETES_PAGE_SIZE')
  })

  it('without any configuration it says what to set', async () => {
    const err = await expectMicroError(createPlugin(plugin, { env: {} }), 400)
    expect(err.detail).toMatch(/no Kubernetes API server configured.*KUBECONFIG.*MICRO_REGISTRY_ADDRESS/)
  })

  it('in-cluster needs KUBERNETES_SERVICE_HOST and a readable token, and names what is missing', async () => {
    const noHost = await expectMicroError(
      createPlugin(plugin, { options: { inCluster: true }, env: {} }),
      400,
    )
    expect(noHost.detail).toContain('KUBERNETES_SERVICE_HOST')
    const dir = mkdtempSync(path.join(tmpdir(), 'micro-sa-'))
    const noToken = await expectMicroError(
      createPlugin(plugin, {
        options: { serviceAccountDir: dir },
        env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '6443' },
      }),
      400,
    )
    expect(noToken.detail).toContain(path.join(dir, 'token'))
  })

  it('reads the namespace from the service account, the pod from POD_NAME, then HOSTNAME', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'micro-sa-'))
    writeFileSync(path.join(dir, 'token'), 'not-a-real-token')
    writeFileSync(path.join(dir, 'ca.crt'), 'checked for existence here, read on the first call')
    writeFileSync(path.join(dir, 'namespace'), 'shop\n')
    const env = {
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBERNETES_SERVICE_PORT: '6443',
      HOSTNAME: 'host-pod',
    }
    const a = (await createPlugin(plugin, {
      options: { serviceAccountDir: dir },
      env,
    })) as KubernetesRegistry
    expect([a.namespace, a.pod]).toEqual(['shop', 'host-pod'])
    const b = (await createPlugin(plugin, {
      options: { serviceAccountDir: dir },
      env: { ...env, POD_NAME: 'downward-pod', POD_NAMESPACE: 'other' },
    })) as KubernetesRegistry
    expect([b.namespace, b.pod]).toEqual(['other', 'downward-pod'])
  })

  it('a kubeconfig that is missing, or lacks the context asked for, is a 400', async () => {
    const missing = await expectMicroError(
      createPlugin(plugin, { env: { KUBECONFIG: '/nonexistent/config' } }),
      400,
    )
    expect(missing.detail).toContain('/nonexistent/config')
    const dir = mkdtempSync(path.join(tmpdir(), 'micro-kc-'))
    const file = path.join(dir, 'config')
    writeFileSync(
      file,
      `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: 'https://127.0.0.1:6443'}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: ctx, context: {cluster: c, user: u, namespace: ns-from-kubeconfig}}]
current-context: ctx
`,
    )
    const r = (await createPlugin(plugin, { env: { KUBECONFIG: file } })) as KubernetesRegistry
    expect(r.namespace).toBe('ns-from-kubeconfig')
    const err = await expectMicroError(
      createPlugin(plugin, { options: { context: 'nope' }, env: { KUBECONFIG: file } }),
      400,
    )
    expect(err.detail).toMatch(/no context nope \(it has: ctx\)/)
  })

  it('register without a known pod is a 400 that says to set POD_NAME; deregister too', async () => {
    const r = await createKubernetesRegistry({ addresses: ['https://127.0.0.1:1'], token: 't' })
    const err = await expectMicroError(r.register(svc('greeter', ['n1'])), 400)
    expect(err.detail).toContain('POD_NAME')
    await expectMicroError(r.deregister(svc('greeter', ['n1'])), 400)
    await expectMicroError(r.register({ name: '', version: '1', nodes: [] }), 400)
  })

  it('an API server that is not there is a 503 naming the call, not a hang', async () => {
    const r = await createKubernetesRegistry({
      addresses: ['https://127.0.0.1:1'],
      token: 't',
      pod: 'p',
      timeout: 2000,
    })
    const err = await expectMicroError(r.getService('greeter'), 503)
    expect(err.detail).toContain('list pods in namespace "default"')
    await expectMicroError(r.register(svc('greeter', ['n1'])), 503)
  })
})

describe('ping (what /health/ready asks), without a working API server', () => {
  it('an API server that refuses connections, or accepts and never answers, is a 503; a closed registry too', async () => {
    const refused = await createKubernetesRegistry({
      addresses: ['https://127.0.0.1:1'],
      token: 't',
      pod: 'p',
    })
    const err = await expectMicroError(refused.ping(), 503)
    expect(err.id).toBe('go.micro.registry')
    expect(err.detail).toMatch(
      /^kubernetes registry: ping: cannot list pods in namespace "default": the API server is unreachable/,
    )
    await refused.close()
    await expectMicroError(refused.ping(), 503)
    const silent = await silentServer()
    try {
      const r = await createKubernetesRegistry({
        addresses: [`https://${silent.address}`],
        token: 't',
        timeout: 300,
      })
      const late = await expectMicroError(r.ping(), 503)
      expect(late.detail).toContain('the API server did not answer in time')
      await r.close()
    } finally {
      await silent.close()
    }
  })

  it('gives up when its signal fires: 499 for a cancellation, 408 for a deadline', async () => {
    const silent = await silentServer()
    try {
      const r = await createKubernetesRegistry({
        addresses: [`https://${silent.address}`],
        token: 't',
        timeout: 60_000,
      })
      const done = new AbortController()
      done.abort()
      await expectMicroError(r.ping(done.signal), 499)
      const cancel = new AbortController()
      const pending = r.ping(cancel.signal)
      setTimeout(() => cancel.abort(), 50)
      await expectMicroError(pending, 499)
      await expectMicroError(r.ping(AbortSignal.timeout(100)), 408)
      await r.close()
    } finally {
      await silent.close()
    }
  })
})

const up = await requireBackend(`kube-apiserver at ${SHARED.server}`, async () => {
  const reason = await probe(SHARED)
  if (reason) throw new Error(reason)
})

describe.runIf(up)('on the shared kube-apiserver', () => {
  const cluster = new Cluster(SHARED)
  let namespace = ''
  const registries: KubernetesRegistry[] = []

  beforeAll(async () => {
    namespace = await cluster.namespace('micro-registry')
  })
  afterAll(async () => {
    for (const r of registries) await r.close()
  })

  async function registryFor(pod: string, extra: Record<string, unknown> = {}): Promise<KubernetesRegistry> {
    const r = await createKubernetesRegistry({ ...cluster.registryOptions(namespace, pod), ...extra })
    registries.push(r)
    return r
  }

  async function newPod(options: Parameters<Cluster['pod']>[2] = {}): Promise<string> {
    const name = `pod-${suffix()}`
    await cluster.pod(namespace, name, options)
    return name
  }

  it("register patches go-micro's labels and annotation onto its own pod; deregister removes them", async () => {
    const pod = await newPod({ labels: { app: 'greeter' } })
    const r = await registryFor(pod)
    const s = svc('go.micro.srv.greeter', ['greeter-1'], { metadata: { owner: 'a' } })
    await r.register(s)
    const after = await cluster.readPod(namespace, pod)
    expect(after.metadata?.labels).toEqual({
      app: 'greeter',
      'micro.mu/type': 'service',
      'micro.mu/selector-go.micro.srv.greeter': 'service',
    })
    expect(after.metadata?.annotations).toEqual({
      'micro.mu/service-go.micro.srv.greeter': encodeServiceJson(s),
    })
    await r.deregister(s)
    const gone = await cluster.readPod(namespace, pod)
    // go-micro removes the selector label and the annotation, and keeps micro.mu/type.
    expect(gone.metadata?.labels).toEqual({ app: 'greeter', 'micro.mu/type': 'service' })
    expect(gone.metadata?.annotations ?? {}).toEqual({})
  })

  it("a pod written the way go-micro writes it is read, and this registry's pods read the way go-micro reads", async () => {
    const goPod = await newPod()
    const name = `helloworld-${suffix()}`
    const fromGo = `{"name":"${name}","version":"latest","metadata":null,"endpoints":[{"name":"Helloworld.Call","request":{"name":"Request","type":"Request","values":[{"name":"name","type":"string","values":null}]},"response":null,"metadata":{}}],"nodes":[{"id":"${name}-go","address":"10.1.0.4:41233","metadata":{"registry":"kubernetes"}}]}`
    // What go-micro's UpdatePod sends: a strategic merge patch of labels and one annotation.
    await cluster.patchMetadata(namespace, goPod, {
      labels: { 'micro.mu/type': 'service', [`micro.mu/selector-${name}`]: 'service' },
      annotations: { [`micro.mu/service-${name}`]: fromGo },
    })
    const tsPod = await newPod()
    const ts = await registryFor(tsPod)
    await ts.register(svc(name, [`${name}-ts`], { version: 'latest' }))

    const found = await ts.getService(name)
    expect(found).toHaveLength(1)
    expect(found[0].nodes.map((n) => n.id).sort()).toEqual([`${name}-go`, `${name}-ts`])
    expect(found[0].endpoints?.[0]?.request?.values).toEqual([{ name: 'name', type: 'string' }])

    // go-micro's GetService: list by `micro.mu/selector-<name>=service`, Running only, read
    // annotation `micro.mu/service-<name>`.
    const listed = await cluster.core.listNamespacedPod({
      namespace,
      labelSelector: `micro.mu/selector-${name}=service`,
    })
    const read = listed.items
      .filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp)
      .map((p) => JSON.parse(p.metadata?.annotations?.[`micro.mu/service-${name}`] ?? 'null'))
    expect(read.flatMap((s: Service) => s.nodes.map((n) => n.id)).sort()).toEqual([
      `${name}-go`,
      `${name}-ts`,
    ])
  })

  it('only Running pods that are not being deleted are read; a pod leaving Running is a delete event', async () => {
    const pod = await newPod({ phase: 'Pending' })
    const r = await registryFor(pod)
    const name = `phase-${suffix()}`
    await r.register(svc(name, ['n1']))
    await expectMicroError(r.getService(name), 404)
    const events: WatchEvent[] = []
    const watcher = r.watch({ service: name })
    void (async () => {
      for await (const e of watcher) events.push(e)
    })()
    await new Promise((res) => setTimeout(res, 300))
    await cluster.setPhase(namespace, pod, 'Running')
    await eventually(() => expect(events.map((e) => e.action)).toEqual(['create']), 5000)
    expect((await r.getService(name))[0].nodes.map((n) => n.id)).toEqual(['n1'])
    await cluster.setPhase(namespace, pod, 'Failed')
    await eventually(() => expect(events.map((e) => e.action)).toEqual(['create', 'delete']), 5000)
    await expectMicroError(r.getService(name), 404)
    watcher.stop()
  })

  it('a pod being deleted (deletionTimestamp set) is no longer read', async () => {
    // A pod bound to a node is deleted gracefully: it stays, with a deletionTimestamp, until
    // the kubelet confirms (no kubelet here, so it stays).
    const pod = `pod-${suffix()}`
    await cluster.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: pod },
        spec: { nodeName: 'node-a', containers: [{ name: 'app', image: 'x' }] },
      },
    })
    await cluster.setPhase(namespace, pod, 'Running')
    const r = await registryFor(pod)
    const name = `deleting-${suffix()}`
    await r.register(svc(name, ['n1']))
    expect(await r.getService(name)).toHaveLength(1)
    await cluster.deletePod(namespace, pod, 300)
    expect((await cluster.readPod(namespace, pod)).metadata?.deletionTimestamp).toBeTruthy()
    await expectMicroError(r.getService(name), 404)
  })

  it('two versions on one pod, and two names that sanitise alike, keep their own records', async () => {
    const pod = await newPod()
    const r = await registryFor(pod)
    const base = `shared-key-${suffix()}`
    await r.register(svc(base, ['v1-node'], { version: '1.0.0' }))
    await r.register(svc(base, ['v2-node'], { version: '2.0.0' }))
    await r.register(svc(`${base}/x`, ['slash-node']))
    await r.register(svc(`${base}_x`, ['underscore-node']))
    const annotations = (await cluster.readPod(namespace, pod)).metadata?.annotations ?? {}
    // The first of each goes where go-micro looks; the second gets a key of its own.
    expect(Object.keys(annotations).sort()).toEqual(
      [
        annotationKey(base),
        extraAnnotationKey(base, '2.0.0'),
        annotationKey(`${base}/x`),
        extraAnnotationKey(`${base}_x`, '1.0.0'),
      ].sort(),
    )
    const versions = (await r.getService(base)).map((s) => `${s.version}:${s.nodes.map((n) => n.id)}`).sort()
    expect(versions).toEqual(['1.0.0:v1-node', '2.0.0:v2-node'])
    expect((await r.getService(`${base}/x`))[0].nodes.map((n) => n.id)).toEqual(['slash-node'])
    expect((await r.getService(`${base}_x`))[0].nodes.map((n) => n.id)).toEqual(['underscore-node'])
    // Deregistering one of the two names that share a selector label keeps the label for the other.
    await r.deregister(svc(`${base}/x`, ['slash-node']))
    const labels = (await cluster.readPod(namespace, pod)).metadata?.labels ?? {}
    expect(labels[selectorLabel(`${base}_x`)]).toBe('service')
    expect((await r.getService(`${base}_x`))[0].nodes.map((n) => n.id)).toEqual(['underscore-node'])
    await expectMicroError(r.getService(`${base}/x`), 404)
  })

  it('lists page by page (continue tokens) and merges the nodes of many pods', async () => {
    const name = `paged-${suffix()}`
    const pods = await Promise.all(Array.from({ length: 7 }, () => newPod()))
    for (const [i, pod] of pods.entries()) await (await registryFor(pod)).register(svc(name, [`n${i}`]))
    const reader = await registryFor(pods[0], { pageSize: 2 })
    const found = await reader.getService(name)
    expect(found[0].nodes.map((n) => n.id).sort()).toEqual(pods.map((_, i) => `n${i}`))
  })

  it('an annotation that is not a record is skipped; the other pods still answer', async () => {
    const name = `garbled-${suffix()}`
    const bad = await newPod()
    await cluster.patchMetadata(namespace, bad, {
      labels: { 'micro.mu/type': 'service', [selectorLabel(name)]: 'service' },
      annotations: { [annotationKey(name)]: '{"name": broken' },
    })
    const good = await newPod()
    await (await registryFor(good)).register(svc(name, ['fine']))
    const r = await registryFor(good)
    expect((await r.getService(name))[0].nodes.map((n) => n.id)).toEqual(['fine'])
    expect((await r.listServices()).filter((s) => s.name === name)).toHaveLength(1)
  })

  it('a record over the API server’s annotation limit is a 413, and what was registered stays', async () => {
    const pod = await newPod()
    const r = await registryFor(pod)
    const name = `big-${suffix()}`
    await r.register(svc(name, ['small']))
    const huge = svc(name, ['huge'], { metadata: { blob: 'x'.repeat(300 * 1024) } })
    const err = await expectMicroError(r.register(huge), 413)
    expect(err.detail).toContain(`patch pods/${pod}`)
    expect((await r.getService(name))[0].nodes.map((n) => n.id)).toEqual(['small'])
    // The rejected record is not sent again with the next registration.
    await r.register(svc(`${name}-other`, ['o1']))
    expect((await r.getService(name))[0].nodes.map((n) => n.id)).toEqual(['small'])
  })

  it('ping answers with its own pod, and without one (a reader)', async () => {
    await (await registryFor(await newPod())).ping()
    const reader = await createKubernetesRegistry(cluster.registryOptions(namespace))
    registries.push(reader)
    expect(reader.pod).toBeUndefined()
    await reader.ping()
  })

  it('registering from a pod that does not exist is a 404 naming the pod and the variables to set', async () => {
    const r = await registryFor('no-such-pod')
    const err = await expectMicroError(r.register(svc('greeter', ['n1'])), 404)
    expect(err.detail).toMatch(/pod "no-such-pod" does not exist in namespace ".*".*POD_NAME/)
  })

  it('watch({service}) sees a pod enter its selector as create and leave it as delete', async () => {
    const pod = await newPod()
    const r = await registryFor(pod)
    const name = `enter-${suffix()}`
    const events: WatchEvent[] = []
    const watcher = r.watch({ service: name })
    void (async () => {
      for await (const e of watcher) events.push(e)
    })()
    await new Promise((res) => setTimeout(res, 300))
    await r.register(svc(name, ['a', 'b']))
    await eventually(() => expect(events.map((e) => e.action)).toEqual(['create']), 5000)
    await r.deregister(svc(name, ['a']))
    await eventually(
      () => expect(events.at(-1)).toEqual({ action: 'delete', service: svc(name, ['a']) }),
      5000,
    )
    await r.deregister(svc(name, ['b']))
    await eventually(
      () =>
        expect(events.at(-1)).toEqual({
          action: 'delete',
          service: { ...svc(name, ['b']), nodes: [{ id: 'b', address: '10.0.0.2:8080' }] },
        }),
      5000,
    )
    watcher.stop()
  })
})
