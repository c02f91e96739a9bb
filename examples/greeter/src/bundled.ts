/**
 * The greeter as a bundle runs it (`esbuild --bundle`): a bundle has no node_modules, so the
 * plugins MICRO_* may name are handed over in code, and `MICRO_STORE=redis` resolves to the one
 * bundled here before any import is tried.
 */
import natsBroker from '@micro-ts/broker-nats'
import rabbitmqBroker from '@micro-ts/broker-rabbitmq'
import mysqlStore from '@micro-ts/store-mysql'
import postgresStore from '@micro-ts/store-postgres'
import redisStore from '@micro-ts/store-redis'
import { runGreeter } from './run.js'

await runGreeter([natsBroker, rabbitmqBroker, postgresStore, mysqlStore, redisStore])
