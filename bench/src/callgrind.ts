/**
 * Instructions per call under `valgrind --tool=callgrind`: a count that does not move with the
 * machine's load (perf counters are not available here). The greeter call at c=1, client and
 * server each run under callgrind; after a warm-up both dump (and so zero) their counters, then
 * a fixed number of calls run and both dump again: that second dump is the measured calls alone.
 * Contenders run one after the other (the count needs no interleaving).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { RpcContender } from './contenders.js'
import { type BenchEnv, benchDir, wrapNodeChildren } from './env.js'
import type { Progress } from './measure.js'
import { type Child, childDefaults } from './proc.js'
import { median } from './steady.js'

export interface CallgrindRow {
  contender: string
  /** Calls counted (after `warmup` uncounted ones). */
  calls: number
  warmup: number
  /** Instructions of the client process, and of the server process(es), per call (median window). */
  clientIr: number
  serverIr: number
  /** Client + server instructions per call of each counted window (each `calls` long). */
  windows: number[]
}

/** Contenders counted, when selected: our transports and the two raw floors. */
export const CALLGRIND_CONTENDERS = ['ours-http', 'ours-tcp', 'ours-grpc', 'raw-undici', 'raw-net']

/** Why callgrind cannot run here, or undefined. */
export function callgrindMissing(): string | undefined {
  const r = spawnSync('valgrind', ['--version'], { encoding: 'utf8' })
  if (r.error || r.status !== 0) return 'valgrind is not installed (apt-get install valgrind)'
  return undefined
}

const SLOW = 1_800_000
/** Counted windows per contender (odd, so the median is one of them). */
const WINDOWS = 3

/** Dump (and zero) the counters of a process under callgrind; resolves with the dump's total Ir. */
async function dump(dir: string, child: Child): Promise<number> {
  const pid = child.pid
  if (!pid) throw new Error(`${child.name} has no pid`)
  const before = new Set(readdirSync(dir))
  const r = spawnSync('callgrind_control', ['-d', String(pid)], { encoding: 'utf8', timeout: 120_000 })
  if (r.status !== 0) throw new Error(`callgrind_control -d ${pid} failed: ${(r.stderr || r.stdout).trim()}`)
  // The dump is written by the process itself: wait for the new file and its totals line.
  const deadline = Date.now() + 120_000
  for (;;) {
    const fresh = readdirSync(dir).filter((f) => !before.has(f) && f.includes(`.${pid}.`))
    for (const f of fresh) {
      const text = readFileSync(join(dir, f), 'utf8')
      const m = /^(?:totals|summary): (\d+)/m.exec(text)
      if (m) return Number(m[1])
    }
    if (Date.now() > deadline) throw new Error(`no callgrind dump from ${child.name} (pid ${pid})`)
    await new Promise((res) => setTimeout(res, 200))
  }
}

/** Count one contender: warm-up, dump, measured calls, dump. */
async function countOne(
  env: BenchEnv,
  contender: RpcContender,
  dir: string,
  calls: number,
  warmup: number,
): Promise<CallgrindRow> {
  wrapNodeChildren((name) => [
    'valgrind',
    '--tool=callgrind',
    // V8 writes and rewrites machine code at run time: valgrind must notice.
    '--smc-check=all-non-file',
    `--callgrind-out-file=${join(dir, name.replace(/[^\w.-]+/g, '-'))}.%p`,
  ])
  const readyMs = childDefaults.readyMs
  childDefaults.readyMs = SLOW
  let started: Awaited<ReturnType<RpcContender['start']>>
  try {
    started = await contender.start(env)
  } finally {
    wrapNodeChildren(undefined)
    childDefaults.readyMs = readyMs
  }
  const { driver, servers } = started
  const all = [driver, ...servers]
  try {
    const run = async (n: number) => {
      const res = await driver.request('run', { payload: 'greeter', concurrency: 1, calls: n }, SLOW)
      if (Number(res.errors) > 0)
        throw new Error(`${contender.name}: ${res.errors} errors: ${res.firstError}`)
    }
    await run(warmup)
    for (const c of all) await dump(dir, c)
    // Two counted windows in a row: how far apart they are shows how repeatable the count is.
    const counted: { client: number; server: number }[] = []
    for (let w = 0; w < WINDOWS; w++) {
      await run(calls)
      const [client, ...server] = await Promise.all(all.map((c) => dump(dir, c)))
      counted.push({ client: client / calls, server: server.reduce((a, b) => a + b, 0) / calls })
    }
    const totals = counted.map((w) => w.client + w.server)
    const mid = counted[totals.indexOf(median(totals))] ?? counted[0]
    return {
      contender: contender.name,
      calls,
      warmup,
      clientIr: mid.client,
      serverIr: mid.server,
      windows: totals,
    }
  } finally {
    await Promise.all(all.map((c) => c.stop()))
  }
}

/** Every given contender that is in CALLGRIND_CONTENDERS, one after the other. */
export async function runCallgrind(
  env: BenchEnv,
  contenders: RpcContender[],
  options: { calls: number; warmup: number },
  progress: Progress,
  onFailed: (contender: RpcContender, reason: string) => void,
): Promise<CallgrindRow[]> {
  const dir = join(benchDir, 'results', 'callgrind')
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const rows: CallgrindRow[] = []
  for (const c of contenders) {
    if (!CALLGRIND_CONTENDERS.includes(c.name)) continue
    progress(`callgrind ${c.name}: ${options.warmup} calls to warm up, then ${options.calls} counted (slow)`)
    try {
      const row = await countOne(env, c, dir, options.calls, options.warmup)
      rows.push(row)
      progress(
        `callgrind ${c.name}: ${Math.round(row.clientIr + row.serverIr).toLocaleString('en-US')} instructions per call (client ${Math.round(row.clientIr).toLocaleString('en-US')}, server ${Math.round(row.serverIr).toLocaleString('en-US')})`,
      )
    } catch (e) {
      const reason = (e as Error).message.split('\n')[0].slice(0, 400)
      progress(`callgrind ${c.name}: FAILED: ${reason}`)
      onFailed(c, reason)
    }
  }
  return rows
}
