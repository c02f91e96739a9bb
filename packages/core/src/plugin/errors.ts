/**
 * Error constructors per kind, built on core's named `errors.*`: every error a plugin makes
 * carries its kind's id (go-micro's package names) and, when a label is given, starts with it
 * (`nats broker: ...`). One rule everywhere: a bad option is a 400 with the kind's id.
 */
import { errors, type MicroError } from '../errors.js'
import type { PluginKind } from './definition.js'

/** The error id of each kind, as go-micro's packages name them. */
export const ERROR_IDS: Readonly<Record<PluginKind, string>> = Object.freeze({
  registry: 'go.micro.registry',
  broker: 'go.micro.broker',
  transport: 'go.micro.transport',
  store: 'go.micro.store',
})

export function errorIdOf(kind: PluginKind): string {
  return ERROR_IDS[kind]
}

export interface KindErrors {
  /** The id every error carries. */
  readonly id: string
  /** 400: an option or setting that cannot be used. */
  badOption(detail: string, cause?: unknown): MicroError
  /** 400: input the caller must fix. */
  badRequest(detail: string, cause?: unknown): MicroError
  /** 401: missing or wrong credentials. */
  unauthorized(detail: string, cause?: unknown): MicroError
  /** 403: the credentials may not do this. */
  forbidden(detail: string, cause?: unknown): MicroError
  notFound(detail: string, cause?: unknown): MicroError
  /** 408: a deadline passed. */
  timeout(detail: string, cause?: unknown): MicroError
  conflict(detail: string, cause?: unknown): MicroError
  /** 413: a message or value over a documented size limit. */
  tooLarge(detail: string, cause?: unknown): MicroError
  /** 499: the caller cancelled. */
  canceled(detail: string, cause?: unknown): MicroError
  /** 500: a failure of ours or of the backend that retrying will not fix. */
  internal(detail: string, cause?: unknown): MicroError
  /** 502: the backend answered, and refused or garbled it (a broker's negative confirm). */
  badGateway(detail: string, cause?: unknown): MicroError
  /** 504: sent, and the backend did not confirm in time. */
  gatewayTimeout(detail: string, cause?: unknown): MicroError
  /** 503: the backend cannot be reached now; trying again later may work. */
  unavailable(detail: string, cause?: unknown): MicroError
  /** 503 `cannot <op>: not connected; call connect() first`. */
  notConnected(op: string): MicroError
}

/**
 * `pluginErrors('broker', 'nats broker').unavailable('server gone', err)` →
 * `{id: 'go.micro.broker', code: 503, detail: 'nats broker: server gone'}` with `cause`.
 */
export function pluginErrors(kind: PluginKind, label?: string): KindErrors {
  const id = errorIdOf(kind)
  const text = (detail: string) => (label ? `${label}: ${detail}` : detail)
  return Object.freeze({
    id,
    badOption: (d: string, c?: unknown) => errors.badRequest(id, text(d), c),
    badRequest: (d: string, c?: unknown) => errors.badRequest(id, text(d), c),
    unauthorized: (d: string, c?: unknown) => errors.unauthorized(id, text(d), c),
    forbidden: (d: string, c?: unknown) => errors.forbidden(id, text(d), c),
    notFound: (d: string, c?: unknown) => errors.notFound(id, text(d), c),
    timeout: (d: string, c?: unknown) => errors.timeout(id, text(d), c),
    conflict: (d: string, c?: unknown) => errors.conflict(id, text(d), c),
    tooLarge: (d: string, c?: unknown) => errors.tooLarge(id, text(d), c),
    canceled: (d: string, c?: unknown) => errors.canceled(id, text(d), c),
    internal: (d: string, c?: unknown) => errors.internalServerError(id, text(d), c),
    badGateway: (d: string, c?: unknown) => errors.badGateway(id, text(d), c),
    gatewayTimeout: (d: string, c?: unknown) => errors.gatewayTimeout(id, text(d), c),
    unavailable: (d: string, c?: unknown) => errors.serviceUnavailable(id, text(d), c),
    notConnected: (op: string) =>
      errors.serviceUnavailable(id, text(`cannot ${op}: not connected; call connect() first`)),
  })
}
