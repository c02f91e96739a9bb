/**
 * Core's RPC client and server over the transport under test. go-micro's `Timeout` header is
 * theirs (the client writes it, the server enforces it); a transport carries it like any other
 * header. The deadline cases check that promise end to end.
 */
import {
  createMemoryRegistry,
  createSelector,
  type HandlerContext,
  RpcClient,
  RpcServer,
  silentLogger,
} from '@micro-ts/core'
import { uniqueName } from '../util.js'
import type { TransportSuite } from './context.js'

/** What a handler of the RPC server is given, as the cases use it. */
export type RpcHandler = (request: unknown, ctx: HandlerContext) => Promise<unknown>

export interface RpcPair {
  /** The service name the server registered. */
  service: string
  /** Where the server listens (call it with `address`, the selector is not involved). */
  address: string
  client: RpcClient
}

/** An RPC server serving `Conformance.<Method>` on one fresh transport, and a client on another. */
export async function rpcPair(t: TransportSuite, methods: Record<string, RpcHandler>): Promise<RpcPair> {
  const registry = createMemoryRegistry()
  const service = uniqueName('rpc')
  const server = new RpcServer({
    name: service,
    transport: await t.h.fresh(),
    registry,
    address: t.listenAddress,
    logger: silentLogger,
  })
  server.handle(methods, { name: 'Conformance' })
  await server.start()
  t.h.defer('server.stop()', () => server.stop())
  const client = new RpcClient({
    transport: await t.h.fresh(),
    selector: createSelector({ registry }),
    retries: 0,
    logger: silentLogger,
  })
  return { service, address: server.address, client }
}
