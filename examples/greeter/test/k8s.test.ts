/**
 * The greeter on Kubernetes, as far as this machine can take it: the Dockerfile parsed and linted
 * (no Docker engine runs here), the manifests in k8s/ created on a real kube-apiserver (server-side
 * dry run for the Deployment, which nothing could run), and two greeter processes playing the
 * Deployment's pods — environment from the pod template, downward API values from the pods, the
 * service account token from the TokenRequest API, only the Role in k8s/role.yaml — the first
 * finding and calling the second through the kubernetes registry.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
  type V1EnvVar,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node'
import { freePort, requireThat } from '@micro-ts/conformance/testing'
import { createService, silentLogger } from '@micro-ts/core'
import { createKubernetesRegistry } from '@micro-ts/registry-kubernetes'
import { type Copy, DockerfileParser, type From } from 'dockerfile-ast'
import { validate } from 'dockerfile-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
const K8S = here('../k8s')
const DOCKERFILE = readFileSync(here('../Dockerfile'), 'utf8')
const SCRIPT = here('../../../scripts/servers/kubernetes.sh')
/** The Dockerfile's `${NODE_IMAGE}`, spelled so that it is not read as a template placeholder. */
const NODE_IMAGE_REF = ['$', '{NODE_IMAGE}'].join('')

/** Every object in k8s/*.yaml, by kind. */
function manifests(): Map<string, KubernetesObject> {
  const out = new Map<string, KubernetesObject>()
  for (const file of readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')) {
    for (const obj of loadAllYaml(readFileSync(path.join(K8S, file), 'utf8')) as KubernetesObject[]) {
      out.set(obj.kind ?? file, obj)
    }
  }
  return out
}

describe('Dockerfile', () => {
  const dockerfile = DockerfileParser.parse(DOCKERFILE)
  const froms = dockerfile.getFROMs()
  const instructions = dockerfile.getInstructions()
  /** The instructions of the last stage (what the image runs). */
  const runStage = instructions.filter(
    (i) => i.getRange().start.line > froms[froms.length - 1].getRange().start.line,
  )

  it('lints clean (dockerfile-utils: no errors, no warnings)', () => {
    expect(validate(DOCKERFILE).map((d) => `${d.range.start.line + 1}: ${d.message}`)).toEqual([])
  })

  it('is multi-stage, with named stages and a pinned Node 20 base image', () => {
    expect(froms.map((f: From) => f.getBuildStage())).toEqual(['build', 'run'])
    const image = /ARG NODE_IMAGE=(\S+)/.exec(DOCKERFILE)?.[1] ?? ''
    expect(image).toMatch(/^node:20\.\d+-bookworm-slim$/)
    expect(froms.every((f) => f.getImage() === NODE_IMAGE_REF)).toBe(true)
    // The run stage takes only what the build stage made.
    const copies = runStage.filter((i) => i.getKeyword() === 'COPY')
    expect(copies.length).toBeGreaterThan(0)
    for (const c of copies as Copy[]) {
      const flag = (name: string) =>
        c
          .getFlags()
          .find((f) => f.getName() === name)
          ?.getValue()
      expect(flag('from')).toBe('build')
      expect(flag('chown')).toBe('node:node')
      expect(c.getArgumentsContent()).toMatch(/^\/out\//)
    }
  })

  it('runs as a non-root user, node with source maps, in exec form', () => {
    const users = runStage.filter((i) => i.getKeyword() === 'USER').map((i) => i.getArgumentsContent())
    expect(users).toEqual(['node'])
    const entrypoint = runStage.find((i) => i.getKeyword() === 'ENTRYPOINT')?.getArgumentsContent()
    const cmd = runStage.find((i) => i.getKeyword() === 'CMD')?.getArgumentsContent()
    expect(JSON.parse(entrypoint ?? 'null')).toEqual(['node', '--enable-source-maps'])
    expect(JSON.parse(cmd ?? 'null')).toEqual(['dist/service.js'])
  })

  it('builds what the image runs, and exposes the port the Deployment names', () => {
    expect(DOCKERFILE).toContain('pnpm install --frozen-lockfile')
    expect(DOCKERFILE).toContain('pnpm exec tsc -b examples/greeter')
    expect(DOCKERFILE).toContain('deploy --prod --legacy /out')
    const exposed = runStage.filter((i) => i.getKeyword() === 'EXPOSE').map((i) => i.getArgumentsContent())
    const deployment = manifests().get('Deployment') as V1Deployment
    const port = deployment.spec?.template.spec?.containers[0].ports?.[0].containerPort
    expect(exposed).toEqual([String(port)])
    const ignore = readFileSync(here('../Dockerfile.dockerignore'), 'utf8')
    expect(ignore).toMatch(/^\*\*\/node_modules$/m)
    expect(ignore).toMatch(/^\*\*\/dist$/m)
  })
})

describe('manifests (static)', () => {
  it('kustomization lists every manifest', () => {
    const kustomization = loadAllYaml(readFileSync(path.join(K8S, 'kustomization.yaml'), 'utf8'))[0] as {
      resources: string[]
      namespace: string
    }
    const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    expect([...kustomization.resources].sort()).toEqual(files.sort())
    const binding = manifests().get('RoleBinding') as { subjects: { namespace: string }[] }
    expect(binding.subjects[0].namespace).toBe(kustomization.namespace)
  })

  it('the Deployment gives the pod name and namespace by the downward API and probes the health endpoints', () => {
    const d = manifests().get('Deployment') as V1Deployment
    const pod = d.spec?.template.spec
    const c = pod?.containers[0]
    const env = Object.fromEntries(
      (c?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]),
    )
    expect(env).toMatchObject({
      MICRO_REGISTRY: 'kubernetes',
      POD_NAME: 'metadata.name',
      POD_NAMESPACE: 'metadata.namespace',
      POD_IP: 'status.podIP',
      MICRO_SERVER_ADVERTISE: '$(POD_IP):8080',
    })
    expect(c?.livenessProbe?.httpGet).toEqual({ path: '/health/live', port: 'micro' })
    expect(c?.readinessProbe?.httpGet).toEqual({ path: '/health/ready', port: 'micro' })
    expect(pod?.serviceAccountName).toBe('greeter')
    expect(pod?.securityContext?.runAsNonRoot).toBe(true)
    const service = manifests().get('Service') as V1Service
    expect(service.spec?.selector).toEqual(d.spec?.selector.matchLabels)
  })
})

