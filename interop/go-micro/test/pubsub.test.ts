/**
 * Pub/sub TypeScript ↔ go-micro over the HTTP broker (discovery through mDNS in a private
 * network namespace, and through etcd), over NATS and over RabbitMQ: each side publishes, the
 * other receives with the headers and body intact; a queue group shared across languages
 * handles each message exactly once.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { type Env, type EnvKind, lacks, prepareEnv } from './envs.js'
import { type Place, type Proc, type Program, Rabbit, run, runTag, type Side, start } from './harness.js'

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

const kinds: EnvKind[] = ['mdns', 'etcd', 'nats', 'rabbitmq']
const missing = Object.fromEntries(await Promise.all(kinds.map(async (k) => [k, await lacks(k)] as const)))
const brokerOf = {
  mdns: 'HTTP broker, registry mdns',
  etcd: 'HTTP broker, registry etcd',
  nats: 'NATS broker',
  rabbitmq: 'RabbitMQ broker',
}

interface Received {
  topic: string
  header: Record<string, string>
  body: { n: number; from: string }
}
/** A message of the test (probes, see `bound`, are not counted). */
const isMessage = (topic: string) => (l: Record<string, unknown>) =>
  l.topic === topic && typeof (l.body as { n?: unknown } | null)?.n === 'number'
/** A probe (see `bound`); a `--raw` Go subscriber prints the body as a string. */
const isProbe = (topic: string) => (l: unknown) => {
  if (typeof l !== 'object' || l === null || (l as Received).topic !== topic) return false
  const body = (l as { body?: unknown }).body
  return typeof body === 'string'
    ? body.startsWith('{"probe":')
    : typeof (body as { probe?: unknown })?.probe === 'number'
}
const lower = (h: Record<string, string>) =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]))

/**
 * RabbitMQ: wait until each of `subs` consumes `topic`. go-micro's rabbitmq broker subscribes in
 * a goroutine (`broker/rabbitmq/rabbitmq.go` `resubscribe`), so a Go subscriber says it is ready
 * before its queue is bound: publish probes, as go-micro would, until every one has printed one.
 * Probes are not counted as messages. Other brokers: ready means subscribed.
 */
async function bound(env: Env, rabbit: Rabbit | undefined, topic: string, subs: Proc[]): Promise<void> {
  if (env.kind !== 'rabbitmq' || !rabbit) return
  const deadline = Date.now() + 15_000
  for (let k = 1; ; k++) {
    const waiting = subs.filter((p) => !p.lines.some(isProbe(topic)))
    if (waiting.length === 0) return
    if (Date.now() > deadline)
      throw new Error(
        `not subscribed to ${topic} after 15 s: ${waiting.map((p) => `${p.label}\n${p.stderr}`).join('\n')}`,
      )
    await rabbit.publish(topic, { probe: k })
    await new Promise((r) => setTimeout(r, 200))
  }
}

