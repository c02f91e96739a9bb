/**
 * Errors on the way out: go-micro's error JSON `{id, code, detail, status}` as the body and its
 * code as the HTTP status, so an HTTP client reads the status and a go-micro client the JSON.
 */
import type { ServerResponse } from 'node:http'
import { MicroError } from '@micro-ts/core'

export const GATEWAY_ERROR_ID = 'go.micro.gateway'

/**
 * The HTTP status for a MicroError: its code when that is an HTTP error status, else 500 (a Go
 * service's plain-string error arrives with code 0; a 499 "client went away" is reported as 499).
 */
export function httpStatus(err: MicroError): number {
  return Number.isInteger(err.code) && err.code >= 400 && err.code <= 599 ? err.code : 500
}

export function toMicroError(err: unknown): MicroError {
  return MicroError.from(err, GATEWAY_ERROR_ID)
}

/** Write `err` as go-micro's JSON with its status, unless the answer has started already. */
export function writeError(
  res: ServerResponse,
  err: MicroError,
  extraHeaders: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = JSON.stringify(err.toJSON())
  res.writeHead(httpStatus(err), {
    ...extraHeaders,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  })
  res.end(body)
}

export const gatewayErrors = {
  badRequest: (detail: string) => new MicroError(GATEWAY_ERROR_ID, 400, detail),
  notFound: (detail: string) => new MicroError(GATEWAY_ERROR_ID, 404, detail),
  methodNotAllowed: (detail: string) => new MicroError(GATEWAY_ERROR_ID, 405, detail),
  tooLarge: (detail: string) => new MicroError(GATEWAY_ERROR_ID, 413, detail),
  unsupportedMediaType: (detail: string) => new MicroError(GATEWAY_ERROR_ID, 415, detail),
  canceled: (detail: string) => new MicroError(GATEWAY_ERROR_ID, 499, detail),
  unavailable: (detail: string) => new MicroError(GATEWAY_ERROR_ID, 503, detail),
}