/** A private etcd + kube-apiserver (this project runs in a network namespace of its own). */
class ApiServer {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'micro-greeter-k8s-'))
  env: Record<string, string> = {}
  async start(): Promise<void> {
    this.env = {
      ...(process.env as Record<string, string>),
      MICRO_KUBERNETES_PORT: String(await freePort()),
      MICRO_KUBERNETES_ETCD_PORT: String(await freePort()),
      MICRO_KUBERNETES_ETCD_PEER_PORT: String(await freePort()),
    }
    const r = spawnSync('bash', [SCRIPT, 'start', this.dir], {
      env: this.env,
      encoding: 'utf8',
      timeout: 180_000,
    })
    if (r.status !== 0) throw new Error(`kube-apiserver did not start: ${r.stderr}`)
  }
  get server(): string {
    return `https://127.0.0.1:${this.env.MICRO_KUBERNETES_PORT}`
  }
  stop(): void {
    spawnSync('bash', [SCRIPT, 'stop', this.dir], { env: this.env, stdio: 'ignore', timeout: 60_000 })
    rmSync(this.dir, { recursive: true, force: true })
  }
}

const built =
  spawnSync('bash', [SCRIPT, 'build'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 60 * 60_000 })
    .status === 0
const ready = requireThat(built, 'kube-apiserver binaries (bash scripts/servers/kubernetes.sh build)')

