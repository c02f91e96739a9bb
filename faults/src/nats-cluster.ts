/**
 * A three-node NATS cluster with JetStream on loopback: the kit's private nats-server, three
 * times, with routes to each other and a monitoring port each (to find a stream's leader).
 */
import { freePort } from '@micro-ts/conformance/testing'
import { NatsServer } from '@micro-ts/conformance/testing/nats'

interface Member {
  name: string
  server: NatsServer
  monitor: number
}

export class NatsCluster {
  private constructor(private readonly members: Member[]) {}

  static async start(size = 3): Promise<NatsCluster> {
    const ports = await Promise.all(
      Array.from({ length: size }, async (_, i) => ({
        name: `n${i + 1}`,
        port: await freePort(),
        route: await freePort(),
        monitor: await freePort(),
      })),
    )
    const members = ports.map((p) => ({
      name: p.name,
      monitor: p.monitor,
      server: new NatsServer({
        port: p.port,
        jetstream: true,
        args: [
          ['-n', p.name],
          ['--cluster_name', 'faults'],
          ['--cluster', `nats://127.0.0.1:${p.route}`],
          [
            '--routes',
            ports
              .filter((o) => o !== p)
              .map((o) => `nats://127.0.0.1:${o.route}`)
              .join(','),
          ],
          ['-m', String(p.monitor)],
        ].flat(),
      }),
    }))
    try {
      await Promise.all(members.map((m) => m.server.start()))
    } catch (err) {
      await Promise.all(members.map((m) => m.server.stop()))
      throw err
    }
    return new NatsCluster(members)
  }

  /** Every server's client URL. */
  get urls(): string[] {
    return this.members.map((m) => m.server.url)
  }

  /** The member a client's `nats://host:port` address points at. */
  member(address: string): { name: string; server: NatsServer } {
    const m = this.members.find((x) => address.endsWith(x.server.address))
    if (!m) throw new Error(`no cluster member at ${address}`)
    return m
  }

  /** The member leading `stream` (asked of each running server's monitoring port). */
  async streamLeader(stream: string): Promise<{ name: string; server: NatsServer }> {
    for (const m of this.members) {
      if (!m.server.running) continue
      const jsz = await fetch(`http://127.0.0.1:${m.monitor}/jsz?streams=true`, {
        signal: AbortSignal.timeout(2000),
      })
        .then((r) => r.json() as Promise<JszAnswer>)
        .catch(() => undefined)
      for (const acc of jsz?.account_details ?? []) {
        for (const s of acc.stream_detail ?? []) {
          if (s.name === stream && s.cluster?.leader) {
            const leader = this.members.find((x) => x.name === s.cluster?.leader)
            if (leader) return leader
          }
        }
      }
    }
    throw new Error(`no NATS server knows a leader for stream ${stream}`)
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.server.stop()))
  }
}

interface JszAnswer {
  account_details?: { stream_detail?: { name: string; cluster?: { leader?: string } }[] }[]
}
