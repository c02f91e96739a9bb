/** Calls the greeter, publishes an event and checks the greeter received it. */
import { createService, MicroError } from '@micro-ts/core'
import type { Greeter } from './greeter.js'

const service = await createService({ name: 'greeter.client' }).catch((e: Error) => {
  console.error(`client: cannot start: ${e.message}`)
  process.exit(1)
})
try {
  const greeter = service.client.service<Greeter>('greeter', 'Greeter')
  // The greeter may have only just registered: retry "not found" for a few seconds.
  const rsp = await untilFound(() => greeter.Hello({ name: 'John' }))
  console.log(rsp.greeting)

  await service.client.publish('events', { name: 'event' })
  const deadline = Date.now() + 10_000
  for (;;) {
    const stats = await greeter.Stats({})
    if (stats.events.includes('event')) {
      console.log('Event published on "events" and received by the greeter: {"name":"event"}')
      break
    }
    if (Date.now() > deadline) throw new Error('the greeter did not receive the event within 10s')
    await new Promise((r) => setTimeout(r, 100))
  }
} finally {
  await service.stop()
}

async function untilFound<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      return await fn()
    } catch (e) {
      // The selector's 404 ("service greeter not found"), not a 404 from a handler.
      const notFound = e instanceof MicroError && e.code === 404 && e.id === 'go.micro.selector'
      if (!notFound || Date.now() > deadline) throw e
      await new Promise((r) => setTimeout(r, 200))
    }
  }
}
