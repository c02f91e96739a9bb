/** The tcp transport's options, declared once: `createTcpTransport`, the loader and the README table read them. */
import { option } from '../../plugin/options.js'
import { MAX_TIMER_MS } from '../../util/time.js'
import { maxResponseSizeOption } from '../net.js'

export const tcpTransportOptions = {
  poolSize: option.integer({
    doc: 'Connections per address; each carries any number of calls at once',
    default: 1,
    min: 1,
  }),
  connectTimeout: option.duration({
    doc: "Dial timeout, up to the server's preface",
    default: 5_000,
    min: 1,
    max: MAX_TIMER_MS,
  }),
  idleTimeout: option.duration({
    doc: 'A client connection nobody used for this long is closed',
    default: 60_000,
    min: 1,
    max: MAX_TIMER_MS,
  }),
  maxResponseSize: maxResponseSizeOption,
  keepAlive: option.duration({
    doc: 'TCP keep-alive probes start after this much silence, both ends',
    default: 30_000,
    min: 1,
    max: MAX_TIMER_MS,
  }),
} as const
