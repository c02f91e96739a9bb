/** The NATS broker's errors: one constructor set (`go.micro.broker`) and the map from nats.js failures. */
import { isMicroError, type MicroError } from '@micro-ts/core'
import { pluginErrors } from '@micro-ts/core/plugin'
import { ErrorCode, NatsError } from 'nats'

export const errors = pluginErrors('broker', 'nats broker')

export function isCode(err: unknown, ...codes: string[]): boolean {
  return err instanceof NatsError && codes.includes(err.code)
}

/** A JetStream API error with this `err_code` (10014 consumer not found, 10059 stream not found, ...). */
export function isApiError(err: unknown, errCode: number): boolean {
  return err instanceof NatsError && err.api_error?.err_code === errCode
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

export function connectError(err: unknown, servers: readonly string[]): MicroError {
  const where = servers.join(', ')
  if (
    isCode(
      err,
      ErrorCode.AuthorizationViolation,
      ErrorCode.BadAuthentication,
      ErrorCode.AuthenticationExpired,
    )
  ) {
    return errors.unauthorized(`cannot connect to ${where}: the server rejected the credentials`, err)
  }
  if (isCode(err, ErrorCode.Timeout, ErrorCode.ConnectionTimeout)) {
    return errors.timeout(`cannot connect to ${where}: timed out`, err)
  }
  if (isCode(err, ErrorCode.InvalidOption))
    return errors.badOption(`invalid connection options: ${errorText(err)}`, err)
  return errors.unavailable(`cannot connect to ${where}: ${errorText(err)}`, err)
}

export function publishError(err: unknown): MicroError {
  if (isMicroError(err)) return err
  if (isCode(err, ErrorCode.MaxPayloadExceeded))
    return errors.tooLarge(`message too large: ${errorText(err)}`, err)
  if (isCode(err, ErrorCode.BadSubject)) return errors.badRequest(`invalid topic: ${errorText(err)}`, err)
  if (isCode(err, ErrorCode.ConnectionClosed, ErrorCode.ConnectionDraining)) {
    return errors.unavailable('not connected; call connect() first', err)
  }
  return errors.internal(errorText(err), err)
}

export function streamError(err: unknown, what: string): MicroError {
  if (isMicroError(err)) return err
  if (isCode(err, ErrorCode.Timeout, ErrorCode.NoResponders, ErrorCode.Disconnect)) {
    return errors.unavailable(`JetStream unavailable: cannot ${what}: ${errorText(err)}`, err)
  }
  return errors.internal(`JetStream: cannot ${what}: ${errorText(err)}`, err)
}
