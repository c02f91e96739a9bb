/** `micro call`, `micro stream`, `micro broker publish|subscribe` and `micro store ...`. */
import { type CallOptions, MicroError, parseDuration } from '@micro-ts/core'
import { withService } from '../connect.js'
import { CLI_ERROR_ID, json, type Output, table, usage } from '../output.js'

type Env = Record<string, string | undefined>

export interface CallFlags {
  header?: string[]
  timeout?: string
  address?: string[]
  json?: boolean
}

/** `--header Key:Value` (go-micro's form) or `Key=Value`, repeatable. */
export function parseHeaders(list: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {}
  for (const h of list) {
    const i = h.search(/[:=]/)
    if (i <= 0) throw usage(`--header ${h}: expected Key:Value`)
    out[h.slice(0, i).trim()] = h.slice(i + 1).trim()
  }
  return out
}

function callOptions(flags: CallFlags): CallOptions {
  const options: CallOptions = { headers: parseHeaders(flags.header) }
  if (flags.timeout) {
    try {
      options.timeout = parseDuration(flags.timeout)
    } catch (e) {
      throw usage(`--timeout ${flags.timeout}: ${(e as Error).message}`)
    }
  }
  if (flags.address?.length) options.address = flags.address
  return options
}

/** A JSON argument, or (given `-` or nothing, with stdin not a terminal) the JSON read from stdin. */
export async function requestBody(
  arg: string | undefined,
  stdin: NodeJS.ReadStream = process.stdin,
): Promise<unknown> {
  let text = arg
  if (arg === undefined || arg === '-') text = arg === '-' || !stdin.isTTY ? await readAll(stdin) : ''
  if (!text?.trim()) return {}
  try {
    return JSON.parse(text)
  } catch (e) {
    throw usage(`the request is not JSON: ${(e as Error).message}`)
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = ''
  for await (const chunk of stream) text += chunk.toString()
  return text
}

export async function call(
  env: Env,
  out: Output,
  service: string,
  endpoint: string,
  body: unknown,
  flags: CallFlags,
): Promise<void> {
  const options = callOptions(flags)
  await withService(env, async (s) => {
    const rsp = await s.client.call(service, endpoint, body, options)
    out.out(flags.json ? `${JSON.stringify(rsp)}\n` : json(rsp))
  })
}

/**
 * `micro stream`: sends each message (the JSON arguments, else one JSON value per stdin line),
 * closes its side, and prints each answer as a JSON line.
 */
export async function stream(
  env: Env,
  out: Output,
  service: string,
  endpoint: string,
  messages: readonly string[],
  flags: CallFlags,
): Promise<void> {
  const options = callOptions(flags)
  const parsed: unknown[] = []
  const lines = messages.length
    ? messages
    : process.stdin.isTTY
      ? []
      : (await readAll(process.stdin)).split('\n')
  for (const m of lines) {
    if (!m.trim()) continue
    try {
      parsed.push(JSON.parse(m))
    } catch (e) {
      throw usage(`stream message ${m}: not JSON (${(e as Error).message})`)
    }
  }
  await withService(env, async (s) => {
    const st = await s.client.stream(service, endpoint, options)
    try {
      for (const m of parsed) await st.send(m)
      await st.closeSend()
      for await (const msg of st) out.out(`${JSON.stringify(msg)}\n`)
    } finally {
      await st.close().catch(() => {})
    }
  })
}

export async function publish(
  env: Env,
  out: Output,
  topic: string,
  body: unknown,
  headers: string[] = [],
): Promise<void> {
  await withService(env, async (s) => {
    await s.client.publish(topic, body, { headers: parseHeaders(headers) })
    out.err(`published to ${topic}\n`)
  })
}

/** `broker subscribe`: one JSON line per message (`{topic, header, body}`) until Ctrl-C. */
export async function subscribe(
  env: Env,
  out: Output,
  topic: string,
  queue: string | undefined,
  signal: AbortSignal,
): Promise<void> {
  await withService(env, async (s) => {
    await s.broker.connect()
    const sub = await s.broker.subscribe(
      topic,
      (event) => {
        const text = Buffer.from(event.message.body).toString('utf8')
        let body: unknown = text
        try {
          body = JSON.parse(text)
        } catch {
          // not JSON: printed as text
        }
        out.out(`${JSON.stringify({ topic: event.topic, header: event.message.headers, body })}\n`)
      },
      { queue },
    )
    out.err(`subscribed to ${topic}${queue ? ` (queue ${queue})` : ''} (Ctrl-C to stop)\n`)
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
    await sub.unsubscribe()
  })
}

export interface StoreFlags {
  database?: string
  table?: string
  /** `list --prefix <p>`; `read --prefix` (the key is a prefix). */
  prefix?: string | boolean
  suffix?: string
  limit?: string
  offset?: string
  ttl?: string
  json?: boolean
}

function count(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v)) throw usage(`--${flag} ${v}: expected a whole number`)
  return Number(v)
}

export async function storeCommand(
  env: Env,
  out: Output,
  action: string,
  key: string | undefined,
  value: string | undefined,
  flags: StoreFlags,
): Promise<void> {
  const scope = { database: flags.database, table: flags.table }
  await withService(env, async (s) => {
    const store = s.store
    if (action === 'list') {
      const keys = await store.list({
        ...scope,
        prefix: typeof flags.prefix === 'string' ? flags.prefix : undefined,
        suffix: flags.suffix,
        limit: count('limit', flags.limit),
        offset: count('offset', flags.offset),
      })
      out.out(flags.json ? json(keys) : keys.map((k) => `${k}\n`).join(''))
      return
    }
    if (!key) throw usage(`store ${action}: a key is required`)
    if (action === 'read') {
      const records = await store.read(key, {
        ...scope,
        prefix: flags.prefix === true,
        limit: count('limit', flags.limit),
      })
      if (flags.json) {
        out.out(
          json(
            records.map((r) => ({
              key: r.key,
              value: Buffer.from(r.value).toString('utf8'),
              metadata: r.metadata,
              expiry: r.expiry,
            })),
          ),
        )
      } else if (records.length === 1 && flags.prefix !== true)
        out.out(`${Buffer.from(records[0].value).toString('utf8')}\n`)
      else
        out.out(
          table(
            ['KEY', 'VALUE'],
            records.map((r) => [r.key, Buffer.from(r.value).toString('utf8')]),
          ),
        )
      return
    }
    if (action === 'write') {
      if (value === undefined) throw usage('store write: a value is required')
      const ttl = flags.ttl ? parseDuration(flags.ttl) : undefined
      await store.write({ key, value: Buffer.from(value, 'utf8') }, { ...scope, ttl })
      return
    }
    if (action === 'delete') {
      await store.delete(key, scope)
      return
    }
    throw new MicroError(CLI_ERROR_ID, 400, `store ${action}: use list, read, write or delete`)
  })
}
