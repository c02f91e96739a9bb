/**
 * A client network namespace and a server network namespace made by the test, one link between
 * them, and faults on that link: added latency, packet loss, a partition. With `tc netem` in the
 * kernel the link is a veth pair impaired by netem on both ends; a kernel built without
 * sch_netem (this project's CI machines) gets the same impairments from a small userspace link:
 * a TUN device in each namespace and the Go program in ../netem forwarding packets between them.
 * Either way the packets of real TCP connections are delayed or dropped, and the kernel's TCP
 * deals with it as it would on a network.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export interface Impairment {
  /** Added round-trip time, ms (half each way). */
  delayMs?: number
  /** Packets dropped, percent, each way. */
  lossPct?: number
  /** Drop every packet, both ways. */
  partition?: boolean
}

const SOURCE_DIR = fileURLToPath(new URL('../netem/', import.meta.url))

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })

/** `ip` and `tc` (iproute2) are installed and this process may make namespaces (root). */
export function canMakeNamespaces(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces with veth need root'
  for (const [cmd, flag] of [
    ['ip', '-V'],
    ['tc', '-V'],
  ]) {
    try {
      execFileSync(cmd, [flag], { stdio: 'ignore' })
    } catch {
      return `${cmd} (iproute2) is not installed`
    }
  }
  return undefined
}

let netemProbe: boolean | undefined

/** Does this kernel have sch_netem? (Tried once, in a throwaway namespace.) */
export function kernelHasNetem(): boolean {
  if (netemProbe !== undefined) return netemProbe
  const ns = `mf-probe-${process.pid}`
  try {
    ip('netns', 'add', ns)
    execFileSync(
      'ip',
      ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms'],
      {
        stdio: 'ignore',
      },
    )
    netemProbe = true
  } catch {
    netemProbe = false
  } finally {
    try {
      ip('netns', 'del', ns)
    } catch {
      // never made
    }
  }
  return netemProbe
}

/** Where the Go link program is built: outside the clone, keyed by its source and Go's version. */
function goCommand(): string {
  for (const candidate of ['go', '/usr/local/go/bin/go']) {
    try {
      execFileSync(candidate, ['version'], { stdio: 'ignore' })
      return candidate
    } catch {
      // next
    }
  }
  throw new Error('the userspace netem link needs Go (go on PATH or /usr/local/go/bin/go) to build ../netem')
}

/** Build ../netem once per source version; the path of the binary. */
export function tunNetemBinary(): string {
  const go = goCommand()
  const version = execFileSync(go, ['version'], { encoding: 'utf8' }).trim()
  const hash = createHash('sha256')
  for (const f of ['go.mod', 'main.go']) hash.update(readFileSync(path.join(SOURCE_DIR, f)))
  hash.update(version)
  const cache = process.env.MICRO_CACHE_DIR || path.join(os.homedir(), '.cache', 'micro-ts')
  const dir = path.join(cache, `tun-netem-${hash.digest('hex').slice(0, 12)}`)
  const bin = path.join(dir, 'tun-netem')
  if (existsSync(bin)) return bin
  mkdirSync(dir, { recursive: true })
  const tmp = `${bin}.${process.pid}.tmp`
  execFileSync(go, ['build', '-trimpath', '-o', tmp, '.'], {
    cwd: SOURCE_DIR,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' },
  })
  renameSync(tmp, bin)
  return bin
}

export class NetLink {
  private helper: ChildProcess | undefined
  private answers: ((line: string) => void)[] = []

  private constructor(
    readonly clientNs: string,
    readonly serverNs: string,
    readonly clientIp: string,
    readonly serverIp: string,
    /** How the faults are made: the kernel's netem, or the userspace TUN link. */
    readonly mode: 'netem' | 'tun',
    private readonly devices: { client: string; server: string },
  ) {}

