/**
 * A three-member etcd cluster on loopback, each member a private server of its own (the kit's
 * launcher: its own ports and data directory, killed and restarted by PID). The kit's EtcdServer
 * is a single-member cluster; a member here is told about its peers.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import http from 'node:http'
import { freePort, type LaunchSpec, PrivateServer } from '@micro-ts/conformance/testing'

interface MemberSpec {
  member: string
  port: number
  peerPort: number
  /** `name=http://127.0.0.1:peer,...` for every member. */
  cluster: string
  token: string
}

export class EtcdMember extends PrivateServer {
  readonly name: string

  constructor(private readonly spec: MemberSpec) {
    // A member is ready only once the cluster has a leader, which takes all members starting.
    super({ port: spec.port, startTimeout: 60_000 })
    this.name = `etcd ${spec.member}`
  }

  get url(): string {
    return `http://${this.address}`
  }

  protected launch(): LaunchSpec {
    const peer = `http://${this.host}:${this.spec.peerPort}`
    const args = [
      ['--name', this.spec.member],
      ['--data-dir', `${this.dir}/data`],
      ['--listen-client-urls', this.url],
      ['--advertise-client-urls', this.url],
      ['--listen-peer-urls', peer],
      ['--initial-advertise-peer-urls', peer],
      ['--initial-cluster', this.spec.cluster],
      ['--initial-cluster-state', 'new'],
      ['--initial-cluster-token', this.spec.token],
      ['--log-level', 'error'],
    ].flat()
    // etcd reads every ETCD_<FLAG> variable as a flag: start it without the test process's.
    const env: Record<string, string | undefined> = {}
    for (const k of Object.keys(process.env)) if (k.startsWith('ETCD_')) env[k] = undefined
    return { command: 'etcd', args, env }
  }

  protected ready(): Promise<boolean> {
    return request(`${this.url}/health`, 'GET')
      .then((body) => (body as { health?: string }).health === 'true')
      .catch(() => false)
  }

  /** This member's id and the leader's, from the v3 gateway's maintenance status. */
  async status(): Promise<{ member: string; leader: string }> {
    const body = (await request(`${this.url}/v3/maintenance/status`, 'POST', '{}')) as {
      header?: { member_id?: string }
      leader?: string
    }
    return { member: String(body.header?.member_id), leader: String(body.leader) }
  }
}

/**
 * One JSON request on a connection of its own, closed after: no pooled connection stays open,
 * so connectedPorts() sees only the connections of the clients under test.
 */
function request(url: string, method: string, body?: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false, timeout: 2000 }, (res) => {
      let text = ''
      res.on('data', (d) => {
        text += d
      })
      res.on('end', () => {
        try {
          resolve(JSON.parse(text))
        } catch (err) {
          reject(err)
        }
      })
    })
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 2 s`)))
    req.on('error', reject)
    req.end(body)
  })
}

export class EtcdCluster {
  private constructor(readonly members: EtcdMember[]) {}

  /** Start `size` members at once (none is ready until a majority is up). */
  static async start(size = 3): Promise<EtcdCluster> {
    const ports = await Promise.all(
      Array.from({ length: size }, async () => ({ port: await freePort(), peerPort: await freePort() })),
    )
    const cluster = ports.map((p, i) => `m${i + 1}=http://127.0.0.1:${p.peerPort}`).join(',')
    const token = `faults-${process.pid}-${Date.now()}`
    const members = ports.map((p, i) => new EtcdMember({ member: `m${i + 1}`, ...p, cluster, token }))
    try {
      await Promise.all(members.map((m) => m.start()))
    } catch (err) {
      await Promise.all(members.map((m) => m.stop()))
      throw err
    }
    return new EtcdCluster(members)
  }

  /** Every member's client URL, comma separated (MICRO_REGISTRY_ADDRESS). */
  get urls(): string {
    return this.members.map((m) => m.url).join(',')
  }

  /** The member that leads right now (asked of the running members). */
  async leader(): Promise<EtcdMember> {
    for (const m of this.members) {
      if (!m.running) continue
      const s = await m.status().catch(() => undefined)
      if (!s || s.leader === 'undefined' || s.leader === '0') continue
      for (const other of this.members) {
        if (other.running && (await other.status().catch(() => undefined))?.member === s.leader) return other
      }
    }
    throw new Error('etcd cluster: no member knows a leader')
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop()))
  }
}

/**
 * The loopback ports this process has established TCP connections to, among `ports`: which
 * member a client's stream went to (read from /proc: our socket inodes against /proc/net/tcp).
 */
export function connectedPorts(ports: readonly number[]): number[] {
  const inodes = new Set<string>()
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))
      if (m) inodes.add(m[1])
    } catch {
      // closed meanwhile
    }
  }
  const out = new Set<number>()
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length < 10 || f[3] !== '01' || !inodes.has(f[9])) continue
    const port = Number.parseInt(f[2].split(':')[1], 16)
    if (ports.includes(port)) out.add(port)
  }
  return [...out]
}
