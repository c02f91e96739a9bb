/**
 * A private RabbitMQ node (its own node name, ports, data directory and Erlang cookie) on a free
 * loopback port, for tests that kill, restart or configure a server without disturbing the
 * shared one.
 */
import { execFile } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { freePort, hasCommand, type LaunchSpec, PrivateServer, type PrivateServerOptions } from '../server.js'

/** The server script itself: /usr/sbin's wrapper would switch to the rabbitmq user. */
const SERVER_SCRIPT = '/usr/lib/rabbitmq/bin/rabbitmq-server'

export interface RabbitMQServerOptions extends PrivateServerOptions {
  /** RabbitMQ's `max_message_size` in bytes (its default: 128 MiB). */
  maxMessageSize?: number
  /** Also listen for AMQPS on `tlsPort` with this certificate and key (PEM files). */
  tls?: {
    cert: string
    key: string
    /** Verify client certificates against this CA (they stay optional). */
    ca?: string
  }
  /** More `rabbitmq.conf` lines (`key = value`). */
  config?: readonly string[]
}

export class RabbitMQServer extends PrivateServer {
  readonly name = 'rabbitmq-server'
  private distPort: number | undefined
  private _tlsPort: number | undefined

  constructor(private readonly options: RabbitMQServerOptions = {}) {
    // An Erlang node takes a few seconds to boot, more on a busy machine.
    super({ startTimeout: 90_000, ...options })
  }

  /** Start one; stop it with `stop()` (or `await using`). */
  static start(options: RabbitMQServerOptions = {}): Promise<RabbitMQServer> {
    return new RabbitMQServer(options).start()
  }

  /** True when rabbitmq-server and rabbitmqctl are installed. */
  static available(): boolean {
    return (
      (existsSync(SERVER_SCRIPT) || hasCommand('sh', ['-c', 'command -v rabbitmq-server'])) &&
      hasCommand('sh', ['-c', 'command -v rabbitmqctl'])
    )
  }

  /** `amqp://guest:guest@127.0.0.1:<port>` (guest may log in from anywhere on this node). */
  get url(): string {
    return `amqp://guest:guest@${this.host}:${this.port}`
  }

  /** The AMQPS port (with the `tls` option). */
  get tlsPort(): number {
    if (this._tlsPort === undefined) throw new Error(`${this.name}: started without tls`)
    return this._tlsPort
  }

  /** The Erlang node name, unique per port. */
  get node(): string {
    return `micro-test-${this.port}@localhost`
  }

  protected override async prepare(): Promise<void> {
    this.distPort = await freePort(this.host)
    const o = this.options
    const lines = [`listeners.tcp.local = ${this.host}:${this.port}`, 'loopback_users = none']
    if (o.maxMessageSize !== undefined) lines.push(`max_message_size = ${o.maxMessageSize}`)
    if (o.tls) {
      this._tlsPort = await freePort(this.host)
      lines.push(
        `listeners.ssl.local = ${this.host}:${this._tlsPort}`,
        `ssl_options.certfile = ${o.tls.cert}`,
        `ssl_options.keyfile = ${o.tls.key}`,
      )
      if (o.tls.ca) {
        lines.push(
          `ssl_options.cacertfile = ${o.tls.ca}`,
          'ssl_options.verify = verify_peer',
          'ssl_options.fail_if_no_peer_cert = false',
        )
      } else lines.push('ssl_options.verify = verify_none')
    }
    lines.push(...(o.config ?? []))
    writeFileSync(path.join(this.dir, 'rabbitmq.conf'), `${lines.join('\n')}\n`)
    writeFileSync(path.join(this.dir, 'enabled_plugins'), '[].\n')
  }

  protected launch(): LaunchSpec {
    const d = this.dir
    return {
      command: existsSync(SERVER_SCRIPT) ? SERVER_SCRIPT : 'rabbitmq-server',
      args: [],
      env: {
        HOME: d,
        // Makes the script exec the Erlang VM instead of waiting on it: the PID is the node's,
        // so signals reach it directly.
        RUNNING_UNDER_SYSTEMD: 'true',
        RABBITMQ_NODENAME: this.node,
        RABBITMQ_NODE_PORT: String(this.port),
        RABBITMQ_DIST_PORT: String(this.distPort),
        RABBITMQ_MNESIA_BASE: path.join(d, 'mnesia'),
        RABBITMQ_LOG_BASE: path.join(d, 'log'),
        RABBITMQ_CONFIG_FILE: path.join(d, 'rabbitmq'),
        RABBITMQ_ENABLED_PLUGINS_FILE: path.join(d, 'enabled_plugins'),
        RABBITMQ_PID_FILE: path.join(d, 'pid'),
        ERL_EPMD_ADDRESS: '127.0.0.1',
      },
    }
  }

  /** An AMQP 0-9-1 protocol header is answered with a Connection.Start frame (type 1). */
  protected ready(): Promise<boolean> {
    return amqpAnswers(this.host, this.port)
  }

  /** `rabbitmqctl` against this node (without blocking the event loop); rejects with its output when it fails. */
  async ctl(...args: string[]): Promise<string> {
    const cookie = readFileSync(path.join(this.dir, '.erlang.cookie'), 'utf8').trim()
    return rabbitmqctl(['--erlang-cookie', cookie, '-n', this.node, ...args])
  }

  /**
   * Stop the RabbitMQ application (`rabbitmqctl stop_app`): every connection closes and the port
   * stops answering, while the Erlang node keeps running, so startApp() takes seconds, not a boot.
   */
  async stopApp(timeoutMs = 30_000): Promise<void> {
    await this.ctl('stop_app')
    await this.until(false, timeoutMs)
  }

  /** Start the application again (retried while the old listener still holds the port). */
  async startApp(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      try {
        await this.ctl('start_app')
        break
      } catch (err) {
        if (Date.now() > deadline) throw err
        await new Promise((r) => setTimeout(r, 500))
      }
    }
    await this.until(true, Math.max(1000, deadline - Date.now()))
  }

  private async until(answering: boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while ((await amqpAnswers(this.host, this.port, 500)) !== answering) {
      if (Date.now() > deadline) {
        throw new Error(
          `${this.name} on ${this.address} did not ${answering ? 'start' : 'stop'} within ${timeoutMs} ms: ${this.log}`,
        )
      }
      await new Promise((r) => setTimeout(r, 200))
    }
  }
}

/** `rabbitmqctl <args>` (the shared node unless `-n` says otherwise); rejects with its output when it fails. */
export function rabbitmqctl(args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('rabbitmqctl', [...args], { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`rabbitmqctl ${args.join(' ')} failed: ${stderr || stdout || err.message}`))
      else resolve(stdout)
    })
  })
}

/** True when `host:port` answers an AMQP 0-9-1 protocol header with a Connection.Start frame. */
export function amqpAnswers(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1')))
    socket.once('data', (d: Buffer) => done(d[0] === 1))
  })
}
