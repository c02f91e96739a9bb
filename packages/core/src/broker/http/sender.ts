/**
 * The publisher side: POST the envelope to every broadcast subscriber of the topic and to one
 * member of each queue group, and wait for their answers (which come before their handlers run).
 * A subscriber that refuses the message (400, 413, a Go peer's 500) rejects the publish with its
 * error; one that cannot be reached now (connection failure, 404 for a node that left, 429/502/
 * 503/504, no answer in time) gets the message again from a per-topic backlog, retried with
 * back-off in the background, as go-micro keeps a backlog of 64.
 */
import { Agent } from 'undici'
import { MicroError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import type { Node } from '../../registry/types.js'
import { backoff } from '../../util/backoff.js'
import { brokerError } from '../message.js'
import { BROADCAST_VERSION, errorText, type SubscriberDirectory } from './directory.js'
import { withTimeout } from './receiver.js'

type Outcome = { kind: 'delivered' } | { kind: 'retry' } | { kind: 'refused'; error: MicroError }

/** A message that could not be delivered yet: to one broadcast node, or to any member of a queue group. */
interface Pending {
  readonly payload: Buffer
  readonly target: { kind: 'node'; nodeId: string } | { kind: 'queue'; version: string }
  attempts: number
}

/** Attempts from the backlog before a message is given up (logged). */
const MAX_ATTEMPTS = 20
/** Nodes of one queue group tried for one message before it goes to the backlog. */
const GROUP_TRIES = 3
/** How long a subscriber may take to answer a POST. */
const ANSWER_TIMEOUT_MS = 10_000
const retryDelay = backoff({ base: 100, max: 5_000 })

export interface SenderOptions {
  directory: SubscriberDirectory
  poolSize: number
  backlogSize: number
  logger: Logger
}

export class Sender {
  private agent: Agent | undefined
  private readonly backlog = new Map<string, Pending[]>()
  private readonly retryTimers = new Map<string, NodeJS.Timeout>()
  private readonly sending = new Set<Promise<unknown>>()

  constructor(private readonly options: SenderOptions) {}

  start(): void {
    this.agent = new Agent({
      connections: this.options.poolSize,
      keepAliveTimeout: 4_000,
      headersTimeout: ANSWER_TIMEOUT_MS,
      bodyTimeout: ANSWER_TIMEOUT_MS,
    })
  }

  /** Waits briefly for retries in progress, drops the backlog (logged), closes connections. */
  async stop(): Promise<void> {
    for (const t of this.retryTimers.values()) clearTimeout(t)
    this.retryTimers.clear()
    await withTimeout(Promise.allSettled([...this.sending]), 5_000)
    const dropped = [...this.backlog.values()].reduce((n, l) => n + l.length, 0)
    if (dropped > 0)
      this.options.logger.warn({ dropped }, 'http broker: undelivered messages dropped on disconnect')
    this.backlog.clear()
    const agent = this.agent
    this.agent = undefined
    if (agent) await withTimeout(agent.close(), 2_000, () => agent.destroy().catch(() => {}))
  }

  /** Deliver to every target once; the unreachable ones go to the backlog; a refusal rejects. */
  async publish(topic: string, payload: Buffer, signal?: AbortSignal): Promise<void> {
    const attempts: Promise<Outcome>[] = []
    for (const [version, nodes] of await this.options.directory.nodesFor(topic)) {
      if (version === BROADCAST_VERSION) {
        for (const node of nodes) {
          attempts.push(
            this.send(node, payload, signal).then((r) => {
              if (r.kind === 'retry')
                this.enqueue(topic, { payload, target: { kind: 'node', nodeId: node.id }, attempts: 0 })
              return r
            }),
          )
        }
      } else {
        attempts.push(
          this.sendToGroup(nodes, payload, signal).then((r) => {
            if (r.kind === 'retry')
              this.enqueue(topic, { payload, target: { kind: 'queue', version }, attempts: 0 })
            return r
          }),
        )
      }
    }
    const outcomes = await Promise.all(attempts)
    const refused = outcomes.find((o) => o.kind === 'refused')
    if (refused?.kind === 'refused') throw refused.error
  }

  /** One member of a queue group, starting at a random one and moving on when a node is gone. */
  private async sendToGroup(nodes: Node[], payload: Buffer, signal?: AbortSignal): Promise<Outcome> {
    const start = Math.floor(Math.random() * nodes.length)
    const tries = Math.min(nodes.length, GROUP_TRIES)
    for (let i = 0; i < tries; i++) {
      const r = await this.send(nodes[(start + i) % nodes.length], payload, signal)
      if (r.kind !== 'retry') return r
    }
    return { kind: 'retry' }
  }

  private async send(node: Node, payload: Buffer, signal?: AbortSignal): Promise<Outcome> {
    const agent = this.agent
    if (!agent) return { kind: 'retry' }
    const origin = `${node.metadata?.secure === 'true' ? 'https' : 'http'}://${node.address}`
    let status: number
    let text: string
    try {
      const res = await agent.request({
        origin,
        path: `/?id=${encodeURIComponent(node.id)}`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: payload,
        signal,
      })
      status = res.statusCode
      text = await res.body.text()
    } catch (err) {
      if (signal?.aborted) throw err
      this.options.logger.debug(
        { node: node.id, address: node.address, err: errorText(err) },
        'http broker: post failed',
      )
      this.options.directory.invalidate()
      return { kind: 'retry' }
    }
    if (status >= 200 && status < 300) return { kind: 'delivered' }
    const detail = text.slice(0, 500)
    if (status === 404 || status === 408 || status === 429 || status >= 502) {
      this.options.logger.debug({ node: node.id, status, detail }, 'http broker: subscriber unavailable')
      this.options.directory.invalidate()
      return { kind: 'retry' }
    }
    const parsed = MicroError.parse(detail)
    const error = brokerError(
      status,
      `http broker: subscriber ${node.id} at ${node.address} refused the message (${status}): ${parsed.detail || detail}`,
    )
    return { kind: 'refused', error }
  }

  private track(p: Promise<unknown>): void {
    const tracked = p.catch((err: unknown) =>
      this.options.logger.error({ err: errorText(err) }, 'http broker: send failed'),
    )
    this.sending.add(tracked)
    tracked.finally(() => this.sending.delete(tracked))
  }

  private enqueue(topic: string, entry: Pending): void {
    if (!this.agent) {
      this.options.logger.warn({ topic }, 'http broker: message undeliverable while disconnecting, dropped')
      return
    }
    const list = this.backlog.get(topic) ?? []
    if (list.length >= this.options.backlogSize) {
      this.options.logger.warn({ topic, backlog: list.length }, 'http broker: backlog full, message dropped')
      return
    }
    list.push(entry)
    this.backlog.set(topic, list)
    this.scheduleRetry(topic)
  }

  private scheduleRetry(topic: string): void {
    if (this.retryTimers.has(topic)) return
    const list = this.backlog.get(topic)
    if (!list || list.length === 0) return
    const attempts = Math.min(...list.map((e) => e.attempts))
    const t = setTimeout(
      () => {
        this.retryTimers.delete(topic)
        this.track(this.retry(topic))
      },
      retryDelay(attempts + 1),
    )
    t.unref()
    this.retryTimers.set(topic, t)
  }

  private async retry(topic: string): Promise<void> {
    const entries = this.backlog.get(topic)
    this.backlog.delete(topic)
    if (!entries || entries.length === 0 || !this.agent) return
    this.options.directory.invalidate()
    let byVersion: Map<string, Node[]>
    try {
      byVersion = await this.options.directory.nodesFor(topic)
    } catch (err) {
      this.options.logger.warn(
        { topic, err: errorText(err) },
        'http broker: registry lookup for retry failed',
      )
      this.requeue(topic, entries)
      return
    }
    const failed: Pending[] = []
    for (const entry of entries) {
      entry.attempts++
      let result: Outcome
      if (entry.target.kind === 'node') {
        const id = entry.target.nodeId
        const node = byVersion.get(BROADCAST_VERSION)?.find((n) => n.id === id)
        // The subscriber is gone from the registry: nobody is waiting for this copy any more.
        result = node ? await this.send(node, entry.payload) : { kind: 'delivered' }
      } else {
        const nodes = byVersion.get(entry.target.version)
        result =
          nodes && nodes.length > 0 ? await this.sendToGroup(nodes, entry.payload) : { kind: 'delivered' }
      }
      if (result.kind === 'refused') {
        this.options.logger.error(
          { topic, err: result.error.detail },
          'http broker: a retried message was refused, dropped',
        )
        continue
      }
      if (result.kind === 'delivered') continue
      if (entry.attempts >= MAX_ATTEMPTS) {
        this.options.logger.error({ topic, attempts: entry.attempts }, 'http broker: giving up on a message')
        continue
      }
      failed.push(entry)
    }
    this.requeue(topic, failed)
  }

  private requeue(topic: string, entries: Pending[]): void {
    if (entries.length === 0 || !this.agent) return
    const list = [...entries, ...(this.backlog.get(topic) ?? [])].slice(0, this.options.backlogSize)
    this.backlog.set(topic, list)
    this.scheduleRetry(topic)
  }
}
