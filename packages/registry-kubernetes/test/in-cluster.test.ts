/**
 * In-cluster, as a pod runs it: a real service-account token from the TokenRequest API in a
 * mounted-style folder (token, ca.crt, namespace), KUBERNETES_SERVICE_HOST/PORT, and exactly the
 * Role the README documents. Everything the registry does works; a namespace the account has no
 * RoleBinding in is a 403 that names the verb, the resource and the namespace.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { CoreV1Api, KubeConfig, loadYaml, type V1Role } from '@kubernetes/client-node'
import { eventually, expectMicroError, requireBackend } from '@micro-ts/conformance/testing'
import type { Service, WatchEvent } from '@micro-ts/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKubernetesRegistry, type KubernetesRegistry } from '../src/index.js'
import { Cluster, codeOf, probe, SHARED, suffix } from './cluster.js'

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
const GREETER_ROLE = readFileSync(new URL('../../../examples/greeter/k8s/role.yaml', import.meta.url), 'utf8')

/** The Role in the README's RBAC section (the YAML block after `<!-- rbac-role -->`). */
function readmeRole(): V1Role {
  const block = /<!-- rbac-role -->\s*```yaml\n([\s\S]*?)```/.exec(README)?.[1]
  if (!block) throw new Error('README.md has no ```yaml block after <!-- rbac-role -->')
  return loadYaml<V1Role>(block)
}

const svc = (name: string, ids: string[]): Service => ({
  name,
  version: '1.0.0',
  nodes: ids.map((id) => ({ id, address: `127.0.0.1:${10_000 + ids.indexOf(id)}` })),
})

const up = await requireBackend(`kube-apiserver at ${SHARED.server}`, async () => {
  const reason = await probe(SHARED)
  if (reason) throw new Error(reason)
})

describe.runIf(up)('in-cluster with a service-account token and the README’s Role', () => {
  const cluster = new Cluster(SHARED)
  let allowed = ''
  let forbidden = ''
  let mount = ''
  let token = ''
  const env: Record<string, string> = {}
  const registries: KubernetesRegistry[] = []

  beforeAll(async () => {
    allowed = await cluster.namespace('micro-rbac')
    forbidden = await cluster.namespace('micro-norbac')
    const role = readmeRole()
    await cluster.core.createNamespacedServiceAccount({
      namespace: allowed,
      body: { metadata: { name: 'greeter' } },
    })
    await cluster.rbac.createNamespacedRole({ namespace: allowed, body: role })
    await cluster.rbac.createNamespacedRoleBinding({
      namespace: allowed,
      body: {
        metadata: { name: 'greeter-micro-registry' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata?.name ?? '' },
        subjects: [{ kind: 'ServiceAccount', name: 'greeter', namespace: allowed }],
      },
    })
    await cluster.pod(allowed, 'greeter-0')
    await cluster.pod(forbidden, 'greeter-0')
    token = await cluster.serviceAccountToken(allowed, 'greeter')
    // What the kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount.
    mount = mkdtempSync(path.join(tmpdir(), 'micro-serviceaccount-'))
    writeFileSync(path.join(mount, 'token'), token)
    writeFileSync(path.join(mount, 'ca.crt'), readFileSync(SHARED.caFile))
    writeFileSync(path.join(mount, 'namespace'), allowed)
    const url = new URL(SHARED.server)
    Object.assign(env, {
      KUBERNETES_SERVICE_HOST: url.hostname,
      KUBERNETES_SERVICE_PORT: url.port,
      POD_NAME: 'greeter-0',
    })
  })
  afterAll(async () => {
    for (const r of registries) await r.close()
  })

  async function inCluster(extra: Record<string, unknown> = {}): Promise<KubernetesRegistry> {
    const r = await createKubernetesRegistry({ serviceAccountDir: mount, env, ...extra })
    registries.push(r)
    return r
  }

  it('the README’s Role is the greeter’s, and it grants list, watch and patch on pods only', () => {
    const role = readmeRole()
    expect(role).toEqual(loadYaml<V1Role>(GREETER_ROLE))
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch', 'patch'] }])
  })

  it('registers, looks up, lists and watches with nothing but the mounted token and CA', async () => {
    const r = await inCluster()
    expect([r.namespace, r.pod]).toEqual([allowed, 'greeter-0'])
    const name = `incluster-${suffix()}`
    const events: WatchEvent[] = []
    const watcher = r.watch({ service: name })
    void (async () => {
      for await (const e of watcher) events.push(e)
    })()
    await new Promise((res) => setTimeout(res, 300))
    await r.register(svc(name, ['a', 'b']))
    expect((await r.getService(name))[0].nodes.map((n) => n.id)).toEqual(['a', 'b'])
    expect((await r.listServices()).map((s) => s.name)).toContain(name)
    await eventually(() => expect(events.map((e) => e.action)).toEqual(['create']), 5000)
    await r.deregister(svc(name, ['a', 'b']))
    await eventually(() => expect(events.map((e) => e.action)).toEqual(['create', 'delete']), 5000)
    await expectMicroError(r.getService(name), 404)
    watcher.stop()
  })

  it('ping needs nothing the Role does not grant; in a namespace without a RoleBinding it is a 403', async () => {
    await (await inCluster()).ping()
    const denied = await expectMicroError((await inCluster({ namespace: forbidden })).ping(), 403)
    expect(denied.detail).toContain(`forbidden to list pods in namespace "${forbidden}"`)
  })

  it('the token can do nothing the Role does not grant (no get, no delete)', async () => {
    const kc = new KubeConfig()
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: SHARED.server, caFile: SHARED.caFile, skipTLSVerify: false }],
      users: [{ name: 'sa', token }],
      contexts: [{ name: 'c', cluster: 'c', user: 'sa', namespace: allowed }],
      currentContext: 'c',
    })
    const core = kc.makeApiClient(CoreV1Api)
    expect(await core.readNamespacedPod({ name: 'greeter-0', namespace: allowed }).catch(codeOf)).toBe(403)
    expect(await core.deleteNamespacedPod({ name: 'greeter-0', namespace: allowed }).catch(codeOf)).toBe(403)
  })

  it('a namespace without a RoleBinding is a 403 naming the verb, the resource and the namespace', async () => {
    const r = await inCluster({ namespace: forbidden })
    const list = await expectMicroError(r.getService('greeter'), 403)
    expect(list.id).toBe('go.micro.registry')
    expect(list.detail).toContain(`forbidden to list pods in namespace "${forbidden}"`)
    expect(list.detail).toContain('grant the verb "list" on "pods"')
    expect(list.detail).toContain(`system:serviceaccount:${allowed}:greeter`)
    const patch = await expectMicroError(r.register(svc('greeter', ['n1'])), 403)
    expect(patch.detail).toContain(`forbidden to patch pods/greeter-0 in namespace "${forbidden}"`)
    const watcher = r.watch()
    const iteration = (async () => {
      for await (const _ of watcher) {
        // nothing can arrive
      }
    })()
    const watched = await expectMicroError(iteration, 403)
    expect(watched.detail).toMatch(/forbidden to (list|watch) pods in namespace/)
  })
})
