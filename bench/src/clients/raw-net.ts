/**
 * The most a Node-to-Node call can do here: one TCP connection, every request multiplexed on it
 * as a length-prefixed frame with an id, JSON by hand. (`connections` opens more, used in turn:
 * the memory rows.)
 */
import net from 'node:net'
import { corkingWriter, encodeFrame, FrameReader } from '../frames.js'
import { bigBody, checkResponse, GREETER_REQUEST } from '../payloads.js'
import { type BenchClient, type DriverConfig, splitHostPort } from './types.js'

interface Waiter {
  resolve(v: unknown): void
  reject(e: Error): void
}

async function connect(host: string, port: number, waiting: Map<number, Waiter>) {
  const socket = net.connect({ host, port, noDelay: true })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  const reader = new FrameReader((id, _kind, payload) => {
    const w = waiting.get(id)
    if (!w) return
    waiting.delete(id)
    try {
      w.resolve(JSON.parse(payload.toString()))
    } catch (e) {
      w.reject(e as Error)
    }
  })
  socket.on('data', (chunk: Buffer) => reader.push(chunk))
  const fail = (e: Error) => {
    for (const w of waiting.values()) w.reject(e)
    waiting.clear()
  }
  socket.on('error', fail)
  socket.on('close', () => fail(new Error('connection closed')))
  return { socket, write: corkingWriter(socket) }
}

export async function create(config: DriverConfig): Promise<BenchClient> {
  const { host, port } = splitHostPort(config.address)
  // One map of calls in flight for every connection: ids are unique across them.
  const waiting = new Map<number, Waiter>()
  const conns = await Promise.all(
    Array.from({ length: config.connections ?? 1 }, () => connect(host, port, waiting)),
  )
  const big = bigBody()
  let nextId = 1
  let turn = 0
  return {
    async call(kind) {
      const id = nextId++ >>> 0
      const body = JSON.stringify(kind === 'greeter' ? GREETER_REQUEST : big)
      const conn = conns.length === 1 ? conns[0] : conns[turn++ % conns.length]
      const rsp = await new Promise<unknown>((resolve, reject) => {
        waiting.set(id, { resolve, reject })
        conn.write(encodeFrame(id, kind === 'greeter' ? 1 : 2, Buffer.from(body)))
      })
      checkResponse(kind, rsp, big.items.length)
    },
    async close() {
      for (const c of conns) c.socket.destroy()
    },
  }
}
