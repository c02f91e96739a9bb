/**
 * What a hostile client can make a tcp listener hold: the stream window is enforced on what the
 * peer sends, bytes no handler took are bounded across connections, and the listener has an idle
 * timeout, a connection cap and a cap on open streams per connection. The memory cases run the
 * listener in a process of its own (fixtures/tcp-listener.mjs) and measure it there.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import type { Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createTcpTransport, type MicroError } from '../src/index.js'
import {
  defer,
  echo,
  message,
  rawSocket,
  rejection,
  sleep,
  TCP_PREFACE,
  tcpFrame,
  tcpMessage,
  text,
  transportKit,
  until,
} from './transport-helpers.js'

const REQUEST = 1
const STREAM_OPEN = 4
const STREAM_MESSAGE = 5
const STREAM_ERROR = 7
const MiB = 1024 * 1024

const { transport, serve } = transportKit(createTcpTransport)

interface Stats {
  rss: number
  arrayBuffers: number
  heapUsed: number
  streams: number
  reasons: number[]
}

/** The fixture listener with `options`; `stats()` asks it for its memory and stream reasons. */
async function listenerProcess(
  options: Record<string, unknown>,
): Promise<{ address: string; stats(): Promise<Stats>; child: ChildProcess }> {
  const child = fork(
    fileURLToPath(new URL('./fixtures/tcp-listener.mjs', import.meta.url)),
    [JSON.stringify(options)],
    {
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  )
  defer(() => child.kill())
  const [{ address }] = (await once(child, 'message')) as [{ address: string }]
  const stats = async () => {
    child.send('stats')
    const [s] = (await once(child, 'message')) as [Stats]
    return s
  }
  return { address, stats, child }
}

/** Frames a raw client read off `socket`: [type, id, payload]. */
function frames(socket: Socket): [number, number, Buffer][] {
  const out: [number, number, Buffer][] = []
  let buf = Buffer.alloc(0)
  let preface = true
  socket.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c])
    if (preface) {
      if (buf.length < 4) return
      buf = buf.subarray(4)
      preface = false
    }
    while (buf.length >= 9 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const length = buf.readUInt32BE(0)
      out.push([buf[4], buf.readUInt32BE(5), buf.subarray(9, 4 + length)])
      buf = buf.subarray(4 + length)
    }
  })
  return out
}

describe('tcp listener: the stream window is enforced on what the client sends', () => {
  it('60,000 × 1 KiB messages to a stream whose handler never reads: a 429, and the memory stays flat', async () => {
    const server = await listenerProcess({})
    const before = await server.stats()
    const socket = rawSocket(server.address)
    const got = frames(socket)
    await once(socket, 'connect')
    socket.write(Buffer.concat([TCP_PREFACE, tcpFrame(STREAM_OPEN, 1, tcpMessage(Buffer.alloc(0)))]))
    const one = tcpFrame(STREAM_MESSAGE, 1, tcpMessage(Buffer.alloc(1024, 7)))
    // A client that ignores STREAM_WINDOW: everything at once, in 60 writes of 1,000 messages.
    const batch = Buffer.concat(Array.from({ length: 1_000 }, () => one))
    for (let i = 0; i < 60; i++) if (!socket.write(batch)) await once(socket, 'drain')
    await until(() => got.some(([type, id]) => type === STREAM_ERROR && id === 1), 10_000)
    const [, , payload] = got.find(([type]) => type === STREAM_ERROR) ?? []
    const err = JSON.parse(String(payload)) as MicroError
    expect(err.code).toBe(429)
    expect(err.detail).toMatch(/window/)
    // Before the window was enforced the server kept all ~60 MiB for the one stream; now it holds
    // what is still arriving at most (it reads and drops the rest of the frames).
    let after = await server.stats()
    for (let i = 0; i < 20 && after.arrayBuffers - before.arrayBuffers >= 8 * MiB; i++) {
      await sleep(150)
      after = await server.stats()
    }
    expect(after.reasons).toEqual([429])
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(8 * MiB)
  }, 30_000)

  it('a well-behaved sender is never refused, however many messages it sends', async () => {
    let received = 0
    const l = await serve({
      ...echo,
      async stream(s) {
        for (;;) {
          const m = await s.recv()
          if (!m) break
          received++
          if (received % 500 === 0) await sleep(5) // a slow reader now and then
        }
        await s.close()
      },
    })
    const stream = await transport().stream(l.address, message(''))
    for (let i = 0; i < 5_000; i++) await stream.send(message('m'))
    await stream.closeSend()
    expect(await stream.recv()).toBeUndefined()
    expect(received).toBe(5_000)
  })
})

