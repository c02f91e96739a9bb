/**
 * @micro-ts/transport-grpc — go-micro's gRPC transport (`MICRO_TRANSPORT=grpc`): RPC over
 * `go.micro.transport.grpc.Transport/Stream`, so TypeScript and go-micro services call each other.
 */
import { definePlugin } from '@micro-ts/core'
import { type GrpcTransportOptions, grpcTransportOptions } from './options.js'
import { createGrpcTransport } from './transport.js'

export { type GrpcTlsOptions, type GrpcTransportOptions, grpcTransportOptions } from './options.js'
export { createGrpcTransport, GrpcTransport } from './transport.js'

export default definePlugin({
  kind: 'transport',
  name: 'grpc',
  options: grpcTransportOptions,
  capabilities: ['stream'],
  create: ({ options, logger }) => createGrpcTransport({ ...(options as GrpcTransportOptions), logger }),
})
