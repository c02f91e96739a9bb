/**
 * Memory of a service at rest and per open connection: each server (ours on every transport,
 * the raw floors, Moleculer) starts with --expose-gc; its RSS and V8 heap are read after a full
 * GC when idle (nothing connected), with one client connection that has made a few calls, and
 * with CONNECTIONS more connections open that have each carried calls. Per connection is the
 * difference over the connections the server holds (counted in /proc). Fresh processes each
 * round; rounds alternate between contenders.
 */

import { freePort } from '@micro-ts/conformance/testing'
import type { DriverConfig, MoleculerSettings } from './clients/types.js'
import { type BenchEnv, nodeChild } from './env.js'
import type { Progress, Settings } from './measure.js'
import { type Child, socketCount } from './proc.js'
import { interleave, logRerun } from './rounds.js'
import type { ServerConfig } from './servers/types.js'
import { formatSpread, median, spreadOf } from './steady.js'

/** Connections opened for the per-connection figure. */
export const CONNECTIONS = 200

export interface MemoryContender {
  name: string
  group: 'ours' | 'raw' | 'peer'
  /** Server kind (servers/) and its config. */
  server: string
  serverConfig?: ServerConfig
  /** Driver kind (clients/) for the per-connection figure; none: idle only. */
  driver?: string
  transport?: string
}

export const MEMORY_CONTENDERS: MemoryContender[] = [
  {
    name: 'ours-http',
    group: 'ours',
    server: 'ours',
    serverConfig: { transport: 'http' },
    driver: 'ours',
    transport: 'http',
  },
  {
    name: 'ours-grpc',
    group: 'ours',
    server: 'ours',
    serverConfig: { transport: 'grpc' },
    driver: 'ours',
    transport: 'grpc',
  },
  {
    name: 'ours-tcp',
    group: 'ours',
    server: 'ours',
    serverConfig: { transport: 'tcp' },
    driver: 'ours',
    transport: 'tcp',
  },
  { name: 'raw-http', group: 'raw', server: 'raw-http', driver: 'raw-undici' },
  { name: 'raw-net', group: 'raw', server: 'raw-net', driver: 'raw-net' },
  { name: 'moleculer-tcp', group: 'peer', server: 'moleculer' },
]

/** One reading: after a full GC. */
interface Reading {
  rss: number
  heap: number
  sockets: number
}

export interface MemoryRow {
  contender: string
  group: string
  /** Per round, bytes: idle RSS and heap, and per connection (RSS, heap) when measured. */
  idleRss: number[]
  idleHeap: number[]
  perConnRss: number[]
  perConnHeap: number[]
  /** Connections the server held in the last round's full reading. */
  connections: number
}

async function reading(server: Child): Promise<Reading> {
  // Two GCs a moment apart: the first frees what the second would find, and timers settle.
  await server.request('mem', { gc: true })
  await new Promise((r) => setTimeout(r, 200))
  const m = await server.request('mem', { gc: true })
  return { rss: server.rss() ?? 0, heap: Number(m.heapUsed), sockets: socketCount(server.pid ?? 0) ?? 0 }
}

