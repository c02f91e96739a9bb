/**
 * The ceiling of any Node HTTP hop in front of our greeter: a `node:http` server that takes the
 * gateway's `POST /{service}/{Handler.Method}` and forwards the body bytes unparsed to the greeter
 * over an undici Pool as go-micro's HTTP transport wants them (`POST /` with `Micro-Service` /
 * `Micro-Endpoint`), answering with the greeter's bytes. No framework, no registry, no checks
 * beyond a remote error's status: what a hop costs before a gateway does any work of its own.
 */
import http from 'node:http'
import { Pool } from 'undici'
import { listenLoopback } from './http-listen.js'
import type { BenchServer, ServerConfig } from './types.js'

export async function start(config: ServerConfig): Promise<BenchServer> {
  const target = config.service?.nodes[0]?.address
  if (!target) throw new Error('bare-proxy: the greeter record (with a node) is missing')
  // As many connections as our HTTP transport keeps per node, so both hops hold the same sockets.
  const pool = new Pool(`http://${target}`, { connections: 100, pipelining: 1 })
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/'
    const slash = url.indexOf('/', 1)
    if (slash < 0) {
      res.writeHead(404).end()
      return
    }
    const service = url.slice(1, slash)
    const endpoint = url.slice(slash + 1)
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      pool
        .request({
          method: 'POST',
          path: '/',
          headers: {
            'content-type': 'application/json',
            'micro-service': service,
            'micro-endpoint': endpoint,
          },
          body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks),
        })
        .then(async ({ headers, body }) => {
          const bytes = Buffer.from(await body.arrayBuffer())
          const remote = headers['micro-error']
          if (typeof remote === 'string') {
            const code = (JSON.parse(remote) as { code?: number }).code ?? 500
            res.writeHead(code >= 400 && code <= 599 ? code : 500, { 'content-type': 'application/json' })
            res.end(remote)
            return
          }
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': bytes.length })
          res.end(bytes)
        })
        .catch((e: unknown) => {
          if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' })
          res.end((e as Error).message)
        })
    })
  })
  server.keepAliveTimeout = 65_000
  return listenLoopback(server, 0, () => pool.close())
}
