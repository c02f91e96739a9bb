import type { Codec, ProtoType } from '../codec/types.js'
import type { Node } from '../registry/types.js'
import type { SelectOptions } from '../selector/types.js'
import type { SchemaInput, SchemaOutput, StandardSchema } from '../server/types.js'

/** Milliseconds to wait before retry `attempt` (1 for the first retry). */
export type BackoffFunc = (attempt: number) => number

export interface CallOptions {
  /** Per-call deadline in ms (default `MICRO_CLIENT_REQUEST_TIMEOUT` or 30 s). It travels to the server as the `Timeout` header. */
  timeout?: number
  /** Extra attempts on another node (default `MICRO_CLIENT_RETRIES` or 1). */
  retries?: number
  backoff?: BackoffFunc
  /**
   * The handler may safely run twice: retry even when the request may have reached the server
   * (lost connection, timeout). Without it only requests that provably did not run are retried.
   */
  idempotent?: boolean
  /** Call these `host:port` addresses directly, bypassing the selector. */
  address?: string | string[]
  /** Extra headers (go-micro's context metadata). */
  headers?: Record<string, string>
  /** Request content type (default `application/json`). */
  contentType?: string
  /**
   * Encode the request and decode the answer with this codec instead of the one for the content
   * type (and send its `contentType`): `rawCodec('application/json')` sends bytes already encoded
   * and resolves to the answer's bytes. An answer in another content type is decoded by its own.
   */
  codec?: Codec
  signal?: AbortSignal
  select?: SelectOptions
  /** Wrappers for this call only, applied inside the client's own. */
  wrappers?: CallWrapper[]
  /** Protobuf types, for `application/protobuf` calls. */
  requestType?: ProtoType
  responseType?: ProtoType
}

/** One outgoing call as wrappers see it. */
export interface CallRequest {
  service: string
  endpoint: string
  body: unknown
  contentType: string
  headers: Record<string, string>
}

/** Performs one attempt against one node. */
export type CallFunc = (node: Node, request: CallRequest, options: CallOptions) => Promise<unknown>
/** go-micro's CallWrapper: middleware around each attempt (sees the node). */
export type CallWrapper = (next: CallFunc) => CallFunc

export interface PublishMessageOptions {
  headers?: Record<string, string>
  contentType?: string
  requestType?: ProtoType
}

/** A client-side RPC stream of decoded messages. */
export interface RpcStream<Req = unknown, Res = unknown> extends AsyncIterable<Res> {
  send(message: Req): Promise<void>
  /** Next response, `undefined` at end of stream; rejects with the server's MicroError. */
  recv(): Promise<Res | undefined>
  closeSend(): Promise<void>
  close(): Promise<void>
}

type AnyFn = (...args: never[]) => unknown

/** An endpoint spec with a Standard Schema (`{ request: HelloRequest, response: HelloResponse }`). */
type SchemaSpec = { readonly request: StandardSchema } | { readonly response: StandardSchema }
type RequestOf<S> = S extends { readonly request: infer R } ? SchemaInput<R> : unknown
type ResponseOf<S> = S extends { readonly response: infer R } ? SchemaOutput<R> : unknown

/**
 * A typed proxy for one handler: `client.service<Greeter>('greeter', 'Greeter').Hello({name})`
 * is checked against `Greeter.Hello`'s request and response types. `T` may also be the endpoint
 * specs given to `handle(h, { endpoints })`: a member holding Standard Schemas is called with the
 * request schema's input type and resolves to the response schema's output type.
 */
export type ServiceProxy<T> = {
  [K in keyof T as T[K] extends AnyFn ? K : T[K] extends SchemaSpec ? K : never]: T[K] extends (
    req: infer Req,
    ...rest: never[]
  ) => infer Res
    ? (request: Req, options?: CallOptions) => Promise<Awaited<Res>>
    : T[K] extends SchemaSpec
      ? (request: RequestOf<T[K]>, options?: CallOptions) => Promise<ResponseOf<T[K]>>
      : never
}

export interface Client {
  call<Res = unknown, Req = unknown>(
    service: string,
    endpoint: string,
    request: Req,
    options?: CallOptions,
  ): Promise<Res>
  stream<Req = unknown, Res = unknown>(
    service: string,
    endpoint: string,
    options?: CallOptions,
  ): Promise<RpcStream<Req, Res>>
  publish(topic: string, message: unknown, options?: PublishMessageOptions): Promise<void>
  service<T extends object>(name: string, handler: string, options?: CallOptions): ServiceProxy<T>
}