describe('tcp listener: bytes no handler took are bounded', () => {
  it('300 half-sent frames do not grow the server by what they sent; the idle timeout closes them', async () => {
    const server = await listenerProcess({ maxBuffered: 8 * MiB, maxBodySize: 2 * MiB, idleTimeout: 5_000 })
    const before = await server.stats()
    const sockets: Socket[] = []
    const closed = new Set<Socket>()
    // Each declares a 2 MiB request and sends half of it: 300 MiB in all.
    const head = tcpFrame(REQUEST, 1, Buffer.alloc(0), 5 + 2 * MiB)
    const half = Buffer.alloc(MiB, 1)
    for (let i = 0; i < 300; i++) {
      const s = rawSocket(server.address)
      s.resume()
      s.once('close', () => closed.add(s))
      s.write(Buffer.concat([TCP_PREFACE, head, half]))
      sockets.push(s)
    }
    await sleep(4_000)
    const during = await server.stats()
    // The server holds its budget (8 MiB) and a socket read or two for each connection it stopped
    // reading (~46 MiB here); without the budget it held all that arrived (250 MiB and more).
    expect(during.arrayBuffers - before.arrayBuffers).toBeLessThan(96 * MiB)
    // Nothing completes, nothing is in flight: the idle timeout closes every connection.
    await until(() => closed.size === sockets.length, 15_000)
    // What the closed connections held is freed (their sockets finish closing a moment later).
    let held = Number.POSITIVE_INFINITY
    for (let i = 0; i < 20 && held >= 4 * MiB; i++) {
      if (i > 0) await sleep(150)
      held = (await server.stats()).arrayBuffers - before.arrayBuffers
    }
    expect(held).toBeLessThan(4 * MiB)
  }, 40_000)

  it('large requests beyond the budget are all served, a budget at a time', async () => {
    const l = await createTcpTransport({ maxBuffered: 2 * MiB }).listen('127.0.0.1:0', {
      async request(m) {
        await sleep(20)
        return { headers: {}, body: Buffer.from(String(m.body.length)) }
      },
    })
    defer(() => l.close(0))
    const clients = Array.from({ length: 4 }, () => transport())
    const answers = await Promise.all(
      clients.flatMap((t) =>
        Array.from({ length: 5 }, () => t.request(l.address, message(Buffer.alloc(MiB, 3)))),
      ),
    )
    expect(answers.map((a) => text(a.body))).toEqual(Array(20).fill(String(MiB)))
  })
})

describe('tcp listener: idle timeout, connection cap, stream cap', () => {
  it('idleTimeout closes an idle connection; one with a request in flight stays; our client redials', async () => {
    const l = await createTcpTransport({ idleTimeout: 200 }).listen('127.0.0.1:0', {
      async request(m) {
        if (text(m.body) === 'slow') await sleep(1_000)
        return m
      },
    })
    defer(() => l.close(0))
    const stalled = rawSocket(l.address)
    let stalledClosed = false
    stalled.once('close', () => {
      stalledClosed = true
    })
    stalled.resume() // read what the server sends (its GOAWAY), so its close is seen
    stalled.write(TCP_PREFACE)
    const t = transport()
    const slow = t.request(l.address, message('slow'))
    await until(() => stalledClosed, 5_000)
    expect(text((await slow).body)).toBe('slow')
    // The pooled connection went idle and was told to go away: the next request just redials.
    await sleep(600)
    expect(text((await t.request(l.address, message('again'))).body)).toBe('again')
  })

  it('maxConnections: connections past the cap are closed as they arrive; the others are served', async () => {
    const l = await createTcpTransport({ maxConnections: 3 }).listen('127.0.0.1:0', echo)
    defer(() => l.close(0))
    const sockets = Array.from({ length: 3 }, () => rawSocket(l.address))
    const prefaces = sockets.map((s) => once(s, 'data'))
    await Promise.all(prefaces)
    const extra = rawSocket(l.address)
    let extraData = false
    extra.on('data', () => {
      extraData = true
    })
    await once(extra, 'close')
    expect(extraData).toBe(false)
    for (const s of sockets) s.destroy()
    await sleep(50)
    expect(text((await transport().request(l.address, message('in'))).body)).toBe('in')
  })

  it('maxStreams: a stream past the cap on one connection is refused with 429', async () => {
    const l = await createTcpTransport({ maxStreams: 2 }).listen('127.0.0.1:0', {
      ...echo,
      async stream(s) {
        while (await s.recv()) {}
        await s.close()
      },
    })
    defer(() => l.close(0))
    const t = transport()
    const open = [await t.stream(l.address, message('')), await t.stream(l.address, message(''))]
    const third = await t.stream(l.address, message(''))
    expect((await rejection(third.recv())).code).toBe(429)
    for (const s of open) {
      await s.closeSend()
      expect(await s.recv()).toBeUndefined()
    }
    // Closed streams free their places.
    const again = await t.stream(l.address, message(''))
    await again.closeSend()
    expect(await again.recv()).toBeUndefined()
  })
})
