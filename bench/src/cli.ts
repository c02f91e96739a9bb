/**
 * `pnpm bench [--filter a,b] [--rounds n] [--round-ms ms] [--warmup-ms ms] [--quick] ...`
 *
 * Runs every selected scenario on loopback, each contender in its own processes, prints the
 * Markdown tables (with ratios and target verdicts) and writes results/latest.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { canConnect } from '@micro-ts/conformance/testing'
import { BALANCE_JOBS, type BalanceRow, balanceTargets, runBalance } from './balance.js'
import { CALLGRIND_CONTENDERS, type CallgrindRow, callgrindMissing, runCallgrind } from './callgrind.js'
import { OUR_TRANSPORTS } from './contenders.js'
import { type BenchEnv, benchDir, buildGo, describeMachine, newRunId } from './env.js'
import {
  PUBSUB_CONTENDERS,
  type PubSubRow,
  RPC_CONTENDERS,
  type RpcRow,
  runPubSubInterleaved,
  runRpcInterleaved,
  runSelector,
  runSoak,
  type SelectorRow,
  type Settings,
  type SoakRow,
  type Unavailable,
} from './measure.js'
import { MEMORY_CONTENDERS, type MemoryRow, runMemory } from './memory.js'
import type { PayloadKind } from './payloads.js'
import { stopAll } from './proc.js'
import { REGISTRIES_CONTENDERS, type RegistriesRow, runRegistries } from './registries.js'
import {
  etcdMissing,
  REGISTRY_CONTENDERS,
  type RegistryRow,
  registryTargets,
  runRegistry,
} from './registry.js'
import { computeRatios, computeTargets, type Results, renderMarkdown } from './report.js'
import { fillIdle, raiseShield, shield, startOwnNats } from './shield.js'
import { runStartup, STARTUP_CONTENDERS, type StartupRow } from './startup.js'
import { runStores, STORE_CONTENDERS, type StoreRow, storeTargets } from './stores.js'

const HELP = `usage: pnpm bench [options] [filter...]

Scenarios and their jobs (a filter term selects every job whose name contains it):
  rpc/<contender>      ${RPC_CONTENDERS.map((c) => c.name).join(', ')}
  selector/ours-http   warm call vs the same call with address
  pubsub/<contender>   ${PUBSUB_CONTENDERS.map((c) => c.name).join(', ')}
  soak/ours-<transport> 100,000 calls at c=64, server memory at checkpoints
  registry/<contender> ${REGISTRY_CONTENDERS.map((c) => c.name).join(', ')}: etcd getService of 10 to 10,000 nodes
  registry-warm/<contender> ${REGISTRIES_CONTENDERS.map((c) => c.name).join(', ')}: warm lookup and watch fan-out
  startup/<contender>  ${STARTUP_CONTENDERS.map((c) => c.name).join(', ')}: process spawned to its first answered call
  memory/<contender>   ${MEMORY_CONTENDERS.map((c) => c.name).join(', ')}: idle server and per open connection
  store/<contender>    ${STORE_CONTENDERS.map((c) => c.name).join(', ')}: read, write, list by prefix, 1 KiB values
  callgrind/<contender> ${CALLGRIND_CONTENDERS.join(', ')}: instructions per greeter call at c=1 (valgrind)
  balance/slow-node    three nodes, one 50 ms slower: p2c vs random vs roundrobin (p99, calls/s)
  balance/failing-node three nodes, one failing every call: extra load from retries with and without the budget

Options:
  --filter a,b        run only jobs whose name contains a or b (repeatable; bare words work too)
  --rounds n          measured rounds per cell (default 5)
  --busy-rounds n     measured rounds of the RPC cells at c>1, whose rounds spread most (default 9)
  --round-ms ms       length of a round (default 2000)
  --warmup-ms ms      warm-up before each cell (default 1000)
  --concurrency 1,64  calls in flight
  --payload greeter,big
  --soak-calls n      calls in the memory run (default 100000)
  --window n          pub/sub messages in flight (default 1024)
  --callgrind-calls n calls per counted window under callgrind (default 1000; 3 windows)
  --callgrind-warmup n uncounted calls before them (default 3000)
  --quick             2 rounds × 1000 ms, 500 ms warm-up, 20000 soak calls
  --profile           run every Node process with --cpu-prof (results/profiles/<contender>-<role>.*.cpuprofile)
  --unshielded        run at the normal priority and let the scheduler place the processes (by default the
                      run takes nice -20 and pins an RPC contender's client to CPU 0, its server to CPU 1)
  --no-idle-fill      let an idle CPU halt (by default, shielded runs keep each CPU spinning at SCHED_IDLE
                      when nothing else wants it, so a CPU wakes as fast on a quiet machine as beside a hog)
  --out file          JSON output (default results/latest.json; the tables go beside it as .md)
  --list              print the job names and exit
Environment: BENCH_NATS_URL (default nats://127.0.0.1:4222), BENCH_ETCD_ADDRESS (default 127.0.0.1:2379),
BENCH_VERBOSE=1 shows children's stderr.
`

const list = (v: string[] | undefined) =>
  (v ?? [])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean)

function settingsFrom(values: Record<string, string | boolean | string[] | undefined>): Settings {
  const quick = values.quick === true
  const n = (key: string, fallback: number) => {
    const v = values[key]
    if (v === undefined) return fallback
    const parsed = Number(v)
    if (!Number.isFinite(parsed) || parsed <= 0)
      throw new Error(`--${key} must be a positive number, got ${v}`)
    return parsed
  }
  const concurrency = list(values.concurrency as string[] | undefined).map(Number)
  if (concurrency.some((c) => !Number.isInteger(c) || c < 1))
    throw new Error('--concurrency takes positive integers')
  const payloads = list(values.payload as string[] | undefined)
  if (payloads.some((p) => p !== 'greeter' && p !== 'big'))
    throw new Error('--payload takes greeter and/or big')
  const rounds = n('rounds', quick ? 2 : 5)
  return {
    rounds,
    // An explicit --rounds (or --quick) holds for the busy cells too, unless they get their own.
    busyRounds: n('busy-rounds', values.rounds !== undefined || quick ? rounds : 9),
    roundMs: n('round-ms', quick ? 1000 : 2000),
    warmupMs: n('warmup-ms', quick ? 500 : 1000),
    concurrency: concurrency.length ? concurrency : [1, 64],
    payloads: payloads.length ? (payloads as PayloadKind[]) : ['greeter', 'big'],
    soakCalls: n('soak-calls', quick ? 20_000 : 100_000),
    window: n('window', 1024),
    callgrindCalls: n('callgrind-calls', quick ? 300 : 1000),
    callgrindWarmup: n('callgrind-warmup', quick ? 500 : 3000),
  }
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      filter: { type: 'string', multiple: true },
      rounds: { type: 'string' },
      'busy-rounds': { type: 'string' },
      'round-ms': { type: 'string' },
      'warmup-ms': { type: 'string' },
      concurrency: { type: 'string', multiple: true },
      payload: { type: 'string', multiple: true },
      'soak-calls': { type: 'string' },
      window: { type: 'string' },
      'callgrind-calls': { type: 'string' },
      'callgrind-warmup': { type: 'string' },
      quick: { type: 'boolean' },
      profile: { type: 'boolean' },
      unshielded: { type: 'boolean' },
      'no-idle-fill': { type: 'boolean' },
      out: { type: 'string' },
      list: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    process.stdout.write(HELP)
    return 0
  }
  const settings = settingsFrom(values)
  const filters = [...list(values.filter), ...list(positionals)]
  const jobs = [
    ...RPC_CONTENDERS.map((c) => `rpc/${c.name}`),
    'selector/ours-http',
    ...PUBSUB_CONTENDERS.map((c) => `pubsub/${c.name}`),
    ...OUR_TRANSPORTS.map((t) => `soak/ours-${t}`),
    ...REGISTRY_CONTENDERS.map((c) => `registry/${c.name}`),
    ...REGISTRIES_CONTENDERS.map((c) => `registry-warm/${c.name}`),
    ...STARTUP_CONTENDERS.map((c) => `startup/${c.name}`),
    ...MEMORY_CONTENDERS.map((c) => `memory/${c.name}`),
    ...STORE_CONTENDERS.map((c) => `store/${c.name}`),
    ...CALLGRIND_CONTENDERS.map((c) => `callgrind/${c}`),
    ...BALANCE_JOBS,
  ]
  const selected = (job: string) => filters.length === 0 || filters.some((f) => job.includes(f))
  if (values.list) {
    process.stdout.write(`${jobs.filter(selected).join('\n')}\n`)
    return 0
  }
  if (!jobs.some(selected)) throw new Error(`--filter ${filters.join(',')} matches no job; see --list`)

  const log = (line: string) => process.stderr.write(`${line}\n`)
  const shielded = values.unshielded ? shield() : raiseShield()
  for (const note of shielded.notes) log(`warning: ${note}`)
  const started = Date.now()
  const loadStart = os.loadavg()[0]
  if (loadStart > 1.5)
    log(
      `warning: load average ${loadStart.toFixed(1)} on ${os.cpus().length} CPUs: other work will skew the numbers`,
    )
  // After the load average is read: the fillers add one to it for each CPU.
  if (!values.unshielded && !values['no-idle-fill']) {
    await fillIdle()
    if (!shielded.idleFilled) log(`warning: ${shielded.notes.at(-1)}`)
  }
  const profileDir = join(benchDir, 'results', 'profiles')
  if (values.profile) mkdirSync(profileDir, { recursive: true })
  let natsUrl = process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222'
  const needsNats = jobs.filter(selected).some((j) => /nats|startup/.test(j))
  if (!process.env.BENCH_NATS_URL && needsNats && !values.unshielded) {
    const own = await startOwnNats(canConnect)
    if ('url' in own) {
      natsUrl = own.url
      shielded.ownNats = true
    } else {
      shielded.notes.push(`NATS: the machine's own at ${natsUrl}, as ${own.missing}`)
      log(`warning: ${shielded.notes.at(-1)}`)
    }
  }
  const natsHost = new URL(natsUrl)
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(natsHost.hostname)) {
    throw new Error(`BENCH_NATS_URL must be on loopback, got ${natsUrl}`)
  }
  const needsGo = jobs.filter(selected).some((j) => j === 'rpc/go-micro' || j === 'rpc/ours-to-go')
  const env: BenchEnv = {
    runId: newRunId(),
    natsUrl,
    natsMissing: (await canConnect(natsHost.hostname.replace(/^\[|\]$/g, ''), Number(natsHost.port || 4222)))
      ? undefined
      : `no NATS server answers at ${natsUrl}`,
    goMissing: needsGo ? buildGo() : undefined,
    ourNodeFlags: [],
    profileDir: values.profile ? profileDir : undefined,
  }

  const rpc: RpcRow[] = []
  const selector: SelectorRow[] = []
  const pubsub: PubSubRow[] = []
  const soak: SoakRow[] = []
  const registry: RegistryRow[] = []
  const unavailable: Unavailable[] = []
  const contenders: Results['contenders'] = []
  const attempt = async (scenario: string, name: string, fn: () => Promise<void>) => {
    try {
      await fn()
    } catch (e) {
      const reason = (e as Error).message.split('\n')[0].slice(0, 400)
      log(`${scenario} ${name}: FAILED: ${reason}`)
      unavailable.push({ scenario, contender: name, status: 'failed', reason })
    }
  }

  // Every RPC contender that can run here, measured together in interleaved rounds.
  const rpcJobs: typeof RPC_CONTENDERS = []
  for (const c of RPC_CONTENDERS) {
    if (!selected(`rpc/${c.name}`)) continue
    contenders.push({ scenario: 'rpc', name: c.name, what: c.what })
    const missing = await c.check(env)
    if (missing) {
      const todo = c.group === 'ours'
      log(`rpc ${c.name}: ${todo ? 'TODO' : 'skipped'}: ${missing}`)
      unavailable.push({
        scenario: 'rpc',
        contender: c.name,
        status: todo ? 'todo' : 'skipped',
        reason: missing,
      })
      continue
    }
    rpcJobs.push(c)
  }
  if (rpcJobs.length) {
    await attempt('rpc', 'interleaved', async () => {
      rpc.push(
        ...(await runRpcInterleaved(env, rpcJobs, settings, log, (c, reason) =>
          unavailable.push({ scenario: 'rpc', contender: c.name, status: 'failed', reason }),
        )),
      )
    })
  }
  if (selected('selector/ours-http')) {
    await attempt('selector', 'ours-http', async () => {
      selector.push(...(await runSelector(env, settings, log)))
    })
  }
  const pubsubJobs = PUBSUB_CONTENDERS.filter((c) => selected(`pubsub/${c.name}`))
  for (const c of pubsubJobs) {
    contenders.push({ scenario: 'pubsub', name: c.name, what: c.what })
    if (env.natsMissing) {
      // Ours cannot be skipped quietly: a fresh clone has NATS from scripts/backends.sh.
      const status = c.group === 'ours' ? 'failed' : 'skipped'
      unavailable.push({ scenario: 'pubsub', contender: c.name, status, reason: env.natsMissing })
    }
  }
  if (pubsubJobs.length && !env.natsMissing) {
    await attempt('pubsub', 'interleaved', async () => {
      pubsub.push(
        ...(await runPubSubInterleaved(env, pubsubJobs, settings, log, (c, reason) =>
          unavailable.push({ scenario: 'pubsub', contender: c.name, status: 'failed', reason }),
        )),
      )
    })
  }
  for (const t of OUR_TRANSPORTS) {
    const c = RPC_CONTENDERS.find((z) => z.name === `ours-${t}`)!
    if (!selected(`soak/${c.name}`)) continue
    const missing = await c.check(env)
    if (missing) {
      unavailable.push({ scenario: 'soak', contender: c.name, status: 'todo', reason: missing })
      continue
    }
    await attempt('soak', c.name, async () => {
      soak.push(await runSoak(env, c, settings, log))
    })
  }

  const registryJobs = REGISTRY_CONTENDERS.filter((c) => selected(`registry/${c.name}`))
  const etcdAbsent = registryJobs.length > 0 ? await etcdMissing() : undefined
  for (const c of registryJobs) {
    contenders.push({ scenario: 'registry', name: c.name, what: c.what })
    if (etcdAbsent) {
      // Ours cannot be skipped quietly: a fresh clone starts etcd with scripts/backends.sh.
      const status = c.group === 'ours' ? 'failed' : 'skipped'
      unavailable.push({ scenario: 'registry', contender: c.name, status, reason: etcdAbsent })
      continue
    }
    await attempt('registry', c.name, async () => {
      registry.push(...(await runRegistry(env, c, settings, log)))
    })
  }

  const registries: RegistriesRow[] = []
  const registriesJobs = REGISTRIES_CONTENDERS.filter((c) => selected(`registry-warm/${c.name}`))
  for (const c of registriesJobs) contenders.push({ scenario: 'registry-warm', name: c.name, what: c.what })
  if (registriesJobs.length) {
    await attempt('registry-warm', 'interleaved', async () => {
      registries.push(
        ...(await runRegistries(env, registriesJobs, settings, log, (c, reason) =>
          unavailable.push({
            scenario: 'registry-warm',
            contender: c.name,
            // Ours cannot be skipped quietly: scripts/backends.sh starts every one of these.
            status: c.group === 'ours' ? 'failed' : 'skipped',
            reason,
          }),
        )),
      )
    })
  }

  const startup: StartupRow[] = []
  const startupJobs = STARTUP_CONTENDERS.filter((c) => selected(`startup/${c.name}`))
  if (startupJobs.length) {
    await attempt('startup', 'interleaved', async () => {
      startup.push(
        ...(await runStartup(env, startupJobs, settings, log, (c, reason) =>
          unavailable.push({
            scenario: 'startup',
            contender: c.name,
            status: c.group === 'ours' ? 'failed' : 'skipped',
            reason,
          }),
        )),
      )
    })
  }
  const memory: MemoryRow[] = []
  const memoryJobs = MEMORY_CONTENDERS.filter((c) => selected(`memory/${c.name}`))
  if (memoryJobs.length) {
    await attempt('memory', 'interleaved', async () => {
      memory.push(
        ...(await runMemory(env, memoryJobs, settings, log, (c, reason) =>
          unavailable.push({
            scenario: 'memory',
            contender: c.name,
            status: c.group === 'ours' ? 'failed' : 'skipped',
            reason,
          }),
        )),
      )
    })
  }

  const stores: StoreRow[] = []
  const storeJobs = STORE_CONTENDERS.filter((c) => selected(`store/${c.name}`))
  for (const c of storeJobs) contenders.push({ scenario: 'store', name: c.name, what: c.what })
  if (storeJobs.length) {
    await attempt('store', 'interleaved', async () => {
      stores.push(
        ...(await runStores(env, storeJobs, settings, log, (c, reason) =>
          unavailable.push({
            scenario: 'store',
            contender: c.name,
            // Ours cannot be skipped quietly: a fresh clone's machine runs these servers.
            status: c.group === 'ours' ? 'failed' : 'skipped',
            reason,
          }),
        )),
      )
    })
  }

  const balance: BalanceRow[] = []
  const balanceJobs = BALANCE_JOBS.filter(selected)
  if (balanceJobs.length) {
    await attempt('balance', balanceJobs.join(', '), async () => {
      balance.push(...(await runBalance(env, settings, log, balanceJobs)))
    })
  }

  // Last: the slowest scenario, and the one that needs no quiet machine.
  const callgrind: CallgrindRow[] = []
  const callgrindJobs = RPC_CONTENDERS.filter(
    (c) => CALLGRIND_CONTENDERS.includes(c.name) && selected(`callgrind/${c.name}`),
  )
  if (callgrindJobs.length) {
    const missing = callgrindMissing()
    for (const c of callgrindJobs) {
      if (missing)
        unavailable.push({ scenario: 'callgrind', contender: c.name, status: 'failed', reason: missing })
    }
    if (!missing) {
      callgrind.push(
        ...(await runCallgrind(
          env,
          callgrindJobs,
          { calls: settings.callgrindCalls ?? 1000, warmup: settings.callgrindWarmup ?? 3000 },
          log,
          (c, reason) =>
            unavailable.push({ scenario: 'callgrind', contender: c.name, status: 'failed', reason }),
        )),
      )
    }
  }

  const partial = {
    startedAt: new Date(started).toISOString(),
    durationSec: (Date.now() - started) / 1000,
    machine: {
      ...describeMachine(),
      loadAverage: { start: loadStart, end: os.loadavg()[0] },
      shield: shielded,
    },
    settings,
    filters,
    contenders,
    rpc,
    selector,
    pubsub,
    soak,
    registry,
    registries,
    startup,
    memory,
    stores,
    callgrind,
    balance,
    unavailable,
  }
  const ratios = computeRatios(rpc, pubsub, selector, settings)
  const targets = [
    ...computeTargets(partial, ratios),
    ...(registry.length ? registryTargets(registry) : []),
    ...storeTargets(stores),
    ...balanceTargets(balance),
  ]
  const results: Results = { ...partial, ratios, targets }
  const out = values.out ?? join(benchDir, 'results', 'latest.json')
  mkdirSync(join(out, '..'), { recursive: true })
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`)
  const markdown = renderMarkdown(results)
  // The same tables as Markdown beside the JSON (README.md quotes the latest full run).
  const md = `${out.replace(/\.json$/, '')}.md`
  writeFileSync(md, markdown)
  process.stdout.write(markdown)
  log(`\nwrote ${out} and ${md}`)
  // One of our own contenders that could not run is a broken checkout, not a missing peer: fail loudly.
  const ours = unavailable.filter((u) => u.status === 'todo')
  for (const u of ours)
    log(`bench: FAILED: our contender ${u.scenario}/${u.contender} could not run: ${u.reason}`)
  return unavailable.some((u) => u.status === 'failed') || ours.length > 0 ? 1 : 0
}

let stopping = false
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    if (stopping) return
    stopping = true
    process.stderr.write(`\n${sig}: stopping every process started\n`)
    void stopAll().then(() => process.exit(130))
  })
}

main()
  .then(async (code) => {
    await stopAll()
    process.exit(code)
  })
  .catch(async (e) => {
    process.stderr.write(`bench: ${(e as Error).message}\n`)
    await stopAll()
    process.exit(2)
  })
