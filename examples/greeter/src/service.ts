/** The greeter service: `Greeter.Hello` and a subscriber on `events`, on whatever MICRO_* selects. */
import { createService } from '@micro-ts/core'
import { type Event, Greeter } from './greeter.js'

const service = await createService({ name: 'greeter', version: '1.0.0' }).catch((e: Error) => {
  // A configuration error (unknown plugin, bad variable) says what to fix: print just that.
  console.error(`greeter: cannot start: ${e.message}`)
  process.exit(1)
})
const greeter = new Greeter(service.store)

// Endpoints Greeter.Hello and Greeter.Stats: only upper-case methods are served (go-micro's
// rule), so onEvent and the private count() stay off the network.
service.handle(greeter)
service.subscribe<Event>('events', (event) => {
  greeter.onEvent(event)
  console.log(`greeter: event received ${JSON.stringify(event)}`)
})

await service.start()
console.log(
  `greeter: listening on ${service.server.address} (registry ${service.registry.name}, broker ${service.broker.name}, transport ${service.transport.name}, store ${service.store.name})`,
)

process.once('SIGTERM', () => void shutdown('SIGTERM'))
process.once('SIGINT', () => void shutdown('SIGINT'))

async function shutdown(signal: string) {
  console.log(`greeter: ${signal}: deregistering, draining in-flight calls, then exiting`)
  await service.stop()
  console.log('greeter: stopped')
  process.exit(0)
}
