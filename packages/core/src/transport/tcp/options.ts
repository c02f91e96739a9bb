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
    doc: 'A connection with nothing in flight for this long is closed, both ends (a listener also closes one whose frame stalls this long)',
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
  maxConnections: option.integer({
    doc: 'Most client connections a listener holds at once; more are closed as they arrive',
    default: 1_024,
    min: 1,
  }),
  maxStreams: option.integer({
    doc: 'Most streams one client connection may have open at once; more are refused with 429',
    default: 256,
    min: 1,
  }),
  maxBuffered: option.integer({
    doc: 'Most bytes a listener holds that no handler has taken (frames still arriving, request bodies in flight, unread stream messages); past it, connections are read only as bytes are freed',
    default: 64 * 1024 * 1024,
    min: 1,
  }),
} as const
