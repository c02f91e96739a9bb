export { decodeBrokerEnvelope, encodeBrokerEnvelope, parseBrokerEnvelope } from './envelope.js'
export {
  BROADCAST_VERSION,
  createHttpBroker,
  HTTP_BROKER_SERVICE,
  HttpBroker,
  type HttpBrokerOptions,
} from './http/index.js'
export { createMemoryBroker, MemoryBroker, type MemoryBrokerOptions } from './memory.js'
export { BROKER_ERROR_ID, TOPIC_HEADER } from './message.js'
export type * from './types.js'
