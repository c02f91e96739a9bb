/**
 * A private redis-server on a free loopback port, its files in its own directory (no snapshots;
 * `args` may turn the append-only file on). `kill()` (SIGKILL) is a crash.
 */

import net from 'node:net'
import tls from 'node:tls'
import {
  canConnect,
  hasCommand,
  type LaunchSpec,
  PrivateServer,
  type PrivateServerOptions,
} from '../server.js'

export interface RedisServerOptions extends PrivateServerOptions {
  /**
   * Serve only TLS, with this certificate and key (PEM files); with `verifyCa`, clients must
   * present a certificate it signs (`tls-auth-clients yes`).
   */
  tls?: { cert: string; key: string; verifyCa?: string }
  /** Extra redis-server arguments (`--requirepass`, `--appendonly yes`, ...). */
  args?: readonly string[]
}

export class RedisServer extends PrivateServer {
  readonly name = 'redis-server'

  constructor(private readonly options: RedisServerOptions = {}) {
    super(options)
  }

  /** Start one; stop it with `stop()` (or `await using`). */
  static start(options: RedisServerOptions = {}): Promise<RedisServer> {
    return new RedisServer(options).start()
  }

  /** True when the `redis-server` binary is installed. */
  static available(): boolean {
    return hasCommand('redis-server')
  }

  /** `redis://[auth@]127.0.0.1:<port>` (`rediss://` with TLS); `auth` is `user:password` or `:password`. */
  url(auth = ''): string {
    return `${this.options.tls ? 'rediss' : 'redis'}://${auth ? `${auth}@` : ''}${this.address}`
  }

  protected launch(): LaunchSpec {
    const o = this.options
    const port = String(this.port)
    const args = ['--bind', this.host, '--save', '', '--appendonly', 'no', '--dir', this.dir]
    if (o.tls) {
      args.push('--port', '0', '--tls-port', port, '--tls-cert-file', o.tls.cert, '--tls-key-file', o.tls.key)
      if (o.tls.verifyCa) args.push('--tls-ca-cert-file', o.tls.verifyCa, '--tls-auth-clients', 'yes')
      else args.push('--tls-auth-clients', 'no')
    } else args.push('--port', port)
    args.push(...(o.args ?? []))
    return { command: 'redis-server', args }
  }

  /**
   * A `PING` gets an answer (`+PONG`, or `-NOAUTH` when a password is required). A server that
   * verifies client certificates is ready once it says so and accepts connections.
   */
  protected async ready(): Promise<boolean> {
    const o = this.options.tls
    if (o?.verifyCa) {
      return this.log.includes('Ready to accept connections') && (await canConnect(this.host, this.port, 200))
    }
    return new Promise((resolve) => {
      const socket = o
        ? // Readiness only: the test's own client checks the certificate.
          tls.connect({ host: this.host, port: this.port, rejectUnauthorized: false })
        : net.connect({ host: this.host, port: this.port })
      const done = (ok: boolean) => {
        socket.destroy()
        resolve(ok)
      }
      socket.setTimeout(1000, () => done(false))
      socket.once(o ? 'secureConnect' : 'connect', () => socket.write('PING\r\n'))
      socket.once('data', (d) => done(/^[+-]/.test(d.toString())))
      socket.once('error', () => done(false))
    })
  }
}
