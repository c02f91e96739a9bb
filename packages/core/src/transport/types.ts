import type { MicroError } from '../errors.js'

/**
 * Transport: how RPC bytes move between a client and a server. Unary requests may be many in
 * flight on pooled connections; streams are bidirectional and ordered.
 *
 * Who owns what in a message's headers:
 * - Names: a transport lower-cases them once, on receipt (what a handler, the RPC server and
 *   the RPC client read is lower-case); what it sends keeps the sender's case.
 * - go-micro's `Timeout` (the caller's deadline, in nanoseconds): the RPC client writes it from
 *   the call's timeout, the RPC server reads it and aborts the handler at the deadline (through
 *   `RequestContext.abortAt`). A transport carries it like any other header: it neither writes
 *   it from `RequestOptions.timeout` nor parses it. The client's own deadline (`timeout`,
 *   `signal`) only ends the client's side and tells the server it gave up where the wire can.
 */

/** go-micro's `transport.Message`. Header names are case-insensitive: implementations lower-case them on receipt. */
export interface TransportMessage {
  headers: Record<string, string>
  body: Uint8Array
}

export interface RequestOptions {
  /** Deadline/cancellation: aborting rejects the request with a 408 (timeout) or 499 (canceled) MicroError. */
  signal?: AbortSignal
  /** Milliseconds; a shortcut for a timeout signal. Any length (days included). Not sent as a header. */
  timeout?: number
}

/** What the server side gets with each request. */
export interface RequestContext {
  /** Fires when the client goes away, the server shuts down, or the deadline set by abortAt passes. */
  signal: AbortSignal
  /** Remote `host:port`. */
  remote: string
  /**
   * Calls `listener` once if the request is aborted (same moments as `signal`), without creating
   * the AbortSignal: Node's AbortSignal costs several percent of a small request's CPU, so
   * transports make it lazily (see LazyAbort) and the server listens here. Returns an unsubscribe.
   * Optional: without it the server listens on `signal`.
   */
  onAbort?(listener: (reason: MicroError) => void): () => void
  /**
   * Abort the request with `reason()` at `deadline` (ms since the epoch) unless it finished first:
   * `signal` and onAbort listeners fire, a stream's recv/send reject. The RPC server sets the
   * caller's deadline through it; the transport drops it when the request finishes, so a finished
   * request holds no timer (LazyAbort's abortAt/clearDeadline do both). Deadlines share one timer
   * and may be days away. Optional: without it the server keeps a deadline of its own.
   */
  abortAt?(deadline: number, reason: () => MicroError): void
}

/** Server-side view of a bidirectional stream. */
export interface ServerStream {
  /** The opening message's headers (lower-cased names). */
  readonly headers: Record<string, string>
  send(message: TransportMessage): Promise<void>
  /** Next message from the client; `undefined` once the client closed its side. */
  recv(): Promise<TransportMessage | undefined>
  /** End the server's side (the client's `recv()` then yields undefined). */
  close(error?: Error): Promise<void>
  readonly signal: AbortSignal
}

/** Client-side view of a bidirectional stream. */
export interface ClientStream {
  send(message: TransportMessage): Promise<void>
  /** Next message from the server; `undefined` once the server closed its side. Rejects with a MicroError on failure. */
  recv(): Promise<TransportMessage | undefined>
  /** Close the client's sending side; the server sees end of stream and may still reply. */
  closeSend(): Promise<void>
  /** Tear the stream down in both directions. */
  close(): Promise<void>
}

export interface TransportHandler {
  /** Answer one unary request. Throwing is turned into an error response by the transport. */
  request(message: TransportMessage, ctx: RequestContext): Promise<TransportMessage>
  /** Serve one stream. Optional: a server without it rejects streams with 501. */
  stream?(stream: ServerStream, ctx: RequestContext): Promise<void>
  /**
   * Plain `GET <path>` on transports that speak HTTP (the health endpoints `/health`,
   * `/health/live`, `/health/ready`). Return undefined for 404. Other transports ignore it.
   */
  get?(path: string): Promise<HttpResponse | undefined>
}

export interface HttpResponse {
  status: number
  headers?: Record<string, string>
  body: Uint8Array
}

export interface ListenOptions {
  /** Largest request body accepted, in bytes (default 10 MiB); larger gets a 413 MicroError. */
  maxBodySize?: number
}

export interface Listener {
  /** The real `host:port` (port 0 resolved). */
  readonly address: string
  /** Stop accepting; wait for in-flight requests up to `graceMs`, then drop connections. */
  close(graceMs?: number): Promise<void>
}

export interface Transport {
  readonly name: string
  listen(address: string, handler: TransportHandler, options?: ListenOptions): Promise<Listener>
  /** Send one request to `address` (`host:port`) and wait for its response. */
  request(address: string, message: TransportMessage, options?: RequestOptions): Promise<TransportMessage>
  /** Open a bidirectional stream; `message` carries the opening headers (and optional first body). */
  stream(address: string, message: TransportMessage, options?: RequestOptions): Promise<ClientStream>
  /** Close pooled client connections. */
  close(): Promise<void>
}
