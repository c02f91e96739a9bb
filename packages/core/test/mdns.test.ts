import { type ChildProcess, spawn } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { existsSync } from 'node:fs'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import makeMdns, { type ResponsePacket } from 'multicast-dns'
import { afterEach, describe, expect, it } from 'vitest'
import { createMdnsRegistry, MicroError, type Service, type WatchEvent, type Watcher } from '../src/index.js'
import type { MdnsRegistry, MdnsRegistryOptions } from '../src/registry/mdns/index.js'
import { mdnsGuard, runId } from './mdns-netns.js'

const isolated = mdnsGuard('mdns.test.ts')

const open: MdnsRegistry[] = []
/** Lookups collect for 300 ms rather than go-micro's 100 so a busy CI machine does not flake. */
function registry(options: MdnsRegistryOptions = {}): MdnsRegistry {
  const r = createMdnsRegistry({ timeout: 300, ...options })
  open.push(r)
  return r
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()))
})

let seq = 0
const uniq = (name: string) => `${runId}-${name}-${++seq}`

async function notFound(p: Promise<unknown>): Promise<MicroError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(MicroError)
  expect(err).toMatchObject({ id: 'go.micro.registry', code: 404, detail: 'service not found' })
  return err as MicroError
}

/** The next event matching `pred`, failing after `ms`. */
async function nextEvent(w: Watcher, pred: (e: WatchEvent) => boolean, ms = 5000): Promise<WatchEvent> {
  const it = w[Symbol.asyncIterator]()
  const deadline = Date.now() + ms
  for (;;) {
    const left = deadline - Date.now()
    if (left <= 0) throw new Error('no matching watch event')
    const r = await Promise.race([it.next(), delay(left).then(() => undefined)])
    if (!r) throw new Error('no matching watch event')
    if (r.done) throw new Error('watcher ended')
    if (pred(r.value)) return r.value
  }
}

/** Poll `fn` until it stops throwing. */
async function eventually<T>(fn: () => Promise<T>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      if (Date.now() > deadline) throw err
      await delay(100)
    }
  }
}

