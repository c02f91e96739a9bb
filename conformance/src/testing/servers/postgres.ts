/**
 * A private PostgreSQL cluster (`initdb` in its own directory) on a free loopback port. As root,
 * `initdb` and `postgres` run as the `postgres` system user, since both refuse root.
 */
import { execFile, execFileSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { type LaunchSpec, PrivateServer, type PrivateServerOptions, systemUser } from '../server.js'

export interface PostgresServerOptions extends PrivateServerOptions {
  /**
   * Serve TLS with this certificate and key (PEM files). With `requireTls`, TCP connections
   * without TLS are refused; with `verifyCa`, clients must also present a certificate it signs.
   */
  tls?: { cert: string; key: string; verifyCa?: string }
  requireTls?: boolean
  /** Extra `-c name=value` settings. */
  settings?: Readonly<Record<string, string>>
}

/** The newest PostgreSQL server binaries: Debian's /usr/lib/postgresql/<v>/bin, else pg_config's. */
function binDir(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a))
    if (versions.length > 0) return path.join(root, versions[0], 'bin')
  }
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim()
  } catch {
    return undefined
  }
}

/**
 * The `postgres` role is trusted; every other role logs in with its password (scram-sha-256).
 * `kill()` is an immediate shutdown (SIGQUIT: every backend quits at once, as in a crash, and the
 * next start runs crash recovery): SIGKILL on the postmaster would leave its backends behind.
 */
export class PostgresServer extends PrivateServer {
  readonly name = 'postgres'
  private readonly bin = binDir()
  private readonly user = process.getuid?.() === 0 ? systemUser('postgres') : undefined

  constructor(private readonly options: PostgresServerOptions = {}) {
    super(options)
  }

  /** Start one; stop it with `stop()` (or `await using`). */
  static start(options: PostgresServerOptions = {}): Promise<PostgresServer> {
    return new PostgresServer(options).start()
  }

  /** Why a private server cannot run here, or undefined when it can. */
  static unavailable(): string | undefined {
    if (!binDir()) return 'no PostgreSQL server binaries (initdb) found'
    if (process.getuid?.() === 0 && !systemUser('postgres'))
      return 'running as root and there is no `postgres` user to run initdb as'
    return undefined
  }

  /** `postgresql://user[:password]@127.0.0.1:<port>/<database>`. */
  url(user = 'postgres', password?: string, database = 'postgres'): string {
    const auth = password === undefined ? user : `${user}:${encodeURIComponent(password)}`
    return `postgresql://${auth}@${this.address}/${database}`
  }

  private get data(): string {
    return path.join(this.dir, 'data')
  }

  private command(name: string): string {
    if (!this.bin) throw new Error(`${this.name}: ${PostgresServer.unavailable()}`)
    return path.join(this.bin, name)
  }

  protected override async prepare(): Promise<void> {
    this.ownDir(this.user)
    execFileSync(
      this.command('initdb'),
      ['-D', this.data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'],
      { stdio: 'ignore', uid: this.user?.uid, gid: this.user?.gid },
    )
    const host = this.options.requireTls ? 'hostssl' : 'host'
    const client = this.options.tls?.verifyCa ? ' clientcert=verify-ca' : ''
    const hba = [
      'local all all trust',
      `${host} all postgres 127.0.0.1/32 trust${client}`,
      `${host} all all 127.0.0.1/32 scram-sha-256${client}`,
    ]
    this.own(path.join(this.data, 'pg_hba.conf'), `${hba.join('\n')}\n`)
    // The server reads its TLS files as the postgres user and refuses a key others can read:
    // copies of its own in its directory.
    const tls = this.options.tls
    if (tls) {
      this.own('server.crt', readFileSync(tls.cert, 'utf8'))
      this.own('server.key', readFileSync(tls.key, 'utf8'))
      if (tls.verifyCa) this.own('ca.crt', readFileSync(tls.verifyCa, 'utf8'))
    }
  }

  /** Write `text` to `file` (relative to the directory), the server user's own, mode 0600. */
  private own(file: string, text: string): void {
    const target = path.resolve(this.dir, file)
    writeFileSync(target, text)
    chmodSync(target, 0o600)
    if (this.user) chownSync(target, this.user.uid, this.user.gid)
  }

  protected launch(): LaunchSpec {
    const settings: Record<string, string> = {
      listen_addresses: this.host,
      fsync: 'off',
      max_connections: '40',
      ...this.options.settings,
    }
    const tls = this.options.tls
    if (tls) {
      Object.assign(settings, {
        ssl: 'on',
        ssl_cert_file: path.join(this.dir, 'server.crt'),
        ssl_key_file: path.join(this.dir, 'server.key'),
      })
      if (tls.verifyCa) settings.ssl_ca_file = path.join(this.dir, 'ca.crt')
    }
    const args = ['-D', this.data, '-p', String(this.port), '-k', this.dir]
    for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`)
    return { command: this.command('postgres'), args, user: this.user }
  }

  /** `pg_isready`: the server accepts connections (not starting up, not shutting down). */
  protected ready(): Promise<boolean> {
    return new Promise((resolve) => {
      execFile(
        this.command('pg_isready'),
        ['-q', '-h', this.host, '-p', String(this.port), '-U', 'postgres', '-t', '1'],
        (err) => resolve(!err),
      )
    })
  }

  /** Immediate shutdown (SIGQUIT), the crash-like stop; see the class comment. */
  override kill(): Promise<void> {
    return this.signal('SIGQUIT')
  }

  /** Fast shutdown (SIGINT: clients are disconnected), then the directory is removed. */
  override async stop(): Promise<void> {
    await this.signal('SIGINT', 10_000)
    await super.stop()
  }
}
