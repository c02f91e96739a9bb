/**
 * The greeter service: `Greeter.Hello` and a subscriber on `events`, on whatever MICRO_* selects,
 * with a graceful stop on SIGTERM/SIGINT. `plugins` are handed over in code by a bundled build,
 * which has no node_modules to import plugins from by name.
 */
import { createService, type ServiceOptions } from '@micro-ts/core'
import { type Event, Greeter } from './greeter.js'

export async function runGreeter(plugins?: ServiceOptions['plugins']): Promise<void> {
  const service = await createService({ name: 'greeter', version: '1.0.0', plugins }).catch((e: Error) => {
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
  const health = service.server.healthAddress
    ? `, health on http://${service.server.healthAddress}/health`
    : ''
  console.log(
    `greeter: listening on ${service.server.address} (registry ${service.registry.name}, broker ${service.broker.name}, transport ${service.transport.name}, store ${service.store.name}${health})`,
  )

  const shutdown = async (signal: string) => {
    console.log(`greeter: ${signal}: deregistering, draining in-flight calls, then exiting`)
    await service.stop()
    console.log('greeter: stopped')
    process.exit(0)
  }
  process.once('SIGTERM', () => void shutdown('SIGTERM'))
  process.once('SIGINT', () => void shutdown('SIGINT'))
}
