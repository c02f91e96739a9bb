/**
 * The `micro` command on commander: go-micro's global flags on the program (read before or
 * after the command), one subcommand per go-micro command. Failures print go-micro's error JSON
 * on stderr and exit 1 (usage mistakes: a 400, exit 2).
 */

import { MicroError } from '@micro-ts/core'
import { Command, CommanderError, Option } from 'commander'
import { api } from './commands/api.js'
import { call, parseHeaders, publish, requestBody, storeCommand, stream, subscribe } from './commands/call.js'
import { describe, health, registryGet, registryList, registryWatch, services } from './commands/inspect.js'
import { mcp } from './commands/mcp.js'
import { newCommand } from './commands/new.js'
import { run } from './commands/run.js'
import { addGlobalFlags, commandEnv } from './env.js'
import { CLI_ERROR_ID, errorJson, type Output, stdio } from './output.js'
import { TEMPLATES } from './templates/common.js'

export interface MainOptions {
  out?: Output
  env?: NodeJS.ProcessEnv
  /** Ends long-running commands (run, api, watch, subscribe); default: the first SIGINT/SIGTERM. */
  signal?: AbortSignal
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

export function program(options: MainOptions = {}): Command {
  const out = options.out ?? stdio
  const baseEnv = options.env ?? process.env
  const signal = () => options.signal ?? interrupted()
  const prog = addGlobalFlags(new Command('micro'))
  prog
    .description('Micro for TypeScript: make, run, call and inspect services (go-micro compatible)')
    .version(version(), '-v, --version')
    .showHelpAfterError()
  const env = (cmd: Command) => commandEnv(cmd.optsWithGlobals(), baseEnv)

  prog
    .command('new')
    .description('create a service package that builds and whose test passes straight away')
    .argument('<name>', 'service name (hello, orders.api)')
    .addOption(new Option('-t, --template <template>', 'what to make').choices(TEMPLATES).default('service'))
    .option('-p, --plugins <list>', 'plugins to build in, e.g. etcd,nats,postgres')
    .option('-d, --dir <dir>', 'where to create it (default: here)')
    .action((name: string, flags) => {
      newCommand(out, name, flags)
    })

  prog
    .command('run')
    .description('run services from their TypeScript (no build), restart on change, with the gateway')
    .argument('[dirs...]', 'service directories (default: .)')
    .option('--no-gateway', 'do not start the gateway')
    .option('--no-dashboard', 'do not serve the web dashboard on the gateway (/dashboard/)')
    .option('-a, --address <address>', 'gateway address', ':8080')
    .option('--no-watch', 'do not restart on file changes')
    .action(async (dirs: string[], flags, cmd: Command) => {
      await run(env(cmd), out, dirs, flags, signal())
    })

  prog
    .command('api')
    .description("the HTTP API gateway (go-micro's routes) until Ctrl-C")
    .option('-a, --address <address>', 'listen address (MICRO_API_ADDRESS)')
    .option('--cors <origins>', 'allow these origins (comma separated, or *); off by default')
    .option('--max-body-size <bytes>', 'largest request body (10 MiB)')
    .option('--dashboard', 'serve the web dashboard at /dashboard/')
    .option('--mcp', 'serve MCP (streamable HTTP) at /mcp: every endpoint as a tool')
    .option('--mcp-token <token>', 'bearer token /mcp requires (MICRO_MCP_TOKEN); implies --mcp')
    .option('--allow <list>', '/mcp: only these services or Endpoint names, * globs (MICRO_MCP_ALLOW)')
    .option('--deny <list>', '/mcp: never these (MICRO_MCP_DENY)')
    .option('--rate-limit <perSecond>', '/mcp: calls per second each tool allows')
    .action(async (flags, cmd: Command) => {
      await api(env(cmd), out, flags, signal())
    })

  prog
    .command('mcp')
    .description('MCP over stdio for AI agents (Claude Desktop, editors): every endpoint as a tool')
    .argument('[serve]', "go-micro's `micro mcp serve` spelling, accepted")
    .option('--allow <list>', 'only these services or service.Endpoint names, * globs (MICRO_MCP_ALLOW)')
    .option('--deny <list>', 'never these (MICRO_MCP_DENY)')
    .option('--rate-limit <perSecond>', 'calls per second each tool allows')
    .option('--timeout <duration>', 'deadline of each call (default: the client timeout, 30s)')
    .action(async (serve: string | undefined, flags, cmd: Command) => {
      if (serve !== undefined && serve !== 'serve')
        throw new MicroError(CLI_ERROR_ID, 400, `micro mcp: unknown argument ${serve}`)
      await mcp(env(cmd), flags, signal())
    })

  prog
    .command('services')
    .description('list the services in the registry')
    .option('--json', 'JSON output')
    .action(async (flags, cmd: Command) => services(env(cmd), out, flags.json === true))

  prog
    .command('describe')
    .description('versions, nodes and endpoints (with request and response shapes) of a service')
    .argument('<service>')
    .option('--json', "the registry records as go-micro's JSON")
    .action(async (name: string, flags, cmd: Command) => describe(env(cmd), out, name, flags.json === true))

  const callFlags = (c: Command) =>
    c
      .option('-H, --header <key:value>', 'a request header (repeatable)', collect)
      .option('--timeout <duration>', 'deadline, e.g. 5s (travels to the service)')
      .option('--address <host:port>', 'call this node, bypassing the registry (repeatable)', collect)
      .option('--json', 'compact JSON output')

  callFlags(
    prog
      .command('call')
      .description(
        'call an endpoint: micro call greeter Greeter.Hello \'{"name":"John"}\' (or the JSON on stdin)',
      )
      .argument('<service>')
      .argument('<endpoint>')
      .argument('[request]', 'JSON request; - or nothing reads stdin'),
  ).action(async (service: string, endpoint: string, request: string | undefined, flags, cmd: Command) => {
    await call(env(cmd), out, service, endpoint, await requestBody(request), flags)
  })

  callFlags(
    prog
      .command('stream')
      .description('open a stream: send each JSON message (arguments, else stdin lines), print each answer')
      .argument('<service>')
      .argument('<endpoint>')
      .argument('[messages...]'),
  ).action(async (service: string, endpoint: string, messages: string[], flags, cmd: Command) => {
    await stream(env(cmd), out, service, endpoint, messages, flags)
  })

  prog
    .command('health')
    .description("each node's /health")
    .argument('<service>')
    .option('--json', 'JSON output')
    .option('--timeout <ms>', 'per node', '2000')
    .action(async (name: string, flags, cmd: Command) => {
      const ok = await health(env(cmd), out, name, flags.json === true, Number(flags.timeout))
      if (!ok) process.exitCode = 1
    })

  const registry = prog.command('registry').description('the registry: list, get, watch')
  registry
    .command('list')
    .option('--json', "go-micro's JSON")
    .action(async (flags, cmd: Command) => registryList(env(cmd), out, flags.json === true))
  registry
    .command('get')
    .argument('<service>')
    .action(async (name: string, _flags, cmd: Command) => registryGet(env(cmd), out, name))
  registry
    .command('watch')
    .argument('[service]')
    .action(async (name: string | undefined, _flags, cmd: Command) =>
      registryWatch(env(cmd), out, name, signal()),
    )

  const broker = prog.command('broker').description('the broker: publish, subscribe')
  broker
    .command('publish')
    .argument('<topic>')
    .argument('[message]', 'JSON; - or nothing reads stdin')
    .option('-H, --header <key:value>', 'a message header (repeatable)', collect)
    .action(async (topic: string, message: string | undefined, flags, cmd: Command) => {
      parseHeaders(flags.header)
      await publish(env(cmd), out, topic, await requestBody(message), flags.header)
    })
  broker
    .command('subscribe')
    .argument('<topic>')
    .option('-q, --queue <queue>', 'join a queue group')
    .action(async (topic: string, flags, cmd: Command) =>
      subscribe(env(cmd), out, topic, flags.queue, signal()),
    )

  const store = prog.command('store').description('the store: list, read, write, delete')
  const scope = (c: Command) => c.option('--database <db>').option('--table <table>')
  scope(store.command('list'))
    .option('--prefix <prefix>')
    .option('--suffix <suffix>')
    .option('--limit <n>')
    .option('--offset <n>')
    .option('--json')
    .action(async (flags, cmd: Command) => storeCommand(env(cmd), out, 'list', undefined, undefined, flags))
  scope(store.command('read').argument('<key>'))
    .option('--prefix', 'read every key starting with <key>')
    .option('--limit <n>')
    .option('--json')
    .action(async (key: string, flags, cmd: Command) =>
      storeCommand(env(cmd), out, 'read', key, undefined, flags),
    )
  scope(store.command('write').argument('<key>').argument('<value>'))
    .option('--ttl <duration>', 'expire after, e.g. 1h')
    .action(async (key: string, value: string, flags, cmd: Command) =>
      storeCommand(env(cmd), out, 'write', key, value, flags),
    )
  scope(store.command('delete').argument('<key>')).action(async (key: string, flags, cmd: Command) =>
    storeCommand(env(cmd), out, 'delete', key, undefined, flags),
  )

  // Commander's own messages become go-micro error JSON too (help and --version aside).
  const quiet = (c: Command) => {
    c.exitOverride()
    c.configureOutput({ writeOut: (t) => out.out(t), writeErr: (t) => out.err(t), outputError: () => {} })
    for (const sub of c.commands) quiet(sub)
  }
  quiet(prog)
  return prog
}

let sigint: AbortController | undefined

/** Aborted by the first SIGINT/SIGTERM; a second one exits at once. */
function interrupted(): AbortSignal {
  if (!sigint) {
    const ac = new AbortController()
    sigint = ac
    let count = 0
    const onSignal = () => {
      count++
      if (count > 1) process.exit(130)
      ac.abort()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  }
  return sigint.signal
}

function version(): string {
  return '0.1.0'
}

/** Run `micro` with `argv` (without node and the script); resolves to the exit status. */
export async function main(argv: readonly string[], options: MainOptions = {}): Promise<number> {
  const out = options.out ?? stdio
  try {
    await program(options).parseAsync([...argv], { from: 'user' })
    return typeof process.exitCode === 'number' ? process.exitCode : 0
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return 0
      out.err(errorJson(new MicroError(CLI_ERROR_ID, 400, e.message.replace(/^error: /, ''))))
      return 2
    }
    out.err(errorJson(e))
    return e instanceof MicroError && e.code === 400 && e.id === CLI_ERROR_ID ? 2 : 1
  }
}
