import type { ProtoType } from '../codec/types.js'
import type { Endpoint, Value } from '../registry/types.js'

/**
 * What a handler gets beside its request. `signal` and `remote` are getters (the signal is made
 * on first read), so a wrapper that passes on a changed context should keep them explicitly:
 * `next(req, { ...ctx, signal: ctx.signal, remote: ctx.remote, headers })`.
 */
export interface HandlerContext {
  service: string
  endpoint: string
  /** Request headers, lower-cased names (go-micro's context metadata). */
  headers: Record<string, string>
  /** Fires when the caller's deadline passes, the caller goes away, or the server stops. */
  signal: AbortSignal
  /** Epoch ms by which the caller wants an answer, when it sent a deadline. */
  deadline?: number
  remote: string
}

export interface ServerRequest {
  service: string
  endpoint: string
  contentType: string
  headers: Record<string, string>
  /** The decoded request body. */
  body: unknown
}

export type HandlerFunc = (request: ServerRequest, ctx: HandlerContext) => Promise<unknown>
/** go-micro's HandlerWrapper: middleware around every handler call. */
export type HandlerWrapper = (next: HandlerFunc) => HandlerFunc

export interface SubscriberMessage {
  topic: string
  headers: Record<string, string>
  contentType: string
  /** The decoded body. */
  body: unknown
}
export interface SubscriberContext {
  topic: string
  headers: Record<string, string>
}
export type SubscriberFunc = (message: SubscriberMessage, ctx: SubscriberContext) => Promise<void>
export type SubscriberWrapper = (next: SubscriberFunc) => SubscriberFunc

/** Per-endpoint description published in the registry. */
export interface EndpointSpec {
  request?: Value
  response?: Value
  metadata?: Record<string, string>
  /** A bidirectional streaming endpoint: the method is called with an RpcServerStream. */
  stream?: boolean
  requestType?: ProtoType
  responseType?: ProtoType
}

export interface HandleOptions {
  /** Handler name (the `Greeter` in `Greeter.Hello`); defaults to the class name. */
  name?: string
  /**
   * Serve exactly these methods (any case; inherited ones may be named). Without it the served
   * methods follow go-micro's rule: those whose name starts with an upper-case letter.
   */
  methods?: readonly string[]
  /**
   * Also serve upper-case methods inherited from the classes the handler's class extends
   * (default false: only the class's own methods and the object's own function fields).
   * Object.prototype is never served.
   */
  inherited?: boolean
  /** Registry description per served method, keyed by method name. */
  endpoints?: Record<string, EndpointSpec>
  /** Hidden from the registry. */
  internal?: boolean
}

export interface SubscribeHandlerOptions {
  /** Queue group: each message is handled by one member of the group. */
  queue?: string
  /** Protobuf type of the message body. */
  type?: ProtoType
}

/** Server side of a streaming endpoint: receive decoded requests, send responses. */
export interface RpcServerStream<Req = unknown, Res = unknown> extends AsyncIterable<Req> {
  readonly context: HandlerContext
  /** Next message from the client, `undefined` once it closed its side. */
  recv(): Promise<Req | undefined>
  send(message: Res): Promise<void>
}

export type { Endpoint }
