export { DEFAULT_GRACE_MS, DEFAULT_MAX_BODY } from './server.js'
export { createTcpTransport, TcpTransport, type TcpTransportOptions } from './transport.js'
