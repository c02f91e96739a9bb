/**
 * The run's shield: the priority it takes and the CPUs it pins an RPC contender's processes to,
 * read back from the kernel (/proc), not from what the code believes it did.
 */
import { spawn } from 'node:child_process'
import os from 'node:os'
import { canConnect } from '@micro-ts/conformance/testing'
import { afterAll, describe, expect, it } from 'vitest'
import { Child, statFields, stopAll } from '../src/proc.js'
import {
  allowedCpus as allowed,
  childPids,
  cpuList,
  fillIdle,
  IDLE_FILLER,
  placeRpc,
  placeStore,
  raiseShield,
  SHIELD_NICE,
  schedPolicy,
  shield,
  startOwnNats,
} from '../src/shield.js'

const before = os.getPriority()
const children: Child[] = []
const sleeper = (name: string) => {
  const c = new Child(name, 'sleep', ['30'])
  children.push(c)
  return c
}

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop()))
  os.setPriority(before) // this test process's priority, as it was
})

describe('cpuList', () => {
  it('reads ranges and single CPUs as taskset and /proc print them', () => {
    expect(cpuList('0-2,5\n')).toEqual([0, 1, 2, 5])
    expect(cpuList(' 3')).toEqual([3])
    expect(cpuList('')).toEqual([])
  })
})

describe('shield', () => {
  const sh = raiseShield()
  const canRaise = process.getuid?.() === 0

  it('takes nice -20 where it may, and says why where it may not', () => {
    expect(shield()).toEqual(sh)
    if (canRaise) {
      expect(sh.nice).toBe(SHIELD_NICE)
      expect(os.getPriority()).toBe(SHIELD_NICE)
    } else {
      expect(sh.notes.join(' ')).toMatch(/priority stays at nice/)
    }
  })

  it('pins a one-client-one-server contender to CPU 0 and CPU 1, and leaves a hop of two servers alone', () => {
    const driver = sleeper('driver')
    const server = sleeper('server')
    if (!sh.pinned) {
      expect(sh.notes.join(' ')).toMatch(/not pinned/)
      expect(placeRpc(driver, [server])).toBe(false)
      return
    }
    expect(placeRpc(driver, [server])).toBe(true)
    expect(allowed(driver.pid!)).toBe(String(sh.cpus![0]))
    expect(allowed(server.pid!)).toBe(String(sh.cpus![1]))
    expect(sh.cpus![0]).not.toBe(sh.cpus![1])

    const hopDriver = sleeper('hop driver')
    const hopServers = [sleeper('gateway'), sleeper('greeter')]
    const everyCpu = allowed(hopDriver.pid!)
    expect(placeRpc(hopDriver, hopServers)).toBe(false)
    expect(allowed(hopDriver.pid!)).toBe(everyCpu)
    expect(hopServers.map((s) => allowed(s.pid!))).toEqual([everyCpu, everyCpu])
  })

  it("pins the store drivers to CPU 0 and a database server of the run's own to CPU 1, with the processes it forked", async () => {
    const drivers = [sleeper('ours store driver'), sleeper('raw store driver')]
    // A server that has forked a helper, as PostgreSQL's postmaster has its backends.
    const server = new Child('database', 'sh', ['-c', 'sleep 30 & wait'])
    children.push(server)
    let helpers: number[] = []
    for (let i = 0; i < 100 && helpers.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20))
      helpers = childPids(server.pid!)
    }
    expect(helpers).toHaveLength(1)
    try {
      const everyCpu = allowed(server.pid!)
      expect(placeStore(drivers, undefined)).toBe(false) // the machine's server: nothing moves
      expect(allowed(drivers[0].pid!)).toBe(everyCpu)
      if (!sh.pinned) {
        expect(placeStore(drivers, server.pid)).toBe(false)
        return
      }
      expect(placeStore(drivers, server.pid)).toBe(true)
      expect(drivers.map((d) => allowed(d.pid!))).toEqual([String(sh.cpus![0]), String(sh.cpus![0])])
      expect(allowed(server.pid!)).toBe(String(sh.cpus![1]))
      expect(allowed(helpers[0])).toBe(String(sh.cpus![1]))
      expect(shield().storesPinned).toBe(true)
    } finally {
      process.kill(helpers[0])
    }
  })

  it('fails loudly when a process cannot be pinned', async () => {
    const gone = sleeper('gone')
    const server = sleeper('server')
    await gone.stop()
    if (sh.pinned) expect(() => placeRpc(gone, [server])).toThrow(/could not pin gone/)
    else expect(placeRpc(gone, [server])).toBe(false)
  })

  it('keeps each CPU busy with an idle filler pinned to it at SCHED_IDLE, gone after stop', async () => {
    expect(schedPolicy(process.pid)).toBe(0) // SCHED_OTHER: the reading is of the field it names
    const fillers = await fillIdle()
    if (!sh.pinned) {
      expect(fillers).toEqual([])
      expect(sh.notes.join(' ')).toMatch(/no idle fillers/)
      return
    }
    expect(sh.idleFilled).toEqual(sh.cpus)
    expect(fillers.map((f) => allowed(f.pid!))).toEqual(sh.cpus!.map(String))
    expect(fillers.map((f) => schedPolicy(f.pid!))).toEqual([5, 5])
    // Spinning: always runnable (R), never asleep, whatever else the machine runs (its share of the
    // CPU depends on that: under a loaded test run it gets next to none, as it should).
    const state = (pid: number) => statFields(pid)[0]
    for (let i = 0; i < 5; i++) {
      expect(fillers.map((f) => state(f.pid!))).toEqual(['R', 'R'])
      await new Promise((r) => setTimeout(r, 50))
    }
    await Promise.all(fillers.map((f) => f.stop()))
    expect(fillers.some((f) => f.running)).toBe(false)
  })

  it('has an idle filler end by itself when the run dies (its stdin closes)', async () => {
    const orphan = spawn(process.execPath, ['-e', IDLE_FILLER], { stdio: ['pipe', 'ignore', 'ignore'] })
    await new Promise((r) => setTimeout(r, 200))
    const exited = new Promise<number | null>((r) => orphan.once('exit', (code) => r(code)))
    orphan.stdin.end()
    expect(await exited).toBe(0)
  })

  it("starts a nats-server of the run's own on a free loopback port, at the run's priority", async () => {
    const own = await startOwnNats(canConnect)
    // nats-server comes with every machine the bench runs on (scripts/backends.sh checks it).
    if ('missing' in own) throw new Error(own.missing)
    expect(os.getPriority(own.server.pid)).toBe(os.getPriority())
    const port = Number(new URL(own.url).port)
    expect(own.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/)
    expect(port).not.toBe(4222)
    expect(await canConnect('127.0.0.1', port)).toBe(true)
    await stopAll()
    expect(await canConnect('127.0.0.1', port)).toBe(false)
  })
})
