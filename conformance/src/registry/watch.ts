/** Registry watches (`watch`): create/update/delete events, and every way a watch ends. */
import type { Registry, WatchEvent, Watcher } from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import { eventually, Inbox, sleep, uniqueName } from '../util.js'
import { ids, node, type RegistrySuite, service } from './context.js'

export interface Followed {
  events: Inbox<WatchEvent>
  ended: Promise<void>
  failed: () => unknown
}

/** Run a watcher in the background, collecting its events until it ends (stopped after the test). */
export function follow(t: RegistrySuite, watcher: Watcher): Followed {
  const events = new Inbox<WatchEvent>()
  let failure: unknown
  const ended = (async () => {
    try {
      for await (const event of watcher) events.push(event)
    } catch (e) {
      failure = e
    }
  })()
  t.h.defer('stop watcher', () => watcher.stop())
  return { events, ended, failed: () => failure }
}

/** Wait (up to the visibility timeout) for an event matching `match`; the error lists what was seen. */
export function hasEvent(
  t: RegistrySuite,
  events: Inbox<WatchEvent>,
  match: (e: WatchEvent) => boolean,
  what: string,
): Promise<WatchEvent> {
  return eventually(() => {
    const found = events.items.find(match)
    if (!found) {
      const seen = events.items.map((e) => `${e.action} ${e.service.name} [${ids(e.service)}]`)
      throw new Error(`no ${what} event yet; seen: ${seen.join('; ') || 'none'}`)
    }
    return found
  }, t.visibility)
}

export function registryWatch(t: RegistrySuite): void {
  const { h, register, quiet, watchSettle, closeTimeout, ttl, tolerance } = t

  async function ends(p: Promise<void>, what: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what}: the watch iteration did not end within ${closeTimeout} ms`)),
        closeTimeout,
      )
    })
    try {
      await Promise.race([p, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  async function settle(): Promise<void> {
    if (watchSettle) await sleep(watchSettle)
  }

  function watching(registry: Registry, options?: Parameters<Registry['watch']>[0]): Followed {
    return follow(t, registry.watch(options))
  }

  describe('watch', () => {
    if (!t.has('watch')) {
      it('watch is not declared: watch() throws or its iteration rejects', async () => {
        const registry = await h.fresh()
        let watcher: Watcher
        try {
          watcher = registry.watch()
        } catch {
          return
        }
        h.defer('stop watcher', () => watcher.stop())
        const next = watcher[Symbol.asyncIterator]().next()
        const outcome = await Promise.race([
          next.then(
            () => 'yielded',
            () => 'rejected',
          ),
          sleep(Math.max(quiet, 1_000)).then(() => 'pending'),
        ])
        expect(outcome, 'a registry without watch must reject instead of waiting forever').toBe('rejected')
      })
      return
    }

    it('watch({service}) gives create, update and delete events for that service only', async () => {
      const registry = await h.fresh()
      const name = uniqueName('watched')
      const other = uniqueName('unwatched')
      const { events } = watching(registry, { service: name })
      await settle()
      const n1 = node(`${name}-1`)
      await register(registry, service(other, [node(`${other}-1`)]))
      await register(registry, service(name, [n1]))
      const created = await hasEvent(
        t,
        events,
        (e) => e.action === 'create' && ids(e.service).includes(n1.id),
        'create',
      )
      expect(created.service.name).toBe(name)
      expect(created.service.version).toBe('1.0.0')

      const n2 = node(`${name}-2`, { v: '1' })
      await register(registry, service(name, [n2]))
      await hasEvent(
        t,
        events,
        (e) => e.action !== 'delete' && ids(e.service).includes(n2.id),
        'create or update for a second node',
      )

      const n2b = { ...n2, metadata: { v: '2' } }
      await register(registry, service(name, [n2b]))
      await hasEvent(
        t,
        events,
        (e) => e.action === 'update' && e.service.nodes.some((n) => n.id === n2.id && n.metadata?.v === '2'),
        'update (node re-registered with new metadata)',
      )

      await registry.deregister(service(name, [n1]))
      const deleted = await hasEvent(
        t,
        events,
        (e) => e.action === 'delete' && ids(e.service).includes(n1.id),
        'delete',
      )
      expect(deleted.service.name).toBe(name)
      await sleep(quiet)
      expect(events.items.filter((e) => e.service.name !== name).map((e) => e.service.name)).toEqual([])
      const createIndex = events.items.indexOf(created)
      expect(events.items.indexOf(deleted)).toBeGreaterThan(createIndex)
    })

    it('watch() without a service sees every service', async () => {
      const registry = await h.fresh()
      const a = uniqueName('watch-all-a')
      const b = uniqueName('watch-all-b')
      const { events } = watching(registry)
      await settle()
      await register(registry, service(a, [node(`${a}-1`)]))
      await register(registry, service(b, [node(`${b}-1`)]))
      await hasEvent(t, events, (e) => e.action === 'create' && e.service.name === a, `create ${a}`)
      await hasEvent(t, events, (e) => e.action === 'create' && e.service.name === b, `create ${b}`)
    })

    it('stop() ends the iteration', async () => {
      const registry = await h.fresh()
      const watcher = registry.watch()
      const { ended, failed } = follow(t, watcher)
      await settle()
      watcher.stop()
      await ends(ended, 'stop()')
      expect(failed()).toBeUndefined()
    })

    it('aborting the signal ends the iteration', async () => {
      const registry = await h.fresh()
      const abort = new AbortController()
      const { ended } = watching(registry, { signal: abort.signal })
      await settle()
      abort.abort()
      await ends(ended, 'abort')
    })

    it('close() ends every watcher', async () => {
      const registry = await h.fresh()
      const one = watching(registry)
      const two = watching(registry, { service: uniqueName('closing') })
      await settle()
      await h.close(registry)
      await ends(one.ended, 'close(), first watcher')
      await ends(two.ended, 'close(), second watcher')
    })

    if (t.has('ttl')) {
      it('a node whose TTL runs out shows up as a delete event', async () => {
        const registry = await h.fresh()
        const name = uniqueName('watch-ttl')
        const { events } = watching(registry, { service: name })
        await settle()
        await register(registry, service(name, [node(`${name}-1`)]), { ttl })
        await hasEvent(t, events, (e) => e.action === 'create', 'create')
        await sleep(ttl)
        await eventually(
          () =>
            hasEvent(
              t,
              events,
              (e) => e.action === 'delete' && ids(e.service).includes(`${name}-1`),
              'delete',
            ),
          tolerance,
        )
      })
    }
  })
}
