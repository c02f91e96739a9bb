/**
 * Moleculer 0.14 broker settings shared by the Moleculer server, client, publisher and
 * subscriber: JSON serializer, no logger, metrics or tracing, and either
 * - its TCP transporter without UDP discovery, every node listed statically on 127.0.0.1, or
 * - its NATS transporter on the local NATS server,
 * under a per-run namespace so concurrent runs never see each other.
 */
import net from 'node:net'
import Moleculer from 'moleculer'
import type { MoleculerSettings } from './clients/types.js'

/**
 * Moleculer's TCP transporter listens on every interface and, after gossip, may dial a peer at
 * the first address in the peer's interface list. This bench keeps everything on loopback: the
 * transporter dials 127.0.0.1, and listeners in this process without a host bind to 127.0.0.1.
 */
class LoopbackTcpTransporter extends Moleculer.Transporters.TCP {
  getNodeAddress(): string {
    return '127.0.0.1'
  }
}

let listenPatched = false
function listenOnLoopback(): void {
  if (listenPatched) return
  listenPatched = true
  const listen = net.Server.prototype.listen as (...args: unknown[]) => net.Server
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
    const [first] = args
    if (first && typeof first === 'object' && !('host' in first) && !('path' in first)) {
      args[0] = { ...(first as object), host: '127.0.0.1' }
    } else if (typeof first === 'number') {
      args.splice(1, typeof args[1] === 'string' ? 1 : 0, '127.0.0.1')
    }
    return listen.apply(this, args)
  } as typeof net.Server.prototype.listen
}

export function createBroker(nodeID: string, settings: MoleculerSettings): Moleculer.ServiceBroker {
  let transporter: Moleculer.BrokerOptions['transporter']
  if (settings.kind === 'tcp') {
    listenOnLoopback()
    transporter = new LoopbackTcpTransporter({
      udpDiscovery: false,
      port: settings.port,
      urls: settings.urls,
    })
  } else {
    transporter = { type: 'NATS', options: { url: settings.nats ?? 'nats://127.0.0.1:4222' } }
  }
  return new Moleculer.ServiceBroker({
    nodeID,
    namespace: settings.namespace,
    transporter,
    serializer: 'JSON',
    logger: false,
    metrics: false,
    tracing: false,
  })
}
