/**
 * A small HTTP listener of its own for the health endpoints, so a service whose transport does
 * not speak HTTP (tcp, grpc) still answers Kubernetes' httpGet probes.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { HttpResponse } from '../transport/types.js'
import { formatAddress, parseAddress } from '../util/address.js'

export interface HealthListener {
  /** The bound `host:port` (port 0 resolved). */
  readonly address: string
  close(): Promise<void>
}

/** The health paths (the server may answer more, such as `/metrics`; what it does not answer is a 404). */
export const HEALTH_PATHS = ['/health', '/health/live', '/health/ready'] as const

/**
 * Listen on `address` (`host:port`, `:port` for every interface) and answer GET/HEAD with what
 * `serve(path)` gives: the health paths, and `/metrics` when the service has a recorder.
 */
export async function listenHealth(
  address: string,
  serve: (path: string) => Promise<HttpResponse | undefined>,
): Promise<HealthListener> {
  const { host, port } = parseAddress(address, 'go.micro.server')
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n')
      return
    }
    serve(path).then(
      (rsp) => {
        if (!rsp) res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n')
        else res.writeHead(rsp.status, rsp.headers).end(req.method === 'HEAD' ? undefined : rsp.body)
      },
      (e: unknown) => {
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${(e as Error)?.message ?? e}\n`)
      },
    )
  })
  // Probes are short requests: a slow or idle client must not hold the listener open.
  server.requestTimeout = 10_000
  server.headersTimeout = 5_000
  server.keepAliveTimeout = 5_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port, host: host || undefined }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const bound = server.address() as AddressInfo
  return {
    address: formatAddress(host || bound.address, bound.port),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
