/** A private nats-server (JetStream on, its own store directory) on a free loopback port. */
import { mkdirSync, rmSync } from 'node:fs'
import {
  canConnect,
  hasCommand,
  type LaunchSpec,
  PrivateServer,
  type PrivateServerOptions,
} from '../server.js'

export interface NatsServerOptions extends PrivateServerOptions {
  /** JetStream with a store in the server's directory. Default true. */
  jetstream?: boolean
  /** Require these credentials. */
  user?: string
  pass?: string
  /** Require TLS with this certificate and key (PEM files). */
  tls?: {
    cert: string
    key: string
    /** Also verify client certificates against this CA. */
    verifyCa?: string
  }
  /** Extra nats-server arguments. */
  args?: readonly string[]
}

export class NatsServer extends PrivateServer {
  readonly name = 'nats-server'

  constructor(private readonly options: NatsServerOptions = {}) {
    super(options)
  }

  /** Start one; stop it with `stop()` (or `await using`). */
  static start(options: NatsServerOptions = {}): Promise<NatsServer> {
    return new NatsServer(options).start()
  }

  /** `nats://127.0.0.1:<port>` (`tls://` when the server requires TLS). */
  get url(): string {
    return `${this.options.tls ? 'tls' : 'nats'}://${this.address}`
  }

  /**
   * Kill the server, throw its JetStream store away, and start it again on the same port: a
   * server that came back without its data (streams and consumers gone).
   */
  async wipe(downMs = 0): Promise<void> {
    await this.kill()
    rmSync(this.dir, { recursive: true, force: true })
    mkdirSync(this.dir, { recursive: true })
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs))
    await this.start()
  }

  /** True when the `nats-server` binary is on PATH. */
  static available(): boolean {
    return hasCommand('nats-server')
  }

  protected launch(): LaunchSpec {
    const o = this.options
    const args = ['-a', this.host, '-p', String(this.port)]
    if (o.jetstream !== false) args.push('-js', '-sd', this.dir)
    if (o.user) args.push('--user', o.user, '--pass', o.pass ?? '')
    if (o.tls) args.push('--tls', '--tlscert', o.tls.cert, '--tlskey', o.tls.key)
    if (o.tls?.verifyCa) args.push('--tlsverify', '--tlscacert', o.tls.verifyCa)
    args.push(...(o.args ?? []))
    return { command: 'nats-server', args }
  }

  // "Server is ready" is logged once JetStream has recovered its store.
  protected async ready(): Promise<boolean> {
    return this.log.includes('Server is ready') && (await canConnect(this.host, this.port, 200))
  }
}
