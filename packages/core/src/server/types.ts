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

/**
 * A Standard Schema (zod, valibot, arktype, ...): the `~standard` property every such library puts
 * on its schemas. Declared here by shape, so core depends on no schema library.
 */
export interface StandardSchema<Input = unknown, Output = Input> {
  readonly '~standard': StandardSchemaProps<Input, Output>
}

export interface StandardSchemaProps<Input = unknown, Output = Input> {
  readonly version: 1
  readonly vendor: string
  readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>
  readonly types?: { readonly input: Input; readonly output: Output } | undefined
  /**
   * Standard JSON Schema (zod >= 4.2 and arktype >= 2.1.28 have it; valibot through
   * `toStandardJsonSchema` of `@valibot/to-json-schema`): what the registry record is made from.
   */
  readonly jsonSchema?: {
    readonly input: (options: { readonly target: string }) => Record<string, unknown>
  }
}

export type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<StandardIssue> }

export interface StandardIssue {
  readonly message: string
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined
}

/** The type a schema accepts (`unknown` for a registry `Value` or nothing). */
export type SchemaInput<S> = S extends StandardSchema<infer I, unknown> ? I : unknown
/** The type a schema yields once validated (`unknown` for a registry `Value` or nothing). */
export type SchemaOutput<S> = S extends StandardSchema<unknown, infer O> ? O : unknown

/**
 * Endpoint specs keyed by method name, as `handle(h, { endpoints })` takes them: with Standard
 * Schemas they are also the contract a typed client is made from
 * (`client.service<typeof greeterSpec>('greeter', 'Greeter')`).
 */
export type EndpointSpecs = Record<string, EndpointSpec>

/**
 * The handler class a spec asks for: `class Greeter implements SchemaHandler<typeof spec>` has the
 * compiler check each method's request and response against the schemas.
 */
export type SchemaHandler<S extends EndpointSpecs> = {
  [K in keyof S]: (
    request: S[K] extends { readonly request: infer R } ? SchemaOutput<R> : unknown,
    ctx: HandlerContext,
  ) => Promise<HandlerAnswer<S[K]>> | HandlerAnswer<S[K]>
}
type HandlerAnswer<S> = S extends { readonly response: infer R } ? SchemaInput<R> : unknown

/** Per-endpoint description published in the registry. */
export interface EndpointSpec {
  /**
   * The request: a Standard Schema is checked before the handler runs (a 400 naming the field
   * otherwise; the handler gets the schema's output) and published as go-micro's `Value`; a
   * `Value` is published as is.
   */
  request?: Value | StandardSchema
  /** The response: a Standard Schema is published as a `Value` (answers are not checked). */
  response?: Value | StandardSchema
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
