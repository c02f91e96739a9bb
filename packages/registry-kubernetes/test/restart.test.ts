/**
 * A private kube-apiserver that is killed and started again while a client calls a service it
 * found through the registry: the calls go on from the client's registry cache, and a watch
 * opened before the restart reports changes made after it (resumed from its resourceVersion, or
 * listed again when the restarted server answers 410 Gone).
 */
import { recordingLogger, requireThat, sleep } from '@micro-ts/conformance/testing'
import { createService, type Logger, type MicroService, silentLogger, type WatchEvent } from '@micro-ts/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKubernetesRegistry, type KubernetesRegistry } from '../src/index.js'
import { binariesBuilt, PrivateCluster } from './apiserver.js'
import { Cluster } from './cluster.js'

const ready = requireThat(
  binariesBuilt(),
  'kube-apiserver and etcd binaries (bash scripts/servers/kubernetes.sh build)',
)

describe.runIf(ready)('a private kube-apiserver that restarts', () => {
  let pc: PrivateCluster
  let cluster: Cluster
  let namespace = ''
  const cleanup: (() => Promise<unknown>)[] = []

  beforeAll(async () => {
    pc = await PrivateCluster.start()
    cluster = new Cluster(pc.access)
    namespace = await cluster.namespace('micro-restart')
  })
  afterAll(async () => {
    for (const undo of cleanup.reverse()) await undo().catch(() => {})
    await pc?.stop()
  })

  async function registry(pod: string, logger: Logger = silentLogger): Promise<KubernetesRegistry> {
    await cluster.pod(namespace, pod)
    const r = await createKubernetesRegistry({
      ...cluster.registryOptions(namespace, pod),
      logger,
      timeout: 2000,
    })
    cleanup.push(() => r.close())
    return r
  }

  async function service(options: Parameters<typeof createService>[0]): Promise<MicroService> {
    const s = await createService({ address: '127.0.0.1:0', env: {}, logger: silentLogger, ...options })
    cleanup.push(() => s.stop())
    return s
  }

  it('calls continue from the cache during the restart, and a watch resumes after it', async () => {
    const greeter = await service({ name: 'greeter', registry: await registry('greeter-0') })
    greeter.handle(
      { Hello: async (req: { name: string }) => ({ greeting: `Hello ${req.name}` }) },
      { name: 'Greeter' },
    )
    await greeter.start()

    const log = recordingLogger()
    const clientRegistry = await registry('client-0', log)
    const client = await service({ registry: clientRegistry })
    expect(await client.client.call('greeter', 'Greeter.Hello', { name: 'before' })).toEqual({
      greeting: 'Hello before',
    })

    const events: WatchEvent[] = []
    const watcher = clientRegistry.watch()
    cleanup.push(async () => watcher.stop())
    void (async () => {
      for await (const e of watcher) events.push(e)
    })()
    await sleep(500)

    let ok = 0
    const failures: string[] = []
    let calling = true
    const loop = (async () => {
      while (calling) {
        try {
          const r = await client.client.call<{ greeting: string }>('greeter', 'Greeter.Hello', {
            name: `n${ok}`,
          })
          if (r.greeting === `Hello n${ok}`) ok++
          else failures.push(`wrong answer ${JSON.stringify(r)}`)
        } catch (e) {
          failures.push(String(e))
        }
        await sleep(20)
      }
    })()

    await sleep(1000)
    const before = ok
    // SIGKILL, down for 2 s, then the same port and the same etcd.
    await pc.apiserver.restart(2000)
    const duringAndAfter = ok - before
    await sleep(1500)
    calling = false
    await loop
    expect(failures).toEqual([])
    expect(duringAndAfter).toBeGreaterThan(20)

    // A service registered after the restart reaches the watch that was opened before it.
    const late = await service({ name: 'late', registry: await registry('late-0') })
    late.handle({ Ping: async () => ({}) }, { name: 'Late' })
    await late.start()
    const deadline = Date.now() + 20_000
    while (!events.some((e) => e.action === 'create' && e.service.name === 'late') && Date.now() < deadline) {
      await sleep(100)
    }
    expect(events.filter((e) => e.service.name === 'late').map((e) => e.action)).toContain('create')
    expect(await client.client.call('late', 'Late.Ping', {})).toEqual({})
    // Which way the watch came back (both are correct): resumed, or listed again after 410.
    console.info(
      `restart: ${ok} calls, 0 failures; watch ${log.messages().some((m) => m.includes('410')) ? 'listed again after 410 Gone' : 'resumed from its resourceVersion'}`,
    )
  })

  it('a pod deleted while the API server is down shows up as a delete when the watch is back', async () => {
    const r = await registry('watcher-0')
    const gone = await registry('gone-0')
    await gone.register({ name: 'doomed', version: '1', nodes: [{ id: 'doomed-1', address: '127.0.0.1:9' }] })
    const events: WatchEvent[] = []
    const watcher = r.watch({ service: 'doomed' })
    cleanup.push(async () => watcher.stop())
    void (async () => {
      for await (const e of watcher) events.push(e)
    })()
    await sleep(500)
    await pc.apiserver.kill()
    await pc.apiserver.start()
    // The admin deletes the pod right away, before the watch has had its next try.
    await cluster.core.deleteNamespacedPod({ name: 'gone-0', namespace, gracePeriodSeconds: 0 })
    const deadline = Date.now() + 20_000
    while (!events.some((e) => e.action === 'delete') && Date.now() < deadline) await sleep(100)
    expect(events.map((e) => `${e.action} ${e.service.nodes.map((n) => n.id)}`)).toEqual(['delete doomed-1'])
  })

  it('a watch whose resourceVersion the restarted server no longer has lists again (410) and reports what changed', async () => {
    const log = recordingLogger()
    const r = await registry('relist-watcher-0', log)
    const leaving = await registry('relist-gone-0')
    await leaving.register({
      name: 'relisted',
      version: '1',
      nodes: [{ id: 'relisted-1', address: '127.0.0.1:9' }],
    })
    const events: WatchEvent[] = []
    const watcher = r.watch({ service: 'relisted' })
    cleanup.push(async () => watcher.stop())
    void (async () => {
      for await (const e of watcher) events.push(e)
    })()
    await sleep(500)
    // Writes the watch does not see (another label) move the server's resourceVersion on, past
    // the last one this watch holds; the restarted server's watch cache starts after it.
    const other = await cluster.namespace('micro-churn')
    for (let i = 0; i < 20; i++) await cluster.pod(other, `churn-${i}`)
    await pc.apiserver.kill()
    await pc.apiserver.start()
    await cluster.core.deleteNamespacedPod({ name: 'relist-gone-0', namespace, gracePeriodSeconds: 0 })
    const deadline = Date.now() + 20_000
    while (!events.some((e) => e.action === 'delete') && Date.now() < deadline) await sleep(100)
    expect(events.map((e) => `${e.action} ${e.service.nodes.map((n) => n.id)}`)).toEqual([
      'delete relisted-1',
    ])
    expect(log.messages().filter((m) => m.includes('410'))).not.toEqual([])
  })
})
