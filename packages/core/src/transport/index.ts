export { createHttpTransport, HttpTransport, type HttpTransportOptions } from './http/index.js'
export { createTcpTransport, TcpTransport, type TcpTransportOptions } from './tcp/index.js'
export type * from './types.js'
