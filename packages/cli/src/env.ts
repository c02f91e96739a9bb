/**
 * go-micro's global flags, each the twin of a MICRO_* variable (`--registry etcd` is
 * `MICRO_REGISTRY=etcd`), as go-micro's `cmd` declares them: a flag wins over its variable, the
 * variable over the default. Both `--registry etcd` and `--registry=etcd` work.
 */
import type { Command } from 'commander'

/** Flag name (go-micro's spelling, `_` between words) → the variable it sets. */
export const GLOBAL_FLAGS: readonly { flag: string; env: string; doc: string }[] = [
  {
    flag: 'registry',
    env: 'MICRO_REGISTRY',
    doc: 'registry: mdns (default), etcd, consul, memory, or a package',
  },
  { flag: 'registry_address', env: 'MICRO_REGISTRY_ADDRESS', doc: 'comma-separated registry addresses' },
  {
    flag: 'broker',
    env: 'MICRO_BROKER',
    doc: 'broker: http (default), nats, rabbitmq, memory, or a package',
  },
  { flag: 'broker_address', env: 'MICRO_BROKER_ADDRESS', doc: 'comma-separated broker addresses' },
  { flag: 'transport', env: 'MICRO_TRANSPORT', doc: 'transport: http (default), grpc, tcp, or a package' },
  { flag: 'transport_address', env: 'MICRO_TRANSPORT_ADDRESS', doc: 'comma-separated transport addresses' },
  { flag: 'store', env: 'MICRO_STORE', doc: 'store: memory (default), redis, postgres, mysql, or a package' },
  { flag: 'store_address', env: 'MICRO_STORE_ADDRESS', doc: 'comma-separated store addresses' },
  { flag: 'store_database', env: 'MICRO_STORE_DATABASE', doc: 'store database (default micro)' },
  { flag: 'store_table', env: 'MICRO_STORE_TABLE', doc: 'store table (default micro)' },
  { flag: 'selector', env: 'MICRO_SELECTOR', doc: 'selector: random (default) or roundrobin' },
  { flag: 'client_retries', env: 'MICRO_CLIENT_RETRIES', doc: 'extra attempts on another node' },
  { flag: 'client_request_timeout', env: 'MICRO_CLIENT_REQUEST_TIMEOUT', doc: 'per-call deadline, e.g. 5s' },
  { flag: 'client_pool_size', env: 'MICRO_CLIENT_POOL_SIZE', doc: 'connections kept per node' },
  {
    flag: 'register_ttl',
    env: 'MICRO_REGISTER_TTL',
    doc: 'registration lease of the services micro run starts (seconds)',
  },
  {
    flag: 'register_interval',
    env: 'MICRO_REGISTER_INTERVAL',
    doc: 'their re-registration interval (seconds)',
  },
  { flag: 'log_level', env: 'MICRO_LOG_LEVEL', doc: 'log level of the services micro run starts' },
]

/** Declare the global flags on the program (they are read wherever they appear on the line). */
export function addGlobalFlags(program: Command): Command {
  for (const { flag, env, doc } of GLOBAL_FLAGS) program.option(`--${flag} <value>`, `${doc} (${env})`)
  return program
}

/**
 * The environment a command runs with: the process's own, with every global flag given on the
 * command line written over its variable.
 */
export function commandEnv(
  flags: Record<string, unknown>,
  base: NodeJS.ProcessEnv = process.env,
): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...base }
  for (const { flag, env: name } of GLOBAL_FLAGS) {
    const v = flags[flag]
    if (typeof v === 'string' && v !== '') env[name] = v
  }
  return env
}
