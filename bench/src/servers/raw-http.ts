/** The raw HTTP server both raw clients load: node:http, POST /hello and /echo, JSON by hand. */
import http from 'node:http'
import { echo, hello } from '../payloads.js'
import { listenLoopback } from './http-listen.js'
import type { BenchServer } from './types.js'

export async function start(config: { port?: number } = {}): Promise<BenchServer> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      let body: string
      try {
        const parsed = JSON.parse(Buffer.concat(chunks).toString())
        if (req.url === '/hello') body = JSON.stringify(hello(parsed))
        else if (req.url === '/echo') body = JSON.stringify(echo(parsed))
        else {
          res.writeHead(404).end()
          return
        }
      } catch (e) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end((e as Error).message)
        return
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    })
  })
  server.keepAliveTimeout = 60_000
  return listenLoopback(server, config.port)
}
