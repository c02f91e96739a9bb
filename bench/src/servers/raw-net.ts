/** The raw `net` server: length-prefixed frames, one JSON request per frame, answered by id. */
import net, { type AddressInfo } from 'node:net'
import { corkingWriter, encodeFrame, FrameReader } from '../frames.js'
import { echo, hello } from '../payloads.js'
import type { BenchServer } from './types.js'

export async function start(): Promise<BenchServer> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    const write = corkingWriter(socket)
    const reader = new FrameReader((id, kind, payload) => {
      const req = JSON.parse(payload.toString())
      const rsp = kind === 1 ? hello(req) : echo(req)
      write(encodeFrame(id, kind, Buffer.from(JSON.stringify(rsp))))
    })
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk)
      } catch {
        socket.destroy()
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    info: { address: `127.0.0.1:${port}` },
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise((r) => server.close(r))
    },
  }
}
