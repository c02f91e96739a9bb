/**
 * `pnpm demo`: starts the greeter as its own process, runs the client in another, then stops
 * the greeter with SIGTERM and checks it shut down cleanly. Exits non-zero on any failure.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url))
const env = {
  ...process.env,
  // Bind to loopback unless told otherwise: the demo talks to itself only.
  MICRO_SERVER_ADDRESS: process.env.MICRO_SERVER_ADDRESS ?? '127.0.0.1:0',
  MICRO_LOG_LEVEL: process.env.MICRO_LOG_LEVEL ?? 'warn',
}

function fail(message: string, child?: ChildProcess): never {
  console.error(`demo: ${message}`)
  if (child && child.exitCode === null) child.kill('SIGKILL')
  process.exit(1)
}

const service = spawn(process.execPath, [here('./service.js')], { env, stdio: ['ignore', 'pipe', 'inherit'] })
const serviceExit = new Promise<number | null>((resolve) => service.on('exit', (code) => resolve(code)))

let starting = true
await new Promise<void>((resolve) => {
  let out = ''
  const timer = setTimeout(() => fail('the greeter did not start within 20s', service), 20_000)
  service.stdout!.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk)
    out += chunk.toString()
    if (out.includes('greeter: listening on')) {
      clearTimeout(timer)
      resolve()
    }
  })
  serviceExit.then((code) => {
    if (starting) fail(`the greeter exited during start-up (code ${code})`)
  })
})
starting = false

const client = spawn(process.execPath, [here('./client.js')], { env, stdio: 'inherit' })
const clientCode = await new Promise<number | null>((resolve) => client.on('exit', (code) => resolve(code)))
if (clientCode !== 0) fail(`the client failed (exit code ${clientCode})`, service)

service.kill('SIGTERM')
const timer = setTimeout(() => fail('the greeter did not stop within 40s of SIGTERM', service), 40_000)
const code = await serviceExit
clearTimeout(timer)
if (code !== 0) fail(`the greeter exited with code ${code} after SIGTERM`)
console.log('demo: done — greeting answered, event delivered, greeter shut down gracefully')
