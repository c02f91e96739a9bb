#!/usr/bin/env node
// The environment the greeter demo runs with on MICRO_REGISTRY=kubernetes, against the
// kube-apiserver scripts/backends.sh started: a fresh namespace with this folder's
// ServiceAccount, Role and RoleBinding, a pod made from the Deployment's template (patched to
// Running: no kubelet runs here), and that service account's token from the TokenRequest API in
// a folder laid out like the kubelet's mount. Prints KEY=VALUE lines: the demo's processes then
// run as that pod would, in-cluster, with nothing but the Role's rights.
//   node examples/greeter/k8s/demo-env.mjs
// Reads MICRO_TEST_KUBERNETES_ADDRESS, _TOKEN_FILE and _CA_FILE (scripts/backends.sh prints them).
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node'

const here = path.dirname(fileURLToPath(import.meta.url))
const server = process.env.MICRO_TEST_KUBERNETES_ADDRESS ?? 'https://127.0.0.1:6443'
const tokenFile = process.env.MICRO_TEST_KUBERNETES_TOKEN_FILE ?? '/tmp/micro-kubernetes/admin.token'
const caFile = process.env.MICRO_TEST_KUBERNETES_CA_FILE ?? '/tmp/micro-kubernetes/ca.crt'
const namespace = `greeter-demo-${randomBytes(3).toString('hex')}`
const pod = 'greeter-demo-0'

function fail(message) {
  console.error(`demo-env: ${message}`)
  process.exit(1)
}

let adminToken
try {
  adminToken = readFileSync(tokenFile, 'utf8').trim()
} catch {
  fail(`no admin token at ${tokenFile}: start the API server first (bash scripts/backends.sh kubernetes)`)
}
const kc = new KubeConfig()
kc.loadFromOptions({
  clusters: [{ name: 'demo', server, caFile, skipTLSVerify: false }],
  users: [{ name: 'admin', token: adminToken }],
  contexts: [{ name: 'demo', cluster: 'demo', user: 'admin', namespace }],
  currentContext: 'demo',
})
const core = kc.makeApiClient(CoreV1Api)
const objects = KubernetesObjectApi.makeApiClient(kc)

try {
  await core.createNamespace({ body: { metadata: { name: namespace } } })
  let template
  for (const file of readdirSync(here).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')) {
    for (const obj of loadAllYaml(readFileSync(path.join(here, file), 'utf8'))) {
      if (obj.kind === 'Deployment') {
        template = obj.spec.template
        continue
      }
      // Nothing could run a Service's endpoints here either; it is not needed for the demo.
      if (obj.kind === 'Service') continue
      obj.metadata.namespace = namespace
      for (const s of obj.subjects ?? []) s.namespace = namespace
      await objects.create(obj)
    }
  }
  await core.createNamespacedPod({
    namespace,
    body: { metadata: { name: pod, labels: template.metadata.labels }, spec: template.spec },
  })
  await core.patchNamespacedPodStatus(
    {
      name: pod,
      namespace,
      body: { status: { phase: 'Running', podIP: '127.0.0.1', podIPs: [{ ip: '127.0.0.1' }] } },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  )
  const request = await core.createNamespacedServiceAccountToken({
    name: template.spec.serviceAccountName,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  })
  const mount = mkdtempSync(path.join(tmpdir(), 'micro-greeter-serviceaccount-'))
  writeFileSync(path.join(mount, 'token'), request.status.token)
  writeFileSync(path.join(mount, 'ca.crt'), readFileSync(caFile))
  writeFileSync(path.join(mount, 'namespace'), namespace)
  const url = new URL(server)
  const env = {
    MICRO_REGISTRY: 'kubernetes',
    KUBERNETES_SERVICE_HOST: url.hostname,
    KUBERNETES_SERVICE_PORT: url.port || '443',
    MICRO_REGISTRY_KUBERNETES_SERVICE_ACCOUNT_DIR: mount,
    POD_NAME: pod,
    POD_NAMESPACE: namespace,
  }
  for (const [k, v] of Object.entries(env)) console.log(`${k}=${v}`)
} catch (err) {
  fail(`${err.code ? `${err.code} ` : ''}${err.body ?? err.message}`)
}
