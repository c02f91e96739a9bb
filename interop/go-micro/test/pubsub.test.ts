/**
 * Pub/sub TypeScript ↔ go-micro over the HTTP broker (discovery through mDNS in a private
 * network namespace, and through etcd) and over NATS: each side publishes, the other receives;
 * a queue group shared across languages handles each message exactly once.
 */
import { describe, expect, it, onTestFinished } from 'vitest'
import { type EnvKind, lacks, prepareEnv } from './envs.js'
import { type Place, type Proc, type Program, run, runTag, type Side, start } from './harness.js'

/** Start a program for the current test only. */
function startHere(
  side: Side,
  name: Program,
  args: string[],
  place: Place,
  vars: Record<string, string>,
): Proc {
  const p = start(side, name, args, place, vars)
  onTestFinished(() => p.stop())
  return p
}

const kinds: EnvKind[] = ['mdns', 'etcd', 'nats']
const missing = Object.fromEntries(await Promise.all(kinds.map(async (k) => [k, await lacks(k)] as const)))
const brokerOf = {
  mdns: 'HTTP broker, registry mdns',
  etcd: 'HTTP broker, registry etcd',
  nats: 'NATS broker',
}

interface Received {
  topic: string
  header: Record<string, string>
  body: { n: number; from: string }
}
const isMessage = (topic: string) => (l: Record<string, unknown>) =>
  l.topic === topic && typeof l.body === 'object'

for (const kind of kinds) {
  describe(brokerOf[kind], () => {
    const env = prepareEnv(kind, missing[kind])
    if (!env) return

    for (const [publisher, subscriber] of [
      ['go', 'ts'],
      ['ts', 'go'],
    ] as [Side, Side][]) {
      it(`${publisher} publishes, ${subscriber} receives every message with its headers`, async () => {
        const topic = `interop.${kind}.${runTag()}`
        const sub = startHere(subscriber, 'subscriber', [topic], env.place, env.vars)
        await sub.waitFor((l) => l.ready === true)
        const pub = await run(publisher, 'publisher', ['--n', '5', topic], env.place, env.vars)
        expect(pub.lines, pub.stderr).toEqual([{ published: 5 }])
        await sub.waitForCount(isMessage(topic), 5)
        const got = sub.lines.filter((l) => isMessage(topic)(l as Record<string, unknown>)) as Received[]
        expect(got.map((m) => m.body.n).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5])
        expect(got.every((m) => m.body.from === publisher)).toBe(true)
        // go-micro's headers: the topic and the content type travel with each message.
        const header = Object.fromEntries(Object.entries(got[0].header).map(([k, v]) => [k.toLowerCase(), v]))
        expect(header).toMatchObject({ 'micro-topic': topic, 'content-type': 'application/json' })
      })
    }

    for (const publisher of ['go', 'ts'] as Side[]) {
      it(`${publisher} publishes to a queue group shared by both languages: each message is handled once`, async () => {
        const topic = `interop.${kind}.q.${runTag()}`
        const queue = `workers-${runTag()}`
        const members = [
          start(
            'go',
            'subscriber',
            ['--queue', queue, '--name', 'interop.go.worker', topic],
            env.place,
            env.vars,
          ),
          start(
            'ts',
            'subscriber',
            ['--queue', queue, '--name', 'interop.ts.worker', topic],
            env.place,
            env.vars,
          ),
        ]
        // Broadcast subscribers on the same topic, one per language: each gets everything.
        const broadcast = [
          startHere('go', 'subscriber', ['--name', 'interop.go.all', topic], env.place, env.vars),
          startHere('ts', 'subscriber', ['--name', 'interop.ts.all', topic], env.place, env.vars),
        ]
        for (const p of [...members, ...broadcast]) await p.waitFor((l) => l.ready === true)

        const n = 20
        const pub = await run(publisher, 'publisher', ['--n', String(n), topic], env.place, env.vars)
        expect(pub.lines, pub.stderr).toEqual([{ published: n }])

        for (const b of broadcast) await b.waitForCount(isMessage(topic), n)
        const received = () =>
          members.flatMap(
            (m) => m.lines.filter((l) => isMessage(topic)(l as Record<string, unknown>)) as Received[],
          )
        await members[0].waitFor(() => received().length >= n)
        // Give a duplicate the chance to show up before counting.
        await new Promise((r) => setTimeout(r, 500))
        const ns = received()
          .map((m) => m.body.n)
          .sort((a, b) => a - b)
        expect(ns).toEqual(Array.from({ length: n }, (_, i) => i + 1))
        // Both languages are members: with 20 messages a random split leaves one empty with p = 2^-19.
        for (const m of members)
          expect(
            m.lines.some((l) => isMessage(topic)(l as Record<string, unknown>)),
            m.label,
          ).toBe(true)
        for (const b of broadcast) {
          const ids = b.lines
            .filter((l) => isMessage(topic)(l as Record<string, unknown>))
            .map((l) => (l as Received).body.n)
          expect(new Set(ids).size, b.label).toBe(n)
        }
      })
    }
  })
}
