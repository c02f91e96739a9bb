/**
 * Reads the MICRO_* environment (go-micro's own variable names) into typed settings.
 * Every bad value is an error that names its variable; nothing falls back silently.
 */
import { MicroError } from './errors.js'
import { LOG_LEVELS, type LogLevel } from './logger.js'
import { SELECT_STRATEGIES } from './selector/selector.js'
import type { SelectStrategy } from './selector/types.js'
import { parseAddress } from './util/address.js'
import { parseDuration } from './util/duration.js'

export interface ComponentSetting {
  /** Plugin name, package name or path; undefined when the variable is unset. */
  name?: string
  addresses: string[]
}

export interface EnvSettings {
  registry: ComponentSetting
  broker: ComponentSetting
  transport: ComponentSetting
  store: ComponentSetting & { database?: string; table?: string }
  server: {
    name?: string
    version?: string
    id?: string
    address?: string
    advertise?: string
    metadata: Record<string, string>
  }
  /** Milliseconds. */
  registerTtl?: number
  registerInterval?: number
  client: { retries?: number; requestTimeout?: number; poolSize?: number }
  selector?: SelectStrategy
  logLevel?: LogLevel
  /** `MICRO_LOG_FORMAT`: `json` or `pretty` (default: pretty on a terminal, JSON otherwise). */
  logFormat?: 'json' | 'pretty'
  /** `MICRO_HEALTH_ADDRESS`: where a health listener of its own listens; `false` for `off`. */
  healthAddress?: string | false
}

/** A start-up configuration error (500, id `go.micro.config`) naming the variable at fault. */
export class ConfigError extends MicroError {
  constructor(detail: string) {
    super('go.micro.config', 500, detail)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

function str(env: Env, key: string): string | undefined {
  const v = env[key]?.trim()
  return v ? v : undefined
}

function list(env: Env, key: string): string[] {
  return (str(env, key) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

function duration(env: Env, key: string, bareUnit?: 's' | 'ms'): number | undefined {
  const v = str(env, key)
  if (v === undefined) return undefined
  let ms: number
  try {
    ms = parseDuration(v, bareUnit)
  } catch (e) {
    throw new ConfigError(`${key}=${v}: ${(e as Error).message}`)
  }
  if (!Number.isFinite(ms) || ms < 0) throw new ConfigError(`${key}=${v}: must be a non-negative duration`)
  return ms
}

function int(env: Env, key: string, min: number): number | undefined {
  const v = str(env, key)
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v) || Number(v) < min) {
    throw new ConfigError(`${key}=${v}: must be a whole number >= ${min}`)
  }
  return Number(v)
}

function metadata(env: Env, key: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const pair of list(env, key)) {
    const i = pair.indexOf('=')
    if (i <= 0) throw new ConfigError(`${key}: "${pair}" is not a key=value pair`)
    out[pair.slice(0, i).trim()] = pair.slice(i + 1).trim()
  }
  return out
}

function healthAddress(env: Env, key: string): string | false | undefined {
  const v = str(env, key)
  if (v === undefined) return undefined
  if (['off', 'false', 'none', '0'].includes(v.toLowerCase())) return false
  try {
    parseAddress(v)
  } catch {
    throw new ConfigError(`${key}=${v}: expected host:port or :port (e.g. :8081), or off`)
  }
  return v
}

export function readEnv(env: Env = process.env): EnvSettings {
  const selector = str(env, 'MICRO_SELECTOR')
  if (selector !== undefined && !(SELECT_STRATEGIES as readonly string[]).includes(selector)) {
    throw new ConfigError(`MICRO_SELECTOR=${selector}: accepted values are ${SELECT_STRATEGIES.join(', ')}`)
  }
  const logLevel = str(env, 'MICRO_LOG_LEVEL')?.toLowerCase()
  if (logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`MICRO_LOG_LEVEL=${logLevel}: accepted values are ${LOG_LEVELS.join(', ')}`)
  }
  const logFormat = str(env, 'MICRO_LOG_FORMAT')?.toLowerCase()
  if (logFormat !== undefined && logFormat !== 'json' && logFormat !== 'pretty') {
    throw new ConfigError(`MICRO_LOG_FORMAT=${logFormat}: accepted values are json, pretty`)
  }
  return {
    registry: { name: str(env, 'MICRO_REGISTRY'), addresses: list(env, 'MICRO_REGISTRY_ADDRESS') },
    broker: { name: str(env, 'MICRO_BROKER'), addresses: list(env, 'MICRO_BROKER_ADDRESS') },
    transport: { name: str(env, 'MICRO_TRANSPORT'), addresses: list(env, 'MICRO_TRANSPORT_ADDRESS') },
    store: {
      name: str(env, 'MICRO_STORE'),
      addresses: list(env, 'MICRO_STORE_ADDRESS'),
      database: str(env, 'MICRO_STORE_DATABASE'),
      table: str(env, 'MICRO_STORE_TABLE'),
    },
    server: {
      name: str(env, 'MICRO_SERVER_NAME'),
      version: str(env, 'MICRO_SERVER_VERSION'),
      id: str(env, 'MICRO_SERVER_ID'),
      address: str(env, 'MICRO_SERVER_ADDRESS'),
      advertise: str(env, 'MICRO_SERVER_ADVERTISE'),
      metadata: metadata(env, 'MICRO_SERVER_METADATA'),
    },
    // go-micro's flags are plain seconds; Go duration strings are accepted too.
    registerTtl: duration(env, 'MICRO_REGISTER_TTL', 's'),
    registerInterval: duration(env, 'MICRO_REGISTER_INTERVAL', 's'),
    client: {
      retries: int(env, 'MICRO_CLIENT_RETRIES', 0),
      requestTimeout: duration(env, 'MICRO_CLIENT_REQUEST_TIMEOUT'),
      poolSize: int(env, 'MICRO_CLIENT_POOL_SIZE', 1),
    },
    selector: selector as SelectStrategy | undefined,
    logLevel: logLevel as LogLevel | undefined,
    logFormat: logFormat as 'json' | 'pretty' | undefined,
    healthAddress: healthAddress(env, 'MICRO_HEALTH_ADDRESS'),
  }
}