/** One round of one contender: a fresh server, idle, one connection, then CONNECTIONS more. */
async function memoryRound(env: BenchEnv, c: MemoryContender) {
  let config: ServerConfig = c.serverConfig ?? {}
  if (c.server === 'moleculer') {
    // Its TCP transporter, alone: the one peer it lists never comes (idle only).
    const port = await freePort()
    const moleculer: MoleculerSettings = {
      kind: 'tcp',
      namespace: `bench-${env.runId}-mem`,
      port,
      urls: [`127.0.0.1:${port}/bench-server`],
    }
    config = { moleculer }
  }
  const server = nodeChild(
    `${c.name} memory server`,
    'server.js',
    [c.server, JSON.stringify(config)],
    ['--expose-gc'],
  )
  const drivers: Child[] = []
  try {
    const info = await server.ready()
    await new Promise((r) => setTimeout(r, 300))
    const idle = await reading(server)
    if (!c.driver) return { idle }
    const driver = async (connections: number, calls: number) => {
      const cfg: DriverConfig = {
        address: String(info.address),
        service: info.service as DriverConfig['service'],
        transport: c.transport,
        connections,
      }
      const d = nodeChild(`${c.name} memory driver`, 'driver.js', [c.driver!, JSON.stringify(cfg)])
      drivers.push(d)
      await d.ready()
      const res = await d.request('run', { payload: 'greeter', concurrency: connections, calls }, 300_000)
      if (Number(res.errors) > 0) throw new Error(`${c.name}: ${res.errors} errors: ${res.firstError}`)
    }
    await driver(1, 50)
    const one = await reading(server)
    await driver(CONNECTIONS, CONNECTIONS * 5)
    const many = await reading(server)
    const added = many.sockets - one.sockets
    if (added < CONNECTIONS / 2)
      throw new Error(
        `${c.name}: the server holds ${added} more sockets, ${CONNECTIONS} connections were opened`,
      )
    return {
      idle,
      perConnRss: (many.rss - one.rss) / added,
      perConnHeap: (many.heap - one.heap) / added,
      connections: added,
    }
  } finally {
    await Promise.all([...drivers, server].map((d) => d.stop()))
  }
}

export async function runMemory(
  env: BenchEnv,
  contenders: MemoryContender[],
  s: Settings,
  progress: Progress,
  onFailed: (c: MemoryContender, reason: string) => void,
): Promise<MemoryRow[]> {
  const results = await interleave({
    onRerun: logRerun(progress, 'memory'),
    contenders,
    rounds: Math.min(3, s.rounds),
    round: (c) => memoryRound(env, c),
    onFailed: (c, reason) => onFailed(c, reason),
  })
  const rows: MemoryRow[] = []
  for (const [c, rs] of results) {
    const row: MemoryRow = {
      contender: c.name,
      group: c.group,
      idleRss: rs.map((r) => r.idle.rss),
      idleHeap: rs.map((r) => r.idle.heap),
      perConnRss: rs.flatMap((r) => (r.perConnRss === undefined ? [] : [r.perConnRss])),
      perConnHeap: rs.flatMap((r) => (r.perConnHeap === undefined ? [] : [r.perConnHeap])),
      connections: rs.at(-1)?.connections ?? 0,
    }
    rows.push(row)
    const kib = (v: number[]) => (v.length ? `${(median(v) / 1024).toFixed(1)} KiB` : '–')
    progress(
      `memory ${c.name}: idle RSS ${(median(row.idleRss) / 2 ** 20).toFixed(1)} MiB, heap ${(median(row.idleHeap) / 2 ** 20).toFixed(1)} MiB; per connection RSS ${kib(row.perConnRss)}, heap ${kib(row.perConnHeap)}`,
    )
  }
  return rows
}

export function memoryTable(rows: MemoryRow[]): { title: string; head: string[]; rows: string[][] } {
  const mib = (v: number) => (v / 2 ** 20).toFixed(1)
  const kib = (v: number) => (v / 1024).toFixed(1)
  return {
    title: `Memory: an idle server, and per open connection (after a full GC; ${CONNECTIONS} connections that each carried calls; median of fresh processes, range in brackets)`,
    head: ['contender', 'idle RSS MiB', 'idle heap MiB', 'per connection RSS KiB', 'per connection heap KiB'],
    rows: rows.map((q) => [
      q.contender,
      formatSpread(spreadOf(q.idleRss), mib),
      formatSpread(spreadOf(q.idleHeap), mib),
      q.perConnRss.length ? formatSpread(spreadOf(q.perConnRss), kib) : '–',
      q.perConnHeap.length ? formatSpread(spreadOf(q.perConnHeap), kib) : '–',
    ]),
  }
}