  /** Two fresh namespaces joined by one link; `index` (0..200) keeps parallel links apart. */
  static async create(index: number): Promise<NetLink> {
    const tag = `${process.pid % 100_000}-${index}`
    const c = `mf-${tag}-c`
    const s = `mf-${tag}-s`
    const clientIp = `10.77.${index}.1`
    const serverIp = `10.77.${index}.2`
    const devices = {
      client: `mfc${index}-${process.pid % 10_000}`,
      server: `mfs${index}-${process.pid % 10_000}`,
    }
    ip('netns', 'add', c)
    ip('netns', 'add', s)
    const mode = kernelHasNetem() ? 'netem' : 'tun'
    const link = new NetLink(c, s, clientIp, serverIp, mode, devices)
    try {
      if (mode === 'netem') {
        ip('link', 'add', devices.client, 'type', 'veth', 'peer', 'name', devices.server)
      } else {
        await link.startHelper()
      }
      ip('link', 'set', devices.client, 'netns', c)
      ip('link', 'set', devices.server, 'netns', s)
      const peer = mode === 'netem' ? ['/24'] : ['/32', 'peer']
      ip(
        '-n',
        c,
        'addr',
        'add',
        `${clientIp}${peer[0]}`,
        ...(peer[1] ? [peer[1], serverIp] : []),
        'dev',
        devices.client,
      )
      ip(
        '-n',
        s,
        'addr',
        'add',
        `${serverIp}${peer[0]}`,
        ...(peer[1] ? [peer[1], clientIp] : []),
        'dev',
        devices.server,
      )
      for (const [ns, dev] of [
        [c, devices.client],
        [s, devices.server],
      ]) {
        ip('-n', ns, 'link', 'set', 'lo', 'up')
        ip('-n', ns, 'link', 'set', dev, 'up')
      }
    } catch (err) {
      await link.close()
      throw err
    }
    return link
  }

  /** Prefix that runs a command inside one of the namespaces. */
  exec(side: 'client' | 'server'): string[] {
    return ['ip', 'netns', 'exec', side === 'client' ? this.clientNs : this.serverNs]
  }

  /** Replace the link's impairment (none: a clean link). */
  async set(imp: Impairment): Promise<void> {
    const oneWay = (imp.delayMs ?? 0) / 2
    const loss = imp.partition ? 100 : (imp.lossPct ?? 0)
    if (this.mode === 'netem') {
      for (const [ns, dev] of [
        [this.clientNs, this.devices.client],
        [this.serverNs, this.devices.server],
      ]) {
        execFileSync(
          'ip',
          [
            'netns',
            'exec',
            ns,
            'tc',
            'qdisc',
            'replace',
            'dev',
            dev,
            'root',
            'netem',
            'delay',
            `${oneWay}ms`,
            'loss',
            `${loss}%`,
          ],
          { stdio: 'ignore' },
        )
      }
      return
    }
    await this.command(`delay ${oneWay}`)
    await this.command(`loss ${imp.lossPct ?? 0}`)
    await this.command(`partition ${imp.partition ? 'on' : 'off'}`)
  }

  async close(): Promise<void> {
    if (this.helper && this.helper.exitCode === null) {
      const exited = new Promise((r) => this.helper?.once('exit', r))
      this.helper.stdin?.end()
      if (this.helper.pid) process.kill(this.helper.pid, 'SIGTERM')
      await exited
    }
    for (const ns of [this.clientNs, this.serverNs]) {
      try {
        ip('netns', 'del', ns)
      } catch {
        // gone already
      }
    }
  }

  private async startHelper(): Promise<void> {
    const bin = tunNetemBinary()
    const child = spawn(bin, [this.devices.client, this.devices.server], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.helper = child
    let buffered = ''
    let stderr = ''
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    child.stdout?.on('data', (d: Buffer) => {
      buffered += d.toString()
      for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
        const line = buffered.slice(0, i)
        buffered = buffered.slice(i + 1)
        this.answers.shift()?.(line)
      }
    })
    const ready = await new Promise<string>((resolve) => {
      this.answers.push(resolve)
      child.once('exit', (code) => resolve(`exited ${code}: ${stderr}`))
    })
    if (ready !== 'ready') throw new Error(`tun-netem did not start: ${ready}`)
  }

  private command(line: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.answers.push((answer) =>
        answer === 'ok' ? resolve() : reject(new Error(`tun-netem: ${line}: ${answer}`)),
      )
      this.helper?.stdin?.write(`${line}\n`)
    })
  }
}
