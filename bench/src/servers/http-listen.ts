/** How the bench's bare `node:http` servers listen on loopback and stop. */
import type http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { BenchServer } from './types.js'

/**
 * Listens on 127.0.0.1 (`port`, else any free one). The close cuts keep-alive connections first,
 * because the clients keep theirs open and server.close() would wait for them; `after` runs last.
 */
export async function listenLoopback(
  server: http.Server,
  port = 0,
  after?: () => Promise<unknown>,
): Promise<BenchServer> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const address = server.address() as AddressInfo
  return {
    info: { address: `127.0.0.1:${address.port}` },
    async close() {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
      await after?.()
    },
  }
}
