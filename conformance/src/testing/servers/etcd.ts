/** A private single-member etcd (its own data directory) on free loopback ports. */
import { readFileSync, rmSync } from 'node:fs'
import https from 'node:https'
import path from 'node:path'
import { freePort, hasCommand, type LaunchSpec, PrivateServer, type PrivateServerOptions } from '../server.js'

export interface EtcdServerOptions extends PrivateServerOptions {
  /** Serve clients over TLS with this certificate and key (PEM files). */
  tls?: {
    cert: string
    key: string
    /** Also require client certificates signed by this CA (`--client-cert-auth`). */
    verifyCa?: string
    /** The CA that signs `cert`, for the readiness probe (default `verifyCa`). */
    ca?: string
    /** A client certificate and key the readiness probe presents when `verifyCa` is set. */
    clientCert?: string
    clientKey?: string
  }
  /** Extra etcd flags (`--max-request-bytes`, `--auto-compaction-retention`, ...). */
  args?: readonly string[]
}

export class EtcdServer extends PrivateServer {
  readonly name = 'etcd'
  private peerPort: number | undefined

  constructor(private readonly options: EtcdServerOptions = {}) {
    super(options)
  }

  /** Start one; stop it with `stop()` (or `await using`). */
  static start(options: EtcdServerOptions = {}): Promise<EtcdServer> {
    return new EtcdServer(options).start()
  }

  /** True when the `etcd` binary is on PATH (Debian's `etcd-server`). */
  static available(): boolean {
    return hasCommand('etcd', ['--version'])
  }

  /** `https://127.0.0.1:<port>` with TLS, else `http://…`. */
  get url(): string {
    return `${this.options.tls ? 'https' : 'http'}://${this.address}`
  }

  private get dataDir(): string {
    return path.join(this.dir, 'data')
  }

  /** Kill etcd, throw its data away, and start it again on the same ports: a new, empty etcd. */
  async wipe(downMs = 0): Promise<void> {
    await this.kill()
    rmSync(this.dataDir, { recursive: true, force: true })
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs))
    await this.start()
  }

  protected override async prepare(): Promise<void> {
    this.peerPort = await freePort(this.host)
  }

  protected launch(): LaunchSpec {
    const client = this.url
    const peer = `http://${this.host}:${this.peerPort}`
    const tls = this.options.tls
    const args = [
      '--name',
      'test',
      '--data-dir',
      this.dataDir,
      '--listen-client-urls',
      client,
      '--advertise-client-urls',
      client,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `test=${peer}`,
      '--log-level',
      'error',
    ]
    if (tls) args.push('--cert-file', tls.cert, '--key-file', tls.key)
    if (tls?.verifyCa) args.push('--client-cert-auth', '--trusted-ca-file', tls.verifyCa)
    args.push(...(this.options.args ?? []))
    // etcd reads every ETCD_<FLAG> variable as a flag: start it without the test process's.
    const env: Record<string, string | undefined> = {}
    for (const k of Object.keys(process.env)) if (k.startsWith('ETCD_')) env[k] = undefined
    return { command: 'etcd', args, env }
  }

  protected ready(): Promise<boolean> {
    const tls = this.options.tls
    if (!tls) {
      return fetch(`${this.url}/health`, { signal: AbortSignal.timeout(1000) })
        .then(async (r) => r.ok && ((await r.json()) as { health?: string }).health === 'true')
        .catch(() => false)
    }
    const read = (file: string | undefined) => (file ? readFileSync(file) : undefined)
    return new Promise((resolve) => {
      const req = https.get(
        `${this.url}/health`,
        {
          ca: read(tls.ca ?? tls.verifyCa),
          cert: read(tls.clientCert),
          key: read(tls.clientKey),
          // Readiness only: without a CA to check the certificate against, any certificate will do.
          rejectUnauthorized: (tls.ca ?? tls.verifyCa) !== undefined,
        },
        (res) => {
          let body = ''
          res.on('data', (d) => {
            body += d
          })
          res.on('end', () => resolve(res.statusCode === 200 && body.includes('"health":"true"')))
        },
      )
      req.on('error', () => resolve(false))
      req.setTimeout(1000, () => req.destroy())
    })
  }
}
