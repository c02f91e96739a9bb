/** The etcd registry's errors: one constructor set (`go.micro.registry`) and the map from etcd3's failures. */
import { isMicroError, type MicroError } from '@micro-ts/core'
import { pluginErrors } from '@micro-ts/core/plugin'
import {
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCResourceExhastedError,
  GRPCUnauthenticatedError,
  GRPCUnavailableError,
} from 'etcd3'

export const errors = pluginErrors('registry', 'etcd registry')

/** The host is gone (refused, reset, unresolvable): the only failure that may open etcd3's circuit breaker. */
export function isConnectionError(err: unknown): boolean {
  return err instanceof GRPCUnavailableError
}

/** No answer in time: our own deadline (a 408) or the gRPC call's. */
export function isTimeout(err: unknown): boolean {
  return (isMicroError(err) && err.code === 408) || err instanceof GRPCDeadlineExceededError
}

/** An answer over the client's message limit (`maxMessageSize`). */
export function isTooLarge(err: unknown): boolean {
  return err instanceof GRPCResourceExhastedError
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Every failure of an etcd call as a MicroError naming the operation and the endpoints. */
export function toMicroError(err: unknown, op: string, hosts: readonly string[]): MicroError {
  if (isMicroError(err)) return err
  const e = err instanceof Error ? err : new Error(String(err))
  const where = hosts.join(', ')
  const what = (text: string) => `${op}: ${text}: ${e.message}`
  // BrokenCircuitError comes from etcd3's fault handling (cockatiel) after repeated connection failures.
  if (e instanceof GRPCUnavailableError || e.constructor.name === 'BrokenCircuitError') {
    return errors.unavailable(what(`etcd at ${where} is unreachable`), e)
  }
  if (e instanceof GRPCDeadlineExceededError)
    return errors.timeout(what(`etcd at ${where} did not answer in time`), e)
  if (
    e instanceof EtcdAuthenticationFailedError ||
    e instanceof EtcdInvalidAuthTokenError ||
    e instanceof GRPCUnauthenticatedError
  ) {
    return errors.unauthorized(what(`etcd at ${where} rejected the credentials`), e)
  }
  if (/user name is empty/.test(e.message)) {
    return errors.unauthorized(
      what(
        `etcd at ${where} requires credentials (address URL, username/password or ETCD_USERNAME/ETCD_PASSWORD)`,
      ),
      e,
    )
  }
  if (e instanceof EtcdPermissionDeniedError) return errors.forbidden(what('permission denied'), e)
  if (isTooLarge(e)) return errors.tooLarge(what('the answer is over the message limit (maxMessageSize)'), e)
  if (/request is too large/.test(e.message)) {
    return errors.tooLarge(what(`the record is over etcd's request limit (--max-request-bytes)`), e)
  }
  return errors.internal(what(`etcd at ${where} failed`), e)
}
