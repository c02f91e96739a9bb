export { createHttpTransport, HttpTransport, type HttpTransportOptions } from './http/index.js'
export type * from './types.js'
