/**
 * A three-member etcd cluster on loopback, with a member SIGKILLed under the registry: the
 * calls it was about to send go to the members still alive.
 */
import { expectMicroError, requireThat } from '@micro-ts/conformance/testing'
import { EtcdCluster, EtcdServer } from '@micro-ts/conformance/testing/etcd'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createEtcdRegistry, type EtcdRegistry } from '../src/index.js'
import { service, serviceName } from './helpers.js'

const binary = requireThat(
  EtcdServer.available(),
  'the etcd binary is not installed (scripts/backends.sh etcd)',
)

describe.runIf(binary)('a cluster of three, one member killed', () => {
  let cluster: EtcdCluster
  const registries: EtcdRegistry[] = []
  const registry = (addresses: readonly string[]) => {
    const r = createEtcdRegistry({ addresses, requestTimeout: 5_000 })
    registries.push(r)
    return r
  }

  beforeAll(async () => {
    cluster = await EtcdCluster.start(3)
  }, 90_000)
  afterAll(async () => {
    await cluster?.stop()
  })
  afterEach(async () => {
    await Promise.all(registries.splice(0).map((r) => r.close()))
  })

  it('the first register() after the leader is SIGKILLed succeeds: the attempt a follower forwards to the dead leader is sent again', async () => {
    const victim = await cluster.leader()
    const [first, second] = cluster.members.filter((m) => m !== victim)
    const r = registry(cluster.addresses)
    const name = serviceName('cluster-kill')
    await r.register(service(name, 'before'), { ttl: 60_000 })
    await victim.kill()
    await r.register(service(name, 'after'), { ttl: 60_000 })
    await r.register(service(name, 'later'), { ttl: 60_000 })
    const [svc] = await registry([first.address, second.address]).getService(name)
    expect(svc.nodes.map((n) => n.id).sort()).toEqual(['after', 'before', 'later'])
  })

  it('ping answers while a majority is up, and is a 503 once only one member is left', async () => {
    const running = cluster.members.filter((m) => m.running)
    const r = registry(cluster.addresses)
    await r.ping()
    // One left: it answers its status, but a read that needs the leader cannot be answered.
    await Promise.all(running.slice(1).map((m) => m.kill()))
    await expectMicroError(r.ping(), 503)
  })
})