describe.runIf(isolated)('mdns registry', () => {
  it('is named mdns', () => {
    expect(registry().name).toBe('mdns')
  })

  it("go-micro's mdns_test: register, get, list, deregister (IPv4 and IPv6 nodes)", async () => {
    const r = registry()
    const data: Service[] = [
      {
        name: uniq('test1'),
        version: '1.0.1',
        nodes: [{ id: 'test1-1', address: '10.0.0.1:10001', metadata: { foo: 'bar' } }],
      },
      {
        name: uniq('test2'),
        version: '1.0.2',
        nodes: [{ id: 'test2-1', address: '10.0.0.2:10002', metadata: { foo2: 'bar2' } }],
      },
      {
        name: uniq('test3'),
        version: '1.0.3',
        nodes: [{ id: 'test3-1', address: '10.0.0.3:10003', metadata: { foo3: 'bar3' } }],
      },
      {
        name: uniq('test4'),
        version: '1.0.4',
        nodes: [{ id: 'test4-1', address: '[::]:10004', metadata: { foo4: 'bar4' } }],
      },
    ]
    for (const s of data) {
      await r.register(s)
      const got = await r.getService(s.name)
      expect(got).toHaveLength(1)
      expect(got[0]).toMatchObject({ name: s.name, version: s.version })
      expect(got[0].nodes).toEqual(s.nodes)
    }
    const listed = await r.listServices()
    for (const s of data) {
      expect(listed.find((x) => x.name === s.name)).toMatchObject({ name: s.name, version: s.version })
    }
    for (const s of data) {
      await r.deregister(s)
      await notFound(r.getService(s.name))
    }
    const after = await r.listServices()
    for (const s of data) expect(after.some((x) => x.name === s.name)).toBe(false)
  })

  it('registries in one process see each other; nodes of one version merge, versions stay apart', async () => {
    const a = registry()
    const b = registry()
    const c = registry()
    const name = uniq('shared')
    const endpoints = [
      {
        name: 'Greeter.Hello',
        request: { name: 'Request', type: 'Request', values: [{ name: 'name', type: 'string' }] },
        response: { name: 'Response', type: 'Response', values: [{ name: 'greeting', type: 'string' }] },
        metadata: { stream: 'false' },
      },
    ]
    await a.register({
      name,
      version: '1',
      endpoints,
      nodes: [{ id: `${name}-a`, address: '127.0.0.1:1001' }],
    })
    await b.register({
      name,
      version: '1',
      endpoints,
      nodes: [{ id: `${name}-b`, address: '127.0.0.2:1002' }],
    })
    await b.register({
      name,
      version: '2',
      nodes: [{ id: `${name}-b2`, address: '127.0.0.3:1003', metadata: { v: '2' } }],
    })
    await a.register({ name, version: '2', nodes: [{ id: `${name}-a6`, address: '[::1]:1004' }] })
    const got = await c.getService(name)
    expect(got.map((s) => s.version).sort()).toEqual(['1', '2'])
    const v1 = got.find((s) => s.version === '1')!
    expect(v1.nodes.map((n) => `${n.id}@${n.address}`).sort()).toEqual([
      `${name}-a@127.0.0.1:1001`,
      `${name}-b@127.0.0.2:1002`,
    ])
    expect(v1.endpoints).toEqual(endpoints)
    expect(got.find((s) => s.version === '2')!.nodes.sort((x, y) => x.id.localeCompare(y.id))).toEqual([
      { id: `${name}-a6`, address: '[::1]:1004' },
      { id: `${name}-b2`, address: '127.0.0.3:1003', metadata: { v: '2' } },
    ])
    // Each registry also finds the other's nodes.
    expect((await a.getService(name)).flatMap((s) => s.nodes)).toHaveLength(4)
    const listed = (await c.listServices()).filter((s) => s.name === name)
    expect(listed.map((s) => s.version).sort()).toEqual(['1', '2'])
    // Deregistering b's nodes leaves a's.
    await b.deregister({ name, version: '1', nodes: [{ id: `${name}-b`, address: '' }] })
    await b.deregister({ name, version: '2', nodes: [{ id: `${name}-b2`, address: '' }] })
    const left = await c.getService(name)
    expect(left.map((s) => `${s.version}:${s.nodes.map((n) => n.id)}`).sort()).toEqual([
      `1:${name}-a`,
      `2:${name}-a6`,
    ])
  })

  it('a host name in the address is resolved to an IP', async () => {
    const r = registry()
    const name = uniq('named')
    await r.register({ name, version: '1', nodes: [{ id: 'n', address: 'localhost:7000' }] })
    const [s] = await registry().getService(name)
    expect(['127.0.0.1:7000', '[::1]:7000']).toContain(s.nodes[0].address)
  })

  it('watch: create on register, update on a changed record, delete on deregister; filtered by name', async () => {
    const a = registry()
    const watcherSide = registry()
    const name = uniq('watched')
    const other = uniq('other')
    const w = watcherSide.watch({ service: name })
    const all = watcherSide.watch()
    await delay(100) // the watch socket binds asynchronously
    await a.register({ name: other, version: '1', nodes: [{ id: 'o1', address: '127.0.0.1:2001' }] })
    await a.register({ name, version: '1', nodes: [{ id: 'w1', address: '127.0.0.1:2002' }] })
    const created = await nextEvent(w, () => true)
    expect(created.action).toBe('create')
    expect(created.service).toMatchObject({
      name,
      version: '1',
      nodes: [{ id: 'w1', address: '127.0.0.1:2002' }],
    })
    expect((await nextEvent(all, (e) => e.service.name === other)).action).toBe('create')
    // The second announcement (1 s later) of an unchanged node is not news: the next event is the update.
    await delay(1300)
    await a.register({
      name,
      version: '1',
      nodes: [{ id: 'w1', address: '127.0.0.1:2002', metadata: { k: 'v' } }],
    })
    const updated = await nextEvent(w, () => true)
    expect(updated.action).toBe('update')
    expect(updated.service.nodes[0].metadata).toEqual({ k: 'v' })
    await a.deregister({ name, version: '1', nodes: [{ id: 'w1', address: '' }] })
    const deleted = await nextEvent(w, (e) => e.action === 'delete')
    expect(deleted.service).toMatchObject({ name, nodes: [{ id: 'w1' }] })
    // The filtered watcher never saw the other service.
    w.stop()
    all.stop()
  })

  it("answers a go-micro client's query (ephemeral port) by unicast, echoing the question", async () => {
    const r = registry()
    const name = uniq('legacy')
    await r.register({
      name,
      version: '3',
      nodes: [{ id: `${name}-1`, address: '127.0.0.1:6001', metadata: { a: 'b' } }],
    })
    const client = makeMdns({ port: 0 })
    try {
      const response = new Promise<{ packet: ResponsePacket; port: number }>((resolve) =>
        client.on('response', (packet, rinfo) => {
          if (packet.answers.some((a) => a.type === 'PTR' && a.name === `${name}.micro`)) {
            resolve({ packet, port: rinfo.port })
          }
        }),
      )
      client.query(
        { id: 4242, questions: [{ name: `${name}.micro.`, type: 'PTR' }] },
        { address: '224.0.0.251', port: 5353 },
      )
      const { packet, port } = await Promise.race([
        response,
        delay(3000).then(() => {
          throw new Error('no answer')
        }),
      ])
      expect(port).toBe(5353)
      expect(packet.id).toBe(4242)
      expect(packet.questions).toEqual([{ name: `${name}.micro`, type: 'PTR', class: 'IN' }])
      const answers = packet.answers as { type: string; name: string; ttl?: number; data?: unknown }[]
      expect(answers.map((a) => [a.type, a.name, a.ttl])).toEqual([
        ['PTR', `${name}.micro`, 120],
        ['SRV', `${name}-1.${name}.micro`, 120],
        ['A', expect.any(String), 120],
        ['TXT', `${name}-1.${name}.micro`, 120],
      ])
      const srv = packet.answers[1] as {
        data: { port: number; target: string; priority: number; weight: number }
      }
      expect(srv.data).toMatchObject({ port: 6001, priority: 10, weight: 1, target: packet.answers[2].name })
      expect(answers[2].data).toBe('127.0.0.1')
    } finally {
      await new Promise<void>((resolve) => client.destroy(() => resolve()))
    }
  })

  it('watch ends on stop(), abort and close()', async () => {
    const r = registry()
    const ac = new AbortController()
    const ws = [r.watch(), r.watch({ signal: ac.signal }), r.watch()]
    const ended = ws.map(async (w) => {
      for await (const _ of w) {
        // drain
      }
      return true
    })
    ws[0].stop()
    ac.abort()
    await expect(ended[0]).resolves.toBe(true)
    await expect(ended[1]).resolves.toBe(true)
    await r.close()
    await expect(ended[2]).resolves.toBe(true)
  })

  it('ttl: a node not refreshed disappears and says goodbye; a refreshed one stays', async () => {
    const a = registry()
    const b = registry()
    const name = uniq('lease')
    const w = b.watch({ service: name })
    await delay(100)
    const node = { id: 'lease-1', address: '127.0.0.1:3001' }
    const kept = { id: 'lease-2', address: '127.0.0.1:3002' }
    await a.register({ name, version: '1', nodes: [node] }, { ttl: 600 })
    await a.register({ name, version: '1', nodes: [kept] }, { ttl: 600 })
    expect((await b.getService(name))[0].nodes).toHaveLength(2)
    const refresher = setInterval(
      () => void a.register({ name, version: '1', nodes: [kept] }, { ttl: 600 }),
      150,
    )
    try {
      const gone = await nextEvent(w, (e) => e.action === 'delete', 5000)
      expect(gone.service.nodes.map((n) => n.id)).toEqual(['lease-1'])
      expect((await b.getService(name))[0].nodes.map((n) => n.id)).toEqual(['lease-2'])
    } finally {
      clearInterval(refresher)
    }
    await eventually(() => notFound(b.getService(name)))
  })

  it('close() says goodbye for its nodes, and a closed registry refuses work', async () => {
    const a = createMdnsRegistry({ timeout: 300 })
    const b = registry()
    const name = uniq('closing')
    const w = b.watch({ service: name })
    await delay(100)
    await a.register({ name, version: '1', nodes: [{ id: 'c1', address: '127.0.0.1:4001' }] })
    await b.getService(name)
    await a.close()
    expect((await nextEvent(w, (e) => e.action === 'delete')).service.nodes[0].id).toBe('c1')
    await notFound(b.getService(name))
    await expect(a.getService(name)).rejects.toMatchObject({ code: 503 })
    await expect(a.register({ name, version: '1', nodes: [] })).rejects.toMatchObject({ code: 503 })
    await a.close() // twice is fine
  })

  it('rejects records it cannot advertise with a 400', async () => {
    const r = registry()
    const bad = async (service: unknown, detail: RegExp) => {
      const err = await r.register(service as Service).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(MicroError)
      expect(err).toMatchObject({ code: 400 })
      expect((err as MicroError).detail).toMatch(detail)
    }
    await bad({ name: uniq('x'), version: '1', nodes: [{ id: 'n', address: 'no-port' }] }, /host and a port/)
    await bad({ name: uniq('x'), version: '1', nodes: [{ id: 'n', address: ':8080' }] }, /no host/)
    await bad({ name: uniq('x'), version: '1', nodes: [{ id: 'n', address: '1.2.3.4:70000' }] }, /port/)
    await bad(
      { name: uniq('x'), version: '1', nodes: [{ id: 'n'.repeat(64), address: '1.2.3.4:1' }] },
      /63 bytes/,
    )
    await bad({ name: 'y'.repeat(64), version: '1', nodes: [] }, /63 bytes/)
    await bad({ name: '', version: '1', nodes: [] }, /name/)
    await notFound(r.getService(''))
  })

  it('survives garbage on the mDNS port', async () => {
    const r = registry()
    const name = uniq('garbage')
    await r.register({ name, version: '1', nodes: [{ id: 'g1', address: '127.0.0.1:5001' }] })
    const w = r.watch()
    const sock = createSocket({ type: 'udp4', reuseAddr: true })
    await new Promise<void>((resolve) => sock.bind(0, resolve))
    const send = (buf: Buffer) =>
      new Promise<void>((resolve, reject) =>
        sock.send(buf, 5353, '224.0.0.251', (e) => (e ? reject(e) : resolve())),
      )
    try {
      await send(Buffer.from('not a dns packet'))
      await send(Buffer.alloc(12, 0xff))
      // Well-formed responses whose contents are not go-micro records.
      const m = makeMdns({ port: 0 })
      const respond = (answers: Parameters<typeof m.respond>[0]) =>
        new Promise<void>((resolve) =>
          m.respond(answers, { address: '224.0.0.251', port: 5353 }, () => resolve()),
        )
      try {
        await respond([
          { name: `bogus.${name}.micro.`, type: 'SRV', ttl: 120, data: { port: 1, target: 'h.' } },
          { name: 'h.', type: 'A', ttl: 120, data: '1.2.3.4' },
          { name: `bogus.${name}.micro.`, type: 'TXT', ttl: 120, data: ['zz', 'not hex'] },
        ])
        await respond([
          // valid hex, not zlib
          { name: `bogus2.${name}.micro.`, type: 'SRV', ttl: 120, data: { port: 1, target: 'h.' } },
          { name: 'h.', type: 'A', ttl: 120, data: '1.2.3.4' },
          { name: `bogus2.${name}.micro.`, type: 'TXT', ttl: 120, data: ['deadbeef'] },
        ])
      } finally {
        await new Promise<void>((resolve) => m.destroy(() => resolve()))
      }
    } finally {
      sock.close()
    }
    await delay(200)
    // Nothing undecodable made it in, and the registry still answers.
    expect(await registry().getService(name)).toEqual([
      { name, version: '1', nodes: [{ id: 'g1', address: '127.0.0.1:5001' }] },
    ])
    w.stop()
  })

  it('sees a service registered by another process, and its goodbye when that process closes', async () => {
    const dist = fileURLToPath(new URL('../dist/registry/index.js', import.meta.url))
    expect(existsSync(dist), 'build core first: pnpm exec tsc -b packages/core').toBe(true)
    const r = registry()
    const name = uniq('xproc')
    const w = r.watch({ service: name })
    await delay(100)
    const script = `
      import { createMdnsRegistry } from ${JSON.stringify(pathToFileURL(dist).href)}
      const r = createMdnsRegistry()
      const service = {
        name: process.env.SVC, version: '2.0.0',
        endpoints: [{ name: 'Child.Ping', metadata: { stream: 'false' } }],
        nodes: [{ id: process.env.SVC + '-child', address: '127.0.0.1:45678', metadata: { pid: String(process.pid) } }],
      }
      await r.register(service, { ttl: 60000 })
      console.log('ready')
      process.stdin.resume()
      process.stdin.on('end', async () => {
        await r.deregister(service)
        await r.close()
        console.log('closed')
      })
    `
    const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, SVC: name },
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout?.on('data', (d) => {
      out += String(d)
    })
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    try {
      const created = await nextEvent(w, (e) => e.action === 'create', 10_000)
      expect(created.service.nodes[0]).toEqual({
        id: `${name}-child`,
        address: '127.0.0.1:45678',
        metadata: { pid: String(child.pid) },
      })
      const [s] = await r.getService(name)
      expect(s).toMatchObject({
        name,
        version: '2.0.0',
        endpoints: [{ name: 'Child.Ping', metadata: { stream: 'false' } }],
      })
      expect(s.nodes[0].metadata?.pid).toBe(String(child.pid))
      child.stdin?.end()
      expect((await nextEvent(w, (e) => e.action === 'delete', 10_000)).service.nodes[0].id).toBe(
        `${name}-child`,
      )
      // close() released its socket and timers: the child exits by itself.
      expect(await exited).toBe(0)
      expect(out).toContain('closed')
      await notFound(r.getService(name))
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  })
})
