/**
 * @micro-ts/transport-grpc — go-micro's gRPC transport (`MICRO_TRANSPORT=grpc`): RPC over
 * `go.micro.transport.grpc.Transport/Stream`, so TypeScript and go-micro services call each other.
 */
import { definePlugin, MicroError } from '@micro-ts/core'
import { type GrpcTransportOptions, SERVER_ID } from './options.js'
import { createGrpcTransport } from './transport.js'

export type { GrpcTlsOptions, GrpcTransportOptions } from './options.js'
export { createGrpcTransport, GrpcTransport } from './transport.js'

/** Options the plugin loader may pass (`--options` of the conformance runner, or code). */
const OPTION_KEYS = [
  'channels',
  'connectTimeout',
  'maxMessageSize',
  'keepaliveTime',
  'keepaliveTimeout',
  'idleTimeout',
  'maxIdleSockets',
  'tls',
] as const

export default definePlugin({
  kind: 'transport',
  name: 'grpc',
  create({ options, logger }) {
    const unknown = Object.keys(options).filter((k) => !(OPTION_KEYS as readonly string[]).includes(k))
    if (unknown.length > 0) {
      throw new MicroError(
        SERVER_ID,
        400,
        `grpc transport: unknown option(s) ${unknown.join(', ')}; accepted: ${OPTION_KEYS.join(', ')}`,
      )
    }
    return createGrpcTransport({ ...(options as GrpcTransportOptions), logger })
  },
})
