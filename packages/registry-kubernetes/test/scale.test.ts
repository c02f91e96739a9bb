/**
 * 1,000 pods, each a process that registered itself (its own registry patching its own pod), on
 * the shared kube-apiserver: one lookup returns all 1,000 nodes (two list pages), listServices
 * has them, and a watch over all of them reports the ones that go. Timings are printed, not
 * asserted.
 */
import { eventually, requireBackend } from '@micro-ts/conformance/testing'
import type { WatchEvent } from '@micro-ts/core'
import { afterAll, describe, expect, it } from 'vitest'
import { createKubernetesRegistry, type KubernetesRegistry } from '../src/index.js'
import { Cluster, probe, SHARED, suffix } from './cluster.js'

const PODS = 1000
const PARALLEL = 25

const up = await requireBackend(`kube-apiserver at ${SHARED.server}`, async () => {
  const reason = await probe(SHARED)
  if (reason) throw new Error(reason)
})

/** Run `work` for 0..n-1, `parallel` at a time. */
async function pool(n: number, parallel: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) await work(next++)
    }),
  )
}

describe.runIf(up)(`${PODS} pods`, () => {
  const registries: KubernetesRegistry[] = []
  const cluster = new Cluster(SHARED)
  let namespace = ''
  afterAll(async () => {
    for (const r of registries) await r?.close()
    // The shared API server outlives the run: do not leave a thousand pods in it.
    if (namespace) await cluster.core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 })
  })

  it(`${PODS} registrations are found by one lookup, listed, and watched`, { timeout: 600_000 }, async () => {
    namespace = await cluster.namespace('micro-scale')
    const name = `scale-${suffix()}`
    const node = (i: number) => ({
      id: `${name}-${String(i).padStart(4, '0')}`,
      address: `127.0.1.${i % 250}:${8000 + i}`,
    })

    let t = Date.now()
    await pool(PODS, PARALLEL, async (i) => {
      const pod = `pod-${String(i).padStart(4, '0')}`
      await cluster.pod(namespace, pod)
      const r = await createKubernetesRegistry(cluster.registryOptions(namespace, pod))
      registries[i] = r
      await r.register({ name, version: '1.0.0', nodes: [node(i)] })
    })
    const registerMs = Date.now() - t

    const reader = registries[0]
    t = Date.now()
    const found = await reader.getService(name)
    const lookupMs = Date.now() - t
    expect(found).toHaveLength(1)
    expect(found[0].nodes.map((n) => n.id).sort()).toEqual(Array.from({ length: PODS }, (_, i) => node(i).id))

    const listed = (await reader.listServices()).filter((s) => s.name === name)
    expect(listed).toHaveLength(1)
    expect(listed[0].nodes).toHaveLength(PODS)

    const events: WatchEvent[] = []
    const watcher = reader.watch()
    void (async () => {
      for await (const e of watcher) events.push(e)
    })()
    await new Promise((res) => setTimeout(res, 1000))
    const leaving = [3, 333, 666, 999]
    for (const i of leaving) await registries[i].deregister({ name, version: '1.0.0', nodes: [node(i)] })
    await eventually(
      () =>
        expect(
          events
            .filter((e) => e.action === 'delete')
            .flatMap((e) => e.service.nodes.map((n) => n.id))
            .sort(),
        ).toEqual(leaving.map((i) => node(i).id)),
      10_000,
    )
    watcher.stop()
    expect((await reader.getService(name))[0].nodes).toHaveLength(PODS - leaving.length)
    console.info(
      `scale: ${PODS} pods created, made Running and registered in ${registerMs} ms; lookup of ${PODS} nodes ${lookupMs} ms`,
    )
  })
})