for (const kind of kinds) {
  describe(brokerOf[kind], () => {
    const env = prepareEnv(kind, missing[kind])
    if (!env) return
    let rabbit: Rabbit | undefined
    if (kind === 'rabbitmq') {
      beforeAll(async () => {
        rabbit = await Rabbit.connect()
      })
      afterAll(() => rabbit?.close())
    }

    for (const [publisher, subscriber] of [
      ['go', 'ts'],
      ['ts', 'go'],
    ] as [Side, Side][]) {
      it(`${publisher} publishes, ${subscriber} receives every message with its headers`, async () => {
        const tag = runTag()
        const topic = `interop.${kind}.${tag}`
        const sub = startHere(subscriber, 'subscriber', [topic], env.place, env.vars)
        await sub.waitFor((l) => l.ready === true)
        await bound(env, rabbit, topic, [sub])
        const pub = await run(
          publisher,
          'publisher',
          ['--n', '5', '-H', `X-Interop=from ${publisher} ${tag}`, topic],
          env.place,
          env.vars,
        )
        expect(pub.lines, pub.stderr).toEqual([{ published: 5 }])
        await sub.waitForCount(isMessage(topic), 5)
        const got = sub.lines.filter((l) => isMessage(topic)(l as Record<string, unknown>)) as Received[]
        expect(got.map((m) => m.body.n).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5])
        expect(got.every((m) => m.body.from === publisher)).toBe(true)
        // go-micro's headers (topic, content type, a message id) and the publisher's own header
        // travel with each message; each message has an id of its own.
        for (const m of got) {
          expect(lower(m.header)).toMatchObject({
            'micro-topic': topic,
            'content-type': 'application/json',
            'x-interop': `from ${publisher} ${tag}`,
            'micro-id': expect.stringMatching(/^[0-9a-f-]{36}$/),
          })
        }
        expect(new Set(got.map((m) => lower(m.header)['micro-id'])).size).toBe(5)
      })
    }

    for (const publisher of ['go', 'ts'] as Side[]) {
      it(`${publisher} publishes to a queue group shared by both languages: each message is handled once`, async () => {
        const topic = `interop.${kind}.q.${runTag()}`
        const queue = `workers-${runTag()}`
        if (rabbit) onTestFinished(() => rabbit?.deleteQueues(queue))
        // One member per language, Go's first: with RabbitMQ the first member declares the
        // group's queue, and go-micro cannot join the queue ours declares (see the RabbitMQ
        // queue-group scenarios below and the README's differences).
        const members: Proc[] = []
        for (const side of ['go', 'ts'] as Side[]) {
          const m = startHere(
            side,
            'subscriber',
            ['--queue', queue, '--name', `interop.${side}.worker`, topic],
            env.place,
            env.vars,
          )
          members.push(m)
          await m.waitFor((l) => l.ready === true)
          await rabbit?.waitForConsumers(queue, members.length)
        }
        // Broadcast subscribers on the same topic, one per language: each gets everything.
        const broadcast = [
          startHere('go', 'subscriber', ['--name', 'interop.go.all', topic], env.place, env.vars),
          startHere('ts', 'subscriber', ['--name', 'interop.ts.all', topic], env.place, env.vars),
        ]
        for (const p of broadcast) await p.waitFor((l) => l.ready === true)
        await bound(env, rabbit, topic, broadcast)

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

    if (kind === 'rabbitmq') rabbitmqWire(env, () => rabbit as Rabbit)
  })
}

/** Received messages of `topic` printed by `p`. */
const messagesOf = (p: Proc, topic: string) =>
  p.lines.filter((l) => isMessage(topic)(l as Record<string, unknown>)) as Received[]

/**
 * RabbitMQ only: the AMQP message each side puts on the wire, and who may declare a queue
 * group's queue. go-micro's broker is `go-micro.dev/v5/broker/rabbitmq` (registered by
 * go-micro's cmd as `rabbitmq`).
 */
function rabbitmqWire(env: Env, rabbit: () => Rabbit): void {
  it('go publishes: one AMQP message per publish on exchange micro, routing key = topic, headers as AMQP headers, body as is', async () => {
    const topic = `interop.rabbitmq.wire.${runTag()}`
    const got = await rabbit().tap(topic)
    const pub = await run('go', 'publisher', ['--n', '2', '-H', 'X-Interop=yes', topic], env.place, env.vars)
    expect(pub.lines, pub.stderr).toEqual([{ published: 2 }])
    await expect.poll(() => got.length).toBe(2)
    const m = got[0]
    expect(m.fields).toMatchObject({ exchange: 'micro', routingKey: topic })
    // go-micro's JSON codec ends the body with a newline (encoding/json's Encoder).
    expect(m.content.toString()).toBe('{"n":1,"from":"go"}\n')
    expect(m.properties.headers).toEqual({
      'Content-Type': 'application/json',
      'Micro-Topic': topic,
      'Micro-ID': expect.stringMatching(/^[0-9a-f-]{36}$/),
      'X-Interop': 'yes',
    })
  })

  it('ts publishes: the same layout, and a raw go-micro broker subscriber reads headers and body exactly', async () => {
    const topic = `interop.rabbitmq.wire.${runTag()}`
    const raw = startHere('go', 'subscriber', ['--raw', topic], env.place, env.vars)
    await raw.waitFor((l) => l.ready === true)
    await bound(env, rabbit(), topic, [raw])
    const got = await rabbit().tap(topic) // after the probes
    const pub = await run('ts', 'publisher', ['--n', '2', '-H', 'X-Interop=yes', topic], env.place, env.vars)
    expect(pub.lines, pub.stderr).toEqual([{ published: 2 }])
    await expect.poll(() => got.length).toBe(2)
    const m = got[0]
    expect(m.fields).toMatchObject({ exchange: 'micro', routingKey: topic })
    expect(m.content.toString()).toBe('{"n":1,"from":"ts"}')
    const headers = {
      'Content-Type': 'application/json',
      'Micro-Topic': topic,
      // Ours spells it Micro-Id, go-micro Micro-ID: nothing in go-micro reads it on delivery.
      'Micro-Id': expect.stringMatching(/^[0-9a-f-]{36}$/),
      'X-Interop': 'yes',
    }
    expect(m.properties.headers).toEqual(headers)
    // The -raw Go subscriber prints go-micro's broker.Message: Header map and Body string.
    await raw.waitForCount(
      (l) => l.topic === topic && typeof l.body === 'string' && !l.body.includes('probe'),
      2,
    )
    const rawMsgs = raw.lines.filter(
      (l) => (l as Received).topic === topic && !String((l as { body: string }).body).includes('probe'),
    ) as { header: Record<string, string>; body: string }[]
    expect(rawMsgs.map((r) => r.body).sort()).toEqual(['{"n":1,"from":"ts"}', '{"n":2,"from":"ts"}'])
    expect(rawMsgs[0].header).toEqual(headers)
  })

  /** Start queue-group members one after another (each declaring the queue if it is first), then publish. */
  async function shareGroup(
    firsts: [Side, string[]][],
    queue: string,
    topic: string,
  ): Promise<{ members: Proc[]; publish: (from: Side, n: number) => Promise<void> }> {
    onTestFinished(() => rabbit().deleteQueues(queue))
    const members: Proc[] = []
    for (const [side, extra] of firsts) {
      const m = startHere(
        side,
        'subscriber',
        ['--queue', queue, '--name', `interop.${side}.worker`, ...extra, topic],
        env.place,
        env.vars,
      )
      members.push(m)
      await m.waitFor((l) => l.ready === true)
      await rabbit().waitForConsumers(queue, members.length, 8_000)
    }
    const publish = async (from: Side, n: number) => {
      const pub = await run(from, 'publisher', ['--n', String(n), topic], env.place, env.vars)
      expect(pub.lines, pub.stderr).toEqual([{ published: n }])
    }
    return { members, publish }
  }

  async function eachOnceByBoth(members: Proc[], topic: string, n: number): Promise<void> {
    const all = () => members.flatMap((m) => messagesOf(m, topic))
    await members[0].waitFor(() => all().length >= n)
    await new Promise((r) => setTimeout(r, 500))
    expect(
      all()
        .map((m) => m.body.n)
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: n }, (_, i) => i + 1))
    for (const m of members) expect(messagesOf(m, topic).length, m.label).toBeGreaterThan(0)
  }

  it("a queue group queue declared by ours (durable) refuses go-micro's declaration: 406, the Go member never consumes", async () => {
    const topic = `interop.rabbitmq.q.${runTag()}`
    const queue = `workers-${runTag()}`
    const { members, publish } = await shareGroup([['ts', []]], queue, topic)
    // What go-micro's member does on joining, with its arguments: refused.
    await expect(rabbit().declareAsGoMicro(queue)).rejects.toThrow(
      /PRECONDITION_FAILED - inequivalent arg 'durable' for queue '[^']+' in vhost '\/': received 'false' but current is 'true'/,
    )
    const goMember = startHere(
      'go',
      'subscriber',
      ['--queue', queue, '--name', 'interop.go.worker', topic],
      env.place,
      env.vars,
    )
    await goMember.waitFor((l) => l.ready === true)
    // go-micro retries the subscription in the background (100 ms, doubling) and logs nothing.
    await new Promise((r) => setTimeout(r, 2_000))
    expect((await rabbit().queue(queue))?.consumers).toBe(1)
    await publish('go', 10)
    await members[0].waitForCount(isMessage(topic), 10)
    expect(messagesOf(goMember, topic)).toEqual([])
  })

  it.fails('a queue group shared across languages when ours declares the queue first (default durableQueues)', async () => {
    // Fails: go-micro v5's rabbitmq broker cannot join a durable group queue (see the test above
    // and README, differences). Kept so a fix on either side shows up.
    const topic = `interop.rabbitmq.q.${runTag()}`
    const queue = `workers-${runTag()}`
    const { members, publish } = await shareGroup(
      [
        ['ts', []],
        ['go', []],
      ],
      queue,
      topic,
    )
    await publish('go', 20)
    await eachOnceByBoth(members, topic, 20)
  })

  it("a queue group shared across languages when ours declares the queue first with durableQueues=false (go-micro's declaration)", async () => {
    const topic = `interop.rabbitmq.q.${runTag()}`
    const queue = `workers-${runTag()}`
    const { members, publish } = await shareGroup(
      [
        ['ts', ['--broker-option', 'durableQueues=false']],
        ['go', []],
      ],
      queue,
      topic,
    )
    await publish('ts', 20)
    await eachOnceByBoth(members, topic, 20)
  })
}
