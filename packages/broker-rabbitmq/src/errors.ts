/**
 * Every error the broker makes: the kind's constructors (`go.micro.broker`, `rabbitmq broker: …`)
 * and the mapping of what RabbitMQ and amqplib report (AMQP reply codes, connection refusals)
 * to go-micro's codes.
 */
import { isMicroError, type MicroError } from '@micro-ts/core'
import { abortReason, pluginErrors } from '@micro-ts/core/plugin'

export const errors = pluginErrors('broker', 'rabbitmq broker')

/** 502: RabbitMQ took the message and refused it (a negative confirm). */
export function refused(detail: string): MicroError {
  return errors.badGateway(detail)
}

/** 504: sent, but not confirmed in time: it may or may not have been delivered. */
export function notConfirmed(detail: string): MicroError {
  return errors.gatewayTimeout(detail)
}

/** What an aborted signal stands for: 408 for a deadline, 499 for a cancellation. */
export function aborted(signal: AbortSignal, detail: string): MicroError {
  const reason = abortReason(signal, errors.id)
  if (reason.id !== errors.id) return reason
  return reason.code === 408 ? errors.timeout(`${detail}: timed out`) : errors.canceled(detail)
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name
  return String(err)
}

/** The AMQP reply code amqplib puts on channel and connection errors (`err.code`), if any. */
export function replyCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'number' ? code : undefined
}

/** AMQP reply codes after which a channel is gone for a reason that retrying will not fix. */
export const CHANNEL_REFUSALS: ReadonlySet<number> = new Set([403, 404, 405, 406])

/**
 * The limit in RabbitMQ's refusal of an oversized message ("message size 8388608 is larger
 * than configured max size 4194304"), with the refused size; undefined for other errors.
 */
export function sizeRefusal(err: unknown): { size: number; max: number } | undefined {
  if (replyCode(err) !== 406) return undefined
  const m = /message size (\d+) is larger than (?:configured )?max size (\d+)/i.exec(errorText(err))
  return m ? { size: Number(m[1]), max: Number(m[2]) } : undefined
}

/** Why the first connection failed, as a MicroError: 401 credentials, 403 vhost, 503 otherwise. */
export function connectError(err: unknown, where: string): MicroError {
  if (isMicroError(err)) return err
  const text = errorText(err)
  if (/ACCESS[-_]REFUSED|\b403\b/.test(text)) {
    return errors.unauthorized(`RabbitMQ at ${where} refused the credentials: ${text}`, err)
  }
  // A vhost that does not exist or that the user may not use: RabbitMQ answers the open with
  // 530 NOT_ALLOWED, which amqplib reports as an unexpected ConnectionClose.
  if (/NOT[-_]ALLOWED|\b530\b|Expected ConnectionOpenOk; got <ConnectionClose/.test(text)) {
    return errors.forbidden(
      `RabbitMQ at ${where} refused access to the vhost (unknown, or not permitted): ${text}`,
      err,
    )
  }
  return errors.unavailable(`cannot reach ${where}: ${text}`, err)
}

/** A failed channel operation as a MicroError: AMQP's reply code picks the status. */
export function operationError(err: unknown, what: string): MicroError {
  if (isMicroError(err)) return err
  const code = replyCode(err)
  const detail = `cannot ${what}: ${errorText(err)}`
  if (code === 403) return errors.forbidden(detail, err)
  if (code === 404) return errors.notFound(detail, err)
  if (sizeRefusal(err) || (code === 406 && /larger than|max(imum)?[ _]size/i.test(errorText(err))))
    return errors.tooLarge(detail, err)
  if (code === 405 || code === 406) return errors.conflict(detail, err)
  if (code === 311 || code === 320 || code === 541) return errors.unavailable(detail, err)
  if (code === undefined && /closed/i.test(errorText(err))) return errors.unavailable(detail, err)
  return errors.internal(detail, err)
}
