/**
 * The child side of the line protocol between the orchestrator (cli.ts) and every process it
 * starts, Node or Go alike: one JSON command per line on stdin (`{id, cmd, ...}`), one JSON reply
 * per line on stdout (`{re: id, ...}`), and unsolicited lines for events (`{ready: true}`,
 * `{event: ...}`). Logs go to stderr so stdout stays parseable.
 */
import { createInterface } from 'node:readline'

export interface Command {
  id: number
  cmd: string
  [key: string]: unknown
}

export type CommandHandler = (command: Command) => unknown | Promise<unknown>

/** Write one line to the orchestrator. */
export function send(message: object): void {
  process.stdout.write(`${JSON.stringify(message)}\n`)
}

/**
 * Serve commands until `exit` or until stdin closes (the orchestrator went away). `onExit` runs
 * before the process exits in both cases, so a child never outlives its orchestrator.
 */
export function serveCommands(handlers: Record<string, CommandHandler>, onExit: () => Promise<void>): void {
  let exiting = false
  const exit = async (code: number) => {
    if (exiting) return
    exiting = true
    try {
      await onExit()
    } catch (e) {
      console.error(`cleanup failed: ${(e as Error).message}`)
    }
    process.exit(code)
  }
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY })
  // Commands run one at a time, in order: a `run` must finish before `stats` reads its samples.
  let queue: Promise<void> = Promise.resolve()
  lines.on('line', (line) => {
    if (!line.trim()) return
    let command: Command
    try {
      command = JSON.parse(line) as Command
    } catch {
      console.error(`bad command line: ${line.slice(0, 200)}`)
      return
    }
    // Notifications (id 0) need no reply and must not wait behind a running command: the
    // pub/sub credits arrive while `run` is publishing.
    if (command.id === 0) {
      try {
        void handlers[command.cmd]?.(command)
      } catch (e) {
        console.error(`${command.cmd} failed: ${(e as Error).message}`)
      }
      return
    }
    queue = queue.then(async () => {
      if (command.cmd === 'exit') {
        send({ re: command.id, ok: true })
        await exit(0)
        return
      }
      const handler = handlers[command.cmd]
      try {
        if (!handler) throw new Error(`unknown command ${command.cmd}`)
        const result = (await handler(command)) ?? {}
        send({ ...(result as object), re: command.id })
      } catch (e) {
        send({ re: command.id, error: (e as Error).message })
      }
    })
  })
  lines.on('close', () => void queue.then(() => exit(0)))
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void exit(0))
}

/** Parse the single JSON config argument every child takes. */
export function configArg<T>(): T {
  const raw = process.argv[3]
  if (!raw) throw new Error(`usage: ${process.argv[1]} KIND CONFIG_JSON`)
  return JSON.parse(raw) as T
}

/** Fail the child with a message the orchestrator shows. */
export function die(e: unknown): never {
  console.error((e as Error)?.stack ?? String(e))
  process.exit(1)
}
