export { DEFAULT_GRACE_MS, DEFAULT_MAX_BODY } from '../listener.js'
export { createHttpTransport, HttpTransport, type HttpTransportOptions } from './transport.js'