describe.runIf(ready)('on a real kube-apiserver', () => {
  const api = new ApiServer()
  let kc: KubeConfig
  let core: CoreV1Api
  let objects: KubernetesObjectApi
  const namespace = `greeter-${Date.now().toString(36)}`
  const children: ChildProcess[] = []

  beforeAll(async () => {
    await api.start()
    kc = new KubeConfig()
    kc.loadFromOptions({
      clusters: [
        { name: 'c', server: api.server, caFile: path.join(api.dir, 'ca.crt'), skipTLSVerify: false },
      ],
      users: [{ name: 'admin', token: readFileSync(path.join(api.dir, 'admin.token'), 'utf8').trim() }],
      contexts: [{ name: 'c', cluster: 'c', user: 'admin', namespace }],
      currentContext: 'c',
    })
    core = kc.makeApiClient(CoreV1Api)
    objects = KubernetesObjectApi.makeApiClient(kc)
    await core.createNamespace({ body: { metadata: { name: namespace } } })
  }, 240_000)
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    api.stop()
  })

  /** A manifest as applied to the test's namespace (the RoleBinding's subject follows it, as the kustomization says). */
  function inNamespace(obj: KubernetesObject): KubernetesObject {
    const copy = structuredClone(obj) as KubernetesObject & { subjects?: { namespace?: string }[] }
    copy.metadata = { ...copy.metadata, namespace }
    for (const s of copy.subjects ?? []) s.namespace = namespace
    return copy
  }

  it('accepts every manifest: the Deployment by server-side dry run, the rest for real', async () => {
    for (const [kind, obj] of manifests()) {
      const dryRun = kind === 'Deployment' ? 'All' : undefined
      const created = await objects.create(inNamespace(obj), undefined, dryRun)
      expect(created.kind).toBe(kind)
      expect(created.metadata?.name).toBe(obj.metadata?.name)
      if (kind === 'Deployment') {
        // Defaults filled in by the server: it validated the whole pod template.
        const d = created as V1Deployment
        expect(d.spec?.template.spec?.containers[0].livenessProbe?.httpGet?.scheme).toBe('HTTP')
        expect(d.spec?.strategy?.type).toBe('RollingUpdate')
      }
    }
    // The dry run created nothing; the others are there.
    await expect(
      objects.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'greeter', namespace } }),
    ).rejects.toMatchObject({ code: 404 })
    expect((await core.readNamespacedServiceAccount({ name: 'greeter', namespace })).metadata?.name).toBe(
      'greeter',
    )
  })

  it("a second greeter pod (Running) is found and called by the first, with only the greeter's Role", async () => {
    const template = (manifests().get('Deployment') as V1Deployment).spec?.template
    if (!template?.spec) throw new Error('no pod template')
    // Two pods from the template, as the Deployment's ReplicaSet would make them.
    const pods: V1Pod[] = []
    for (const name of ['greeter-7d9f-a', 'greeter-7d9f-b']) {
      await core.createNamespacedPod({
        namespace,
        body: { metadata: { name, labels: template.metadata?.labels }, spec: template.spec },
      })
      pods.push(
        await core.patchNamespacedPodStatus(
          {
            name,
            namespace,
            body: { status: { phase: 'Running', podIP: '127.0.0.1', podIPs: [{ ip: '127.0.0.1' }] } },
          },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ),
      )
    }
    // What the kubelet mounts for the pods' service account.
    const token = (
      await core.createNamespacedServiceAccountToken({
        name: 'greeter',
        namespace,
        body: { spec: { audiences: [] } },
      })
    ).status?.token
    const mount = mkdtempSync(path.join(tmpdir(), 'micro-greeter-sa-'))
    writeFileSync(path.join(mount, 'token'), token ?? '')
    writeFileSync(path.join(mount, 'ca.crt'), readFileSync(path.join(api.dir, 'ca.crt')))
    writeFileSync(path.join(mount, 'namespace'), namespace)

    /** The container's environment as the kubelet makes it for `pod`. */
    function podEnv(pod: V1Pod): Record<string, string> {
      const field = (p: string) =>
        ({
          'metadata.name': pod.metadata?.name,
          'metadata.namespace': namespace,
          'status.podIP': pod.status?.podIP,
        })[p] ?? ''
      const out: Record<string, string> = {}
      for (const e of template?.spec?.containers[0].env ?? ([] as V1EnvVar[])) {
        out[e.name] = e.valueFrom?.fieldRef
          ? field(e.valueFrom.fieldRef.fieldPath)
          : (e.value ?? '').replace(/\$\((\w+)\)/g, (_, v: string) => out[v] ?? '')
      }
      const url = new URL(api.server)
      return { ...out, KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port }
    }

    async function runGreeter(pod: V1Pod): Promise<string> {
      const env = {
        PATH: process.env.PATH ?? '',
        ...podEnv(pod),
        MICRO_REGISTRY_KUBERNETES_SERVICE_ACCOUNT_DIR: mount,
        // Both "pods" share this machine's loopback: each binds its own port instead of 8080.
        MICRO_SERVER_ADDRESS: '127.0.0.1:0',
        MICRO_SERVER_ADVERTISE: '',
        MICRO_LOG_LEVEL: 'warn',
      }
      const child = spawn(process.execPath, [here('../dist/service.js')], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      children.push(child)
      let err = ''
      child.stderr?.on('data', (d: Buffer) => {
        err += d.toString()
      })
      return new Promise((resolve, reject) => {
        let out = ''
        const timer = setTimeout(
          () => reject(new Error(`greeter in ${pod.metadata?.name} did not start: ${err}`)),
          30_000,
        )
        child.stdout?.on('data', (d: Buffer) => {
          out += d.toString()
          const m = /listening on (\S+)/.exec(out)
          if (m) {
            clearTimeout(timer)
            resolve(m[1])
          }
        })
        child.on('exit', (code) =>
          reject(new Error(`greeter in ${pod.metadata?.name} exited (${code}): ${err}`)),
        )
      })
    }

    const [a, b] = pods
    const addressA = await runGreeter(a)
    const addressB = await runGreeter(b)
    // The probes the Deployment declares, on each pod.
    for (const address of [addressA, addressB]) {
      expect((await fetch(`http://${address}/health/live`)).status).toBe(200)
      expect((await fetch(`http://${address}/health/ready`)).status).toBe(200)
    }
    // Each registered itself on its own pod, in go-micro's layout.
    for (const pod of pods) {
      const p = await core.readNamespacedPod({ name: pod.metadata?.name ?? '', namespace })
      expect(p.metadata?.labels).toMatchObject({
        'micro.mu/type': 'service',
        'micro.mu/selector-greeter': 'service',
      })
      expect(JSON.parse(p.metadata?.annotations?.['micro.mu/service-greeter'] ?? '{}').name).toBe('greeter')
    }

    // The first pod's side: in-cluster, as pod a, with the same token; it finds b and calls it.
    const registry = await createKubernetesRegistry({ serviceAccountDir: mount, env: podEnv(a) })
    const caller = await createService({ registry, env: {}, logger: silentLogger })
    try {
      const [greeter] = await registry.getService('greeter')
      expect(greeter.nodes.map((n) => n.address).sort()).toEqual([addressA, addressB].sort())
      const reply = await caller.client.call(
        'greeter',
        'Greeter.Hello',
        { name: 'from a' },
        { address: addressB },
      )
      expect(reply).toEqual({ greeting: 'Hello from a' })
      // And the stock client, run as a process in pod a, gets its greeting from the registry too.
      const client = spawnSync(process.execPath, [here('../dist/client.js')], {
        env: {
          PATH: process.env.PATH ?? '',
          ...podEnv(a),
          MICRO_REGISTRY_KUBERNETES_SERVICE_ACCOUNT_DIR: mount,
          MICRO_LOG_LEVEL: 'warn',
        },
        encoding: 'utf8',
        timeout: 60_000,
      })
      expect(client.status, client.stderr).toBe(0)
      expect(client.stdout).toContain('Hello John')
    } finally {
      await caller.stop()
    }

    // SIGTERM (what the kubelet sends) deregisters: b's records leave its pod.
    const gone = new Promise((r) => children[1].once('exit', r))
    children[1].kill('SIGTERM')
    await gone
    const after = await core.readNamespacedPod({ name: b.metadata?.name ?? '', namespace })
    expect(after.metadata?.annotations?.['micro.mu/service-greeter']).toBeUndefined()
    expect(after.metadata?.labels?.['micro.mu/selector-greeter']).toBeUndefined()
  })
})
