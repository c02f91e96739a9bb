/**
 * A private etcd (its own data directory) on free loopback ports: a single-member one, or a
 * member of an `EtcdCluster` of several.
 */
import { readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
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
  /** A member of a cluster of several (what `EtcdCluster` starts); without it, a cluster of one. */
  member?: EtcdMemberOptions
}

export interface EtcdMemberOptions {
  /** The member's name (`--name`). */
  name: string
  /** Its peer port (`--listen-peer-urls http://127.0.0.1:<peerPort>`). */
  peerPort: number
  /** Every member's `name=http://127.0.0.1:<peerPort>`, comma separated (`--initial-cluster`). */
  initialCluster: string
  /** `--initial-cluster-token`: one per cluster. */
  token: string
}

export class EtcdServer extends PrivateServer {
  readonly name: string
  private peerPort: number | undefined

  constructor(private readonly options: EtcdServerOptions = {}) {
    super(options)
    this.name = options.member ? `etcd ${options.member.name}` : 'etcd'
    this.peerPort = options.member?.peerPort
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

  /** This member's id and the leader's ('0' while there is none), from the v3 gateway's status. */
  async status(): Promise<{ member: string; leader: string }> {
    const body = (await this.request('/v3/maintenance/status', '{}')) as {
      header?: { member_id?: string }
      leader?: string
    }
    return { member: String(body.header?.member_id), leader: String(body.leader ?? '0') }
  }

  protected override async prepare(): Promise<void> {
    this.peerPort ??= await freePort(this.host)
  }

  protected launch(): LaunchSpec {
    const client = this.url
    const peer = `http://${this.host}:${this.peerPort}`
    const tls = this.options.tls
    const member = this.options.member
    const args = [
      '--name',
      member?.name ?? 'test',
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
      member?.initialCluster ?? `test=${peer}`,
      '--log-level',
      'error',
    ]
    if (member) args.push('--initial-cluster-state', 'new', '--initial-cluster-token', member.token)
    if (tls) args.push('--cert-file', tls.cert, '--key-file', tls.key)
    if (tls?.verifyCa) args.push('--client-cert-auth', '--trusted-ca-file', tls.verifyCa)
    args.push(...(this.options.args ?? []))
    // etcd reads every ETCD_<FLAG> variable as a flag: start it without the test process's.
    const env: Record<string, string | undefined> = {}
    for (const k of Object.keys(process.env)) if (k.startsWith('ETCD_')) env[k] = undefined
    return { command: 'etcd', args, env }
  }

  protected ready(): Promise<boolean> {
    return this.request('/health')
      .then((body) => (body as { health?: string }).health === 'true')
      .catch(() => false)
  }

  /**
   * One JSON request (a POST when `body` is given) on a connection of its own, closed after: no
   * pooled connection to etcd stays open in the test process (a test may count the connections
   * its clients hold, as faults' etcd cluster scenario does).
   */
  private request(pathname: string, body?: string): Promise<unknown> {
    const tls = this.options.tls
    const read = (file: string | undefined) => (file ? readFileSync(file) : undefined)
    const options: https.RequestOptions = {
      method: body === undefined ? 'GET' : 'POST',
      agent: false,
      timeout: 1000,
    }
    if (tls) {
      options.ca = read(tls.ca ?? tls.verifyCa)
      options.cert = read(tls.clientCert)
      options.key = read(tls.clientKey)
      // Readiness only: without a CA to check the certificate against, any certificate will do.
      options.rejectUnauthorized = (tls.ca ?? tls.verifyCa) !== undefined
    }
    const url = `${this.url}${pathname}`
    return new Promise((resolve, reject) => {
      const req = (tls ? https : http).request(url, options, (res) => {
        let text = ''
        res.on('data', (d) => {
          text += d
        })
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`${url}: HTTP ${res.statusCode}: ${text}`))
          try {
            resolve(JSON.parse(text))
          } catch (err) {
            reject(err)
          }
        })
      })
      req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 1 s`)))
      req.on('error', reject)
      req.end(body)
    })
  }
}

/**
 * A cluster of `size` etcd members on loopback, each a private `EtcdServer` (its own ports and
 * data directory, killed and restarted by PID) told about its peers.
 */
export class EtcdCluster {
  private constructor(readonly members: readonly EtcdServer[]) {}

  /** Start `size` members at once: none is ready until a majority is up and has a leader. */
  static async start(size = 3, options: { startTimeout?: number } = {}): Promise<EtcdCluster> {
    const peerPorts = await Promise.all(Array.from({ length: size }, () => freePort()))
    const initialCluster = peerPorts.map((p, i) => `m${i + 1}=http://127.0.0.1:${p}`).join(',')
    const token = `etcd-cluster-${process.pid}-${Date.now()}`
    const members = peerPorts.map(
      (peerPort, i) =>
        new EtcdServer({
          startTimeout: options.startTimeout ?? 60_000,
          member: { name: `m${i + 1}`, peerPort, initialCluster, token },
        }),
    )
    try {
      await Promise.all(members.map((m) => m.start()))
    } catch (err) {
      await Promise.all(members.map((m) => m.stop()))
      throw err
    }
    return new EtcdCluster(members)
  }

  /** Every member's `127.0.0.1:<port>`. */
  get addresses(): string[] {
    return this.members.map((m) => m.address)
  }

  /** Every member's client URL. */
  get urls(): string[] {
    return this.members.map((m) => m.url)
  }

  /** The running member that leads right now, as the running members tell; throws when none knows one. */
  async leader(): Promise<EtcdServer> {
    const byId = new Map<string, EtcdServer>()
    let leader: string | undefined
    for (const m of this.members) {
      if (!m.running) continue
      const s = await m.status().catch(() => undefined) // this one cannot tell
      if (!s) continue
      byId.set(s.member, m)
      if (s.leader !== '0') leader = s.leader
    }
    const found = leader === undefined ? undefined : byId.get(leader)
    if (!found) throw new Error('etcd cluster: no running member knows a running leader')
    return found
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop()))
  }
}
