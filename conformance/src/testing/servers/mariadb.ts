/**
 * A private MariaDB server (`mariadb-install-db` in its own directory) on a free loopback port,
 * root with an empty password. `kill()` (SIGKILL) is a crash; the next start runs InnoDB recovery.
 */
import { execFile, execFileSync } from 'node:child_process'
import path from 'node:path'
import { hasCommand, type LaunchSpec, PrivateServer, type PrivateServerOptions } from '../server.js'

export interface MariaDBServerOptions extends PrivateServerOptions {
  /**
   * Serve TLS with this certificate and key (PEM files). With `requireTls`, connections without
   * TLS are refused (`require_secure_transport`); `ca` is what the server verifies client
   * certificates against (for users created `REQUIRE X509`).
   */
  tls?: { cert: string; key: string; ca?: string }
  requireTls?: boolean
  /** Extra mariadbd arguments (`--max-allowed-packet=1M`). */
  args?: readonly string[]
}

const asRoot = () => (process.getuid?.() === 0 ? ['--user=root'] : [])

export class MariaDBServer extends PrivateServer {
  readonly name = 'mariadbd'

  constructor(private readonly options: MariaDBServerOptions = {}) {
    super(options)
  }

  /** Start one; stop it with `stop()` (or `await using`). */
  static start(options: MariaDBServerOptions = {}): Promise<MariaDBServer> {
    return new MariaDBServer(options).start()
  }

  /** True when MariaDB's server binaries are installed. */
  static available(): boolean {
    return hasCommand('mariadbd') && hasCommand('mariadb-install-db')
  }

  /** `mysql://root@127.0.0.1:<port>/<database>` (the store creates the database on first use). */
  url(database = 'test', user = 'root', password?: string): string {
    const auth = password === undefined ? user : `${user}:${encodeURIComponent(password)}`
    return `mysql://${auth}@${this.address}/${database}`
  }

  /** Run SQL as root on this server with the `mariadb` client (setup in tests: users, grants). */
  sql(statement: string): string {
    return execFileSync('mariadb', [...this.client(), '--batch', '-e', statement], { encoding: 'utf8' })
  }

  /** How the `mariadb` tools reach this server as root (over TLS when it has TLS). */
  private client(): string[] {
    const args = ['--no-defaults', '-h', this.host, '-P', String(this.port), '-uroot']
    return this.options.tls ? [...args, '--ssl'] : args
  }

  private get data(): string {
    return path.join(this.dir, 'data')
  }

  protected override async prepare(): Promise<void> {
    execFileSync(
      'mariadb-install-db',
      [
        '--no-defaults',
        `--datadir=${this.data}`,
        `--user=${process.getuid?.() === 0 ? 'root' : (process.env.USER ?? 'root')}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
      ],
      { stdio: 'ignore' },
    )
  }

  protected launch(): LaunchSpec {
    const o = this.options
    const args = [
      '--no-defaults',
      `--datadir=${this.data}`,
      `--socket=${path.join(this.dir, 'sock')}`,
      `--pid-file=${path.join(this.dir, 'pid')}`,
      `--port=${this.port}`,
      `--bind-address=${this.host}`,
      '--skip-log-bin',
      '--innodb-buffer-pool-size=16M',
      ...asRoot(),
    ]
    if (o.tls) args.push(`--ssl-cert=${o.tls.cert}`, `--ssl-key=${o.tls.key}`)
    if (o.tls?.ca) args.push(`--ssl-ca=${o.tls.ca}`)
    if (o.requireTls) args.push('--require-secure-transport=ON')
    args.push(...(o.args ?? []))
    return { command: 'mariadbd', args }
  }

  /** `mariadb-admin ping` over TCP: the server answers (it does not listen before it is ready). */
  protected ready(): Promise<boolean> {
    return new Promise((resolve) => {
      execFile('mariadb-admin', [...this.client(), '--connect-timeout=1', 'ping'], { timeout: 2000 }, (err) =>
        resolve(!err),
      )
    })
  }
}
