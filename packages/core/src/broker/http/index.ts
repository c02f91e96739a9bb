export { createHttpBroker, HttpBroker, type HttpBrokerOptions } from './broker.js'
export { BROADCAST_VERSION, HTTP_BROKER_SERVICE } from './directory.js'
