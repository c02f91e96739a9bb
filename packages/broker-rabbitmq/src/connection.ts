/**
 * The broker's one AMQP connection: connect, set up every (re)connection before it counts as
 * up, and recover. amqplib's recovery reopens a dropped connection with the kit's back-off;
 * callers that need the connection while it is down wait for the next one.
 */
import type { Logger } from '@micro-ts/core'
import { backoff } from '@micro-ts/core/plugin'
import * as amqp from 'amqplib'
import { connectError, errors, errorText } from './errors.js'
import type { ResolvedRabbitMQOptions } from './options.js'

export type Model = amqp.ChannelModel

/** What the broker does on each new connection, in order, before it counts as up. */
export type Setup = (model: Model, isClosed: () => boolean) => Promise<void>

interface Waiter {
  resolve(model: Model): void
  reject(err: unknown): void
}

export class Connection {
  private recovering: amqp.RecoveringChannelModel | undefined
  private connecting: Promise<void> | undefined
  /** The live connection, from the start of its setup until it closes. */
  private model: Model | undefined
  /**
   * True once the live connection's setup finished: publishes wait until the subscriptions are
   * open again, so a message published right after a reconnect is not routed to nowhere.
   */
  private up = false
  private readonly waiters = new Set<Waiter>()
  private readonly lostHandlers: ((model: Model) => void)[] = []

  constructor(
    private readonly options: ResolvedRabbitMQOptions,
    private readonly logger: Logger,
    private readonly setup: Setup,
  ) {}

  /** True between connect() and close(), whether or not the connection is up right now. */
  get open(): boolean {
    return this.recovering !== undefined
  }

  /** The live connection (possibly still being set up), if any. */
  get live(): Model | undefined {
    return this.model
  }

  /** The connection once it is up (set up), if it is. */
  get ready(): Model | undefined {
    return this.up ? this.model : undefined
  }

  /** Call `fn` whenever a live connection closes. */
  onLost(fn: (model: Model) => void): void {
    this.lostHandlers.push(fn)
  }

  /**
   * Connect and stay connected. Fails with a MicroError within `connectTimeout`: 503 when
   * RabbitMQ cannot be reached, 401 when it refuses the credentials, 403 for the vhost.
   */
  async connect(): Promise<void> {
    if (this.connecting) return this.connecting
    if (this.recovering) return
    const attempt = this.attempt()
    this.connecting = attempt
    try {
      await attempt
    } finally {
      this.connecting = undefined
    }
  }

  private async attempt(): Promise<void> {
    const o = this.options
    let recovering: amqp.RecoveringChannelModel | undefined
    let timer: NodeJS.Timeout | undefined
    try {
      recovering = await amqp.connect(o.url, {
        ...o.tls,
        timeout: o.connectTimeout,
        clientProperties: { connection_name: o.connectionName },
        recovery: {
          calculateDelay: backoff({ base: o.reconnectWait, max: o.reconnectMaxWait }),
          // The first connection fails fast with a clear error; later ones are retried for ever.
          initialMaxRetries: 0,
          waitForConnect: false,
          setup: (model: Model) => this.setUp(model),
        },
      })
      this.listen(recovering)
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              errors.unavailable(`cannot reach ${o.displayAddress}: timed out after ${o.connectTimeout}ms`),
            ),
          o.connectTimeout,
        )
      })
      await Promise.race([recovering.waitForConnect(), timedOut])
      this.recovering = recovering
    } catch (err) {
      await recovering?.close().catch(() => {})
      this.model = undefined
      this.up = false
      throw connectError(err, o.displayAddress)
    } finally {
      clearTimeout(timer)
    }
  }

  /** Fail whoever waits for a connection with a 503, and close the connection. */
  async close(): Promise<void> {
    await this.connecting?.catch(() => {})
    const recovering = this.recovering
    if (!recovering) return
    this.recovering = undefined
    this.failWaiters(errors.unavailable('broker disconnected'))
    await recovering
      .close()
      .catch((err) => this.logger.debug({ err: errorText(err) }, 'closing the connection failed'))
    this.model = undefined
    this.up = false
  }

  /**
   * The connection once it is up: now, or when the next reconnection's setup finishes. Rejects
   * with a 503 after `deadline`, or with the signal's reason (`abort`) when it aborts first.
   */
  whenReady(deadline: number, signal: AbortSignal | undefined, abort: () => unknown): Promise<Model> {
    const ready = this.ready
    if (ready) return Promise.resolve(ready)
    if (!this.recovering) return Promise.reject(errors.unavailable('broker disconnected'))
    return new Promise<Model>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.waiters.delete(waiter)
      }
      const waiter: Waiter = {
        resolve: (model) => {
          done()
          resolve(model)
        },
        reject: (err) => {
          done()
          reject(err)
        },
      }
      const onAbort = () => waiter.reject(abort())
      const timer = setTimeout(
        () =>
          waiter.reject(
            errors.unavailable(
              `no connection to ${this.options.displayAddress} within ${this.options.publishTimeout}ms`,
            ),
          ),
        Math.max(0, deadline - Date.now()),
      )
      signal?.addEventListener('abort', onAbort, { once: true })
      this.waiters.add(waiter)
    })
  }

  private failWaiters(err: unknown): void {
    for (const w of [...this.waiters]) w.reject(err)
  }

  /** Runs on every (re)connection before amqplib counts it as up. */
  private async setUp(model: Model): Promise<void> {
    let closed = false
    model.on('error', (err: Error) => this.logger.warn({ err: errorText(err) }, 'rabbitmq connection error'))
    model.once('close', () => {
      closed = true
      if (this.model !== model) return
      this.model = undefined
      this.up = false
      for (const fn of this.lostHandlers) fn(model)
    })
    this.model = model
    await this.setup(model, () => closed)
    // The recovery wrapper treats the connection as up once this resolves: it must not be dead already.
    if (closed) throw new Error('connection closed during setup')
    this.up = true
    for (const w of [...this.waiters]) w.resolve(model)
  }

  private listen(recovering: amqp.RecoveringChannelModel): void {
    recovering.on('error', (err: Error) =>
      this.logger.debug({ err: errorText(err) }, 'rabbitmq connection error'),
    )
    recovering.on('disconnect', (err: Error) =>
      this.logger.warn({ err: errorText(err) }, 'rabbitmq connection lost; reconnecting'),
    )
    recovering.on('reconnect-scheduled', (info: { attempt: number; delay: number; error: Error }) =>
      this.logger.debug(
        { attempt: info.attempt, delay: info.delay, err: errorText(info.error) },
        'reconnect scheduled',
      ),
    )
    recovering.on('connect', () => this.logger.debug({}, 'rabbitmq connected'))
    recovering.on('reconnect-failed', (err: Error) => {
      // Only after the first connection: a failing first connect() reports its own error.
      if (this.recovering !== recovering) return
      this.logger.error({ err: errorText(err) }, 'rabbitmq reconnection abandoned')
      this.failWaiters(errors.unavailable(`reconnection abandoned: ${errorText(err)}`))
    })
  }
}
