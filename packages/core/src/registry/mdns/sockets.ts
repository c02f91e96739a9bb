/**
 * The UDP sockets an mDNS registry owns (multicast-dns instances): opened on first use, their
 * errors logged instead of thrown (an unhandled 'error' event would crash the process), and a
 * send that never rejects. A bad packet must never take the process down.
 */
import makeMdns, { type MulticastDNS } from 'multicast-dns'
import { MicroError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import { REGISTRY_ERROR_ID } from '../util.js'

export type Packet = Parameters<MulticastDNS['respond']>[0]
export interface Peer {
  address: string
  port: number
}

export class MdnsSockets {
  private readonly open = new Set<MulticastDNS>()

  constructor(
    /** The multicast group and port every socket sends to by default. */
    readonly group: string,
    readonly port: number,
    private readonly iface: string | undefined,
    private readonly logger: Logger,
  ) {}

  /** Open a socket (`port` 0: an ephemeral one) and resolve once it is bound. */
  openSocket(port: number, what: string): Promise<MulticastDNS> {
    return new Promise((resolve, reject) => {
      const mdns = makeMdns({ ip: this.group, interface: this.iface, reuseAddr: true, loopback: true, port })
      this.open.add(mdns)
      const onError = (err: Error) => {
        this.open.delete(mdns)
        mdns.destroy()
        reject(new MicroError(REGISTRY_ERROR_ID, 500, `mdns: cannot open the ${what} socket: ${err.message}`))
      }
      mdns.once('error', onError)
      mdns.once('ready', () => {
        mdns.off('error', onError)
        mdns.on('error', (err) => this.logger.warn({ err }, `mdns: ${what} socket error`))
        resolve(mdns)
      })
      mdns.on('warning', (err) => this.logger.debug({ err }, `mdns: ${what} socket warning`))
    })
  }

  /** Send a response packet to `to` (default: the group); failures are logged, never thrown. */
  send(mdns: MulticastDNS, packet: Packet, to?: Peer): Promise<void> {
    return new Promise<void>((resolve) => {
      try {
        mdns.respond(packet, to ?? { address: this.group, port: this.port }, (err) => {
          if (err) this.logger.debug({ err }, 'mdns: send failed')
          resolve()
        })
      } catch (err) {
        this.logger.warn({ err }, 'mdns: packet could not be encoded')
        resolve()
      }
    })
  }

  /** Run a packet handler; a packet it cannot handle is ignored (logged at debug). */
  safely(fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.logger.debug({ err }, 'mdns: packet ignored')
    }
  }

  async closeAll(): Promise<void> {
    const sockets = [...this.open]
    this.open.clear()
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.destroy(() => resolve()))))
  }
}
