export { DEFAULT_GRACE_MS, DEFAULT_MAX_BODY } from '../listener.js'
export { createTcpTransport, TcpTransport, type TcpTransportOptions } from './transport.js'
