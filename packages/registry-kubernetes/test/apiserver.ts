/**
 * A private kube-apiserver for tests that kill and restart it: etcd and kube-apiserver, each a
 * PrivateServer (free loopback ports, a throwaway folder, signals by PID), started by
 * scripts/servers/kubernetes.sh's exec-* commands so the flags live in one place. The binaries
 * come from the script's cache (`build`, a no-op once built).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import https from 'node:https'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, type LaunchSpec, PrivateServer } from '@micro-ts/conformance/testing'
import type { ClusterAccess } from './cluster.js'

export const SCRIPT = fileURLToPath(new URL('../../../scripts/servers/kubernetes.sh', import.meta.url))

/** Build (or find) the cached binaries; true when they are there. A cold build takes minutes. */
export function binariesBuilt(): boolean {
  try {
    execFileSync('bash', [SCRIPT, 'build'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 60 * 60_000 })
    return true
  } catch {
    return false
  }
}

/** The etcd behind one private API server. */
class KubeEtcd extends PrivateServer {
  readonly name = 'etcd (kube-apiserver)'
  private peerPort = 0

  protected override async prepare(): Promise<void> {
    this.peerPort = await freePort()
  }

  protected launch(): LaunchSpec {
    return {
      command: 'bash',
      args: [SCRIPT, 'exec-etcd', this.dir],
      env: {
        MICRO_KUBERNETES_ETCD_PORT: String(this.port),
        MICRO_KUBERNETES_ETCD_PEER_PORT: String(this.peerPort),
      },
    }
  }

  protected async ready(): Promise<boolean> {
    const r = await fetch(`http://${this.address}/health`)
    return r.ok && ((await r.json()) as { health?: string }).health === 'true'
  }
}

/** kube-apiserver with RBAC, a static admin token and its own CA, on loopback. */
export class KubeApiServer extends PrivateServer {
  readonly name = 'kube-apiserver'

  constructor(private readonly etcd: { port: number }) {
    super({ startTimeout: 90_000 })
  }

  protected launch(): LaunchSpec {
    return {
      command: 'bash',
      args: [SCRIPT, 'exec-apiserver', this.dir],
      env: { MICRO_KUBERNETES_PORT: String(this.port), MICRO_KUBERNETES_ETCD_PORT: String(this.etcd.port) },
    }
  }

  get access(): ClusterAccess {
    return {
      server: `https://${this.address}`,
      tokenFile: path.join(this.dir, 'admin.token'),
      caFile: path.join(this.dir, 'ca.crt'),
    }
  }

  protected ready(): Promise<boolean> {
    const { tokenFile, caFile } = this.access
    if (!existsSync(tokenFile) || !existsSync(caFile)) return Promise.resolve(false)
    return new Promise((resolve) => {
      const req = https.get(
        `https://${this.address}/readyz`,
        {
          ca: readFileSync(caFile),
          headers: { Authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` },
        },
        (res) => {
          let body = ''
          res.on('data', (d) => {
            body += d
          })
          res.on('end', () => resolve(res.statusCode === 200 && body.trim() === 'ok'))
        },
      )
      req.on('error', () => resolve(false))
      req.setTimeout(2000, () => req.destroy())
    })
  }
}

/** etcd + kube-apiserver, owned by one test file. */
export class PrivateCluster {
  private constructor(
    readonly etcd: PrivateServer,
    readonly apiserver: KubeApiServer,
  ) {}

  static async start(): Promise<PrivateCluster> {
    const etcd = await new KubeEtcd({ startTimeout: 30_000 }).start()
    const apiserver = new KubeApiServer(etcd)
    try {
      await apiserver.start()
    } catch (err) {
      await etcd.stop()
      throw err
    }
    return new PrivateCluster(etcd, apiserver)
  }

  get access(): ClusterAccess {
    return this.apiserver.access
  }

  async stop(): Promise<void> {
    await this.apiserver.stop()
    await this.etcd.stop()
  }
}
