/**
 * The transport suite: go-micro's transport tests (echo, server close, timeout, close during
 * recv, several sends while receiving) plus concurrency on one client, large messages,
 * case-insensitive headers, cancellation, bad addresses and the bidirectional stream contract.
 * One file per capability group; this one wires them together.
 */
import type { Transport } from '@micro-ts/core'
import { defineSuite } from '../suite.js'
import type { CommonOptions, SuiteSpec } from '../types.js'
import { transportClose } from './close.js'
import { transportContext } from './context.js'
import { transportDeadline } from './deadline.js'
import { transportErrors } from './errors.js'
import { transportHeaders } from './headers.js'
import { transportRequest } from './request.js'
import { transportStream } from './stream.js'

/**
 * - `stream`: bidirectional streams (`transport.stream()` and `TransportHandler.stream`).
 *   Absent: `stream()` (or the stream's first `recv()`) rejects with a MicroError.
 */
export type TransportCapability = 'stream'
export const TRANSPORT_CAPABILITIES: readonly TransportCapability[] = ['stream']

export interface TransportConformanceOptions extends CommonOptions {
  /** Where servers listen (default `127.0.0.1:0`: the port must be resolved by the listener). */
  listenAddress?: string
  /** Size of the large-message case, bytes (default 4 MiB). */
  largeMessageSize?: number
  /** Requests in flight at once in the concurrency case (default 1 000). */
  concurrency?: number
  /** The deadline the timeout case sets, ms (default 200). */
  deadline?: number
  /** How long a request that must fail may take to fail ("no hang"), ms (default 5 000). */
  failWithin?: number
}

export type TransportConformanceSpec = SuiteSpec<Transport, TransportCapability, TransportConformanceOptions>

/** Register the transport conformance suite for one transport implementation. */
export function transportConformance(spec: TransportConformanceSpec): void {
  defineSuite('transport', spec, TRANSPORT_CAPABILITIES, () => {
    const t = transportContext(spec)
    transportRequest(t)
    transportHeaders(t)
    transportErrors(t)
    transportDeadline(t)
    transportClose(t)
    transportStream(t)
  })
}
