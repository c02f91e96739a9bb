export {
  BROADCAST_VERSION,
  createHttpBroker,
  decodeMessage,
  encodeMessage,
  HTTP_BROKER_SERVICE,
  HttpBroker,
  type HttpBrokerOptions,
} from './http.js'
export { createMemoryBroker, MemoryBroker, type MemoryBrokerOptions } from './memory.js'
export { BROKER_ERROR_ID, TOPIC_HEADER } from './message.js'
export type * from './types.js'
