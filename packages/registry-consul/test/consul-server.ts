/**
 * Consul agents for the tests: the shared one that scripts/backends.sh starts, and private ones
 * on free loopback ports (a subclass of the conformance kit's PrivateServer), built from the Go
 * module proxy by scripts/servers/consul.sh and started loopback-only with DNS, gRPC and HTTPS off.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import https from 'node:https'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  canConnect,
  freePort,
  type LaunchSpec,
  PrivateServer,
  type PrivateServerOptions,
  testAddress,
} from '@micro-ts/conformance/testing'

/** Where scripts/backends.sh starts the shared agent (MICRO_TEST_CONSUL_ADDRESS overrides). */
export const SHARED_ADDRESS = testAddress('consul', '127.0.0.1:8500')

const SCRIPT = path.resolve(fileURLToPath(import.meta.url), '../../../../scripts/servers/consul.sh')

/** The agent binary (MICRO_CONSUL_BIN, else the one scripts/servers/consul.sh built), or undefined. */
export function consulBinary(): string | undefined {
  const given = process.env.MICRO_CONSUL_BIN
  if (given) return existsSync(given) ? given : undefined
  try {
    const out = execFileSync('bash', [SCRIPT, 'path'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    const bin = out.trim()
    return bin && existsSync(bin) ? bin : undefined
  } catch {
    return undefined
  }
}

/** True when the agent at `address` has a leader (answers a real request). */
export async function agentReady(address: string, token?: string): Promise<boolean> {
  try {
    const res = await fetch(`http://${address}/v1/status/leader`, {
      headers: token ? { 'X-Consul-Token': token } : {},
      signal: AbortSignal.timeout(1_000),
    })
    if (!res.ok) return false
    const leader = (await res.json()) as unknown
    return typeof leader === 'string' && leader !== ''
  } catch {
    return false
  }
}

export interface ConsulAgentOptions extends PrivateServerOptions {
  /**
   * ACLs on with `default_policy = "deny"`, and this management token. Anonymous reads then
   * answer empty, writes 403.
   */
  managementToken?: string
  /**
   * Keep state in the data directory (a one-server cluster, `-server -bootstrap-expect 1`), so
   * a restart comes back with its services. Default false: `-dev`, state in memory, a restart
   * comes back empty.
   */
  persistent?: boolean
  /**
   * Serve HTTPS (and no plain HTTP) on the port with this certificate, and require client
   * certificates signed by `ca` (PEM files).
   */
  tls?: { ca: string; cert: string; key: string; clientCert: string; clientKey: string }
}

/** A private Consul agent; `restart()` keeps its ports (and, when persistent, its state). */
export class ConsulAgent extends PrivateServer {
  readonly name = 'consul'
  private serverPort = 0
  private serfLanPort = 0

  constructor(
    private readonly bin: string,
    private readonly options: ConsulAgentOptions = {},
  ) {
    super(options)
  }

  static start(bin: string, options: ConsulAgentOptions = {}): Promise<ConsulAgent> {
    return new ConsulAgent(bin, options).start()
  }

  protected override async prepare(): Promise<void> {
    this.serverPort = await freePort()
    this.serfLanPort = await freePort()
  }

  protected launch(): LaunchSpec {
    const o = this.options
    const ports = [
      o.tls ? `https = ${this.port}` : `http = ${this.port}`,
      o.tls ? 'http = -1' : 'https = -1',
      'grpc = -1',
      'grpc_tls = -1',
      'dns = -1',
      `server = ${this.serverPort}`,
      `serf_lan = ${this.serfLanPort}`,
      'serf_wan = -1',
    ].join(', ')
    const args = [
      'agent',
      ...(o.persistent ? ['-server', '-bootstrap-expect', '1', '-data-dir', this.dir] : ['-dev']),
      '-bind',
      '127.0.0.1',
      '-client',
      '127.0.0.1',
      '-advertise',
      '127.0.0.1',
      '-node',
      `micro-test-${this.port}`,
      '-log-level',
      'warn',
      '-hcl',
      `ports { ${ports} }`,
      '-hcl',
      'disable_update_check = true',
      '-hcl',
      'disable_anonymous_signature = true',
    ]
    if (o.managementToken) {
      args.push(
        '-hcl',
        `acl { enabled = true, default_policy = "deny", enable_token_persistence = false, tokens { initial_management = "${o.managementToken}", agent = "${o.managementToken}" } }`,
      )
    }
    if (o.tls) {
      args.push(
        '-hcl',
        `tls { defaults { ca_file = "${o.tls.ca}", cert_file = "${o.tls.cert}", key_file = "${o.tls.key}", verify_incoming = true } }`,
      )
    }
    return { command: this.bin, args }
  }

  protected async ready(): Promise<boolean> {
    if (!(await canConnect(this.host, this.port, 200))) return false
    if (this.options.tls) return httpsLeader(this.address, this.options.tls)
    return agentReady(this.address, this.options.managementToken)
  }
}

/** The leader over HTTPS with a client certificate (fetch takes no CA or client certificate). */
function httpsLeader(address: string, tls: NonNullable<ConsulAgentOptions['tls']>): Promise<boolean> {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ]
  return new Promise((resolve) => {
    const req = https.get(
      {
        host,
        port,
        path: '/v1/status/leader',
        ca: readFileSync(tls.ca),
        cert: readFileSync(tls.clientCert),
        key: readFileSync(tls.clientKey),
        timeout: 1_000,
      },
      (res) => {
        let body = ''
        res.on('data', (d: Buffer) => {
          body += d.toString()
        })
        res.on('end', () => resolve(res.statusCode === 200 && body.length > 2))
      },
    )
    req.on('error', () => resolve(false))
    req.on('timeout', () => req.destroy())
  })
}
