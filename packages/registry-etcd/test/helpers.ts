/**
 * What this package's test files share: where the shared etcd is (and whether it answers), the
 * fixture certificates, service records and small collectors. Servers, probes and assertions
 * come from `@micro-ts/conformance/testing`.
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { requireBackend, testAddress, uniqueName } from '@micro-ts/conformance/testing'
import type { Service, WatchEvent } from '@micro-ts/core'
import { Etcd3 } from 'etcd3'
import { afterEach } from 'vitest'
import type { EtcdRegistry } from '../src/index.js'

/** `MICRO_TEST_ETCD_ADDRESS`, else where scripts/backends.sh starts etcd. */
export const SHARED_ADDRESS = testAddress('etcd', '127.0.0.1:2379')

/** etcd answers a real request (its status). */
export async function pingEtcd(address: string): Promise<void> {
  const client = new Etcd3({ hosts: address, dialTimeout: 2000 })
  try {
    await client.maintenance.status()
  } finally {
    client.close()
  }
}

/** Resolves true when the shared etcd answers (skip loudly, or fail under CI). */
export function sharedEtcd(): Promise<boolean> {
  return requireBackend(`etcd at ${SHARED_ADDRESS}`, () => pingEtcd(SHARED_ADDRESS))
}

/** Test certificates: a CA, a server certificate for 127.0.0.1, a client certificate. */
export const tlsFile = (name: string) =>
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'tls', name)

/** A service name no other test or run uses, with characters etcd keys and go-micro names allow. */
export function serviceName(tag: string): string {
  return `test.etcd.${uniqueName(tag)}`
}

export function service(name: string, nodeId = `${name}-1`, extra: Partial<Service> = {}): Service {
  return {
    name,
    version: '1.0.0',
    metadata: { team: 'a' },
    endpoints: [{ name: 'Greeter.Hello', request: { name: 'Request', type: 'Request' }, metadata: {} }],
    nodes: [{ id: nodeId, address: '127.0.0.1:9000', metadata: { protocol: 'mucp' } }],
    ...extra,
  }
}

export const pause = (ms: number) => new Promise((res) => setTimeout(res, ms))

const refreshers: NodeJS.Timeout[] = []
afterEach(() => {
  for (const t of refreshers.splice(0)) clearInterval(t)
})

/** Register `s` again every `every` ms, as a server's register interval does (failures ignored). */
export function refresher(r: EtcdRegistry, s: Service, ttl: number, every: number): { stop(): void } {
  const timer = setInterval(() => r.register(s, { ttl }).catch(() => {}), every)
  refreshers.push(timer)
  return { stop: () => clearInterval(timer) }
}

/** Collect watch events in the background. */
export function collect(watcher: AsyncIterable<WatchEvent>): WatchEvent[] {
  const events: WatchEvent[] = []
  ;(async () => {
    for await (const e of watcher) events.push(e)
  })()
  return events
}
