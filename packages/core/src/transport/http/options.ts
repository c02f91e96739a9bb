/** The http transport's options, declared once: `createHttpTransport`, the loader and the README table read them. */
import { option } from '../../plugin/options.js'
import { MAX_TIMER_MS } from '../../util/time.js'
import { maxResponseSizeOption } from '../net.js'

export const httpTransportOptions = {
  poolSize: option.integer({
    doc: "Keep-alive connections per address, go-micro's client pool size",
    default: 100,
    min: 1,
  }),
  pipelining: option.integer({
    doc: 'Requests in flight per connection; above 1 a broken connection may resend',
    default: 1,
    min: 1,
  }),
  connectTimeout: option.duration({ doc: 'Dial timeout', default: 5_000, min: 1, max: MAX_TIMER_MS }),
  idleTimeout: option.duration({
    doc: 'Idle keep-alive connections are closed after this long, both sides',
    default: 60_000,
    min: 1,
    max: MAX_TIMER_MS,
  }),
  maxResponseSize: maxResponseSizeOption,
} as const
