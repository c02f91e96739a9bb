/**
 * A private etcd cluster on loopback: `size` members, each the kit's EtcdServer (its own ports
 * and data directory, killed and restarted by PID) told about its peers. The kit's EtcdServer
 * starts a single-member cluster; the flags given here come after its own, and etcd takes the
 * last value of a flag given twice.
 */
import { freePort } from '@micro-ts/conformance/testing'
import { EtcdServer } from '@micro-ts/conformance/testing/etcd'

export class EtcdCluster {
  private constructor(readonly members: readonly EtcdServer[]) {}

  /** Start `size` members at once: none is ready until a majority is up and has a leader. */
  static async start(size = 3): Promise<EtcdCluster> {
    const ports = await Promise.all(
      Array.from({ length: size }, async () => ({ client: await freePort(), peer: await freePort() })),
    )
    const peerUrl = (i: number) => `http://127.0.0.1:${ports[i].peer}`
    const initial = ports.map((_, i) => `m${i}=${peerUrl(i)}`).join(',')
    const token = `registry-etcd-${process.pid}-${Date.now()}`
    const members = ports.map(
      (p, i) =>
        new EtcdServer({
          port: p.client,
          startTimeout: 60_000,
          args: [
            ['--name', `m${i}`],
            ['--listen-peer-urls', peerUrl(i)],
            ['--initial-advertise-peer-urls', peerUrl(i)],
            ['--initial-cluster', initial],
            ['--initial-cluster-token', token],
            ['--initial-cluster-state', 'new'],
          ].flat(),
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

  /** The running member that leads now (asked of the running members), or undefined. */
  async leader(): Promise<EtcdServer | undefined> {
    const ids = new Map<string, EtcdServer>()
    let leader: string | undefined
    for (const m of this.members.filter((x) => x.running)) {
      // The v3 JSON gateway's maintenance status: this member's id and the leader's ('0': none).
      const s = await fetch(`${m.url}/v3/maintenance/status`, {
        method: 'POST',
        body: '{}',
        signal: AbortSignal.timeout(1000),
      })
        .then((r) => r.json() as Promise<{ header?: { member_id?: string }; leader?: string }>)
        .catch(() => undefined) // this one cannot tell
      if (s?.header?.member_id) ids.set(s.header.member_id, m)
      if (s?.leader && s.leader !== '0') leader = s.leader
    }
    return leader === undefined ? undefined : ids.get(leader)
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop()))
  }
}
