/**
 * Publishing with publisher confirms: one confirm channel per connection, replaced when it
 * closes; a publish resolves only once RabbitMQ has confirmed the message, waits while the
 * channel's buffer drains, and is sent again on the next channel when its channel died before
 * the confirm (at least once, never a confirmed message lost).
 */
import type { Logger } from '@micro-ts/core'
import * as amqp from 'amqplib'
import type { Connection, Model } from './connection.js'
import {
  aborted,
  CHANNEL_REFUSALS,
  errors,
  errorText,
  notConfirmed,
  operationError,
  refused,
  replyCode,
  sizeRefusal,
} from './errors.js'
import type { ResolvedRabbitMQOptions } from './options.js'

/** Where a message goes: an exchange (`''`: the default exchange, routing key = queue name) and a routing key. */
export interface Target {
  exchange: string
  routingKey: string
}

export interface PublishControl {
  /** `Date.now()` after which the publish fails (503 without a connection, 504 unconfirmed). */
  deadline: number
  signal?: AbortSignal
  /** Names the publish in errors (`publish to "orders"`). */
  what: string
}

/** The channel went away before RabbitMQ confirmed: the message may be sent again on the next channel. */
class ChannelLost extends Error {}

/** What amqplib leaves on a channel, watched by this file only. */
interface ChannelState {
  closed: boolean
  lastError: Error | undefined
}

export class Publisher {
  private channel: amqp.ConfirmChannel | undefined
  private opening: Promise<amqp.ConfirmChannel> | undefined
  private readonly states = new WeakMap<amqp.ConfirmChannel, ChannelState>()
  /** Set while the channel's buffer is full: publishes wait for it to drain. */
  private drained: Promise<void> | undefined
  /** The smaller of `maxMessageSize` and the limit RabbitMQ reported when it refused a message. */
  private maxSize: number

  constructor(
    private readonly connection: Connection,
    private readonly options: ResolvedRabbitMQOptions,
    private readonly logger: Logger,
  ) {
    this.maxSize = options.maxMessageSize
    connection.onLost((model) => this.lost(model))
  }

  /** Declare the exchanges on a new connection and open its publish channel (part of its setup). */
  async open(model: Model): Promise<void> {
    const channel = await this.openOn(model)
    if (this.channel && this.channel !== channel) this.channel.close().catch(() => {})
    this.channel = channel
  }

  /**
   * Publish `content` and wait for RabbitMQ's confirm. Over the size limit: a 413 at once.
   * While the connection is down it waits for the next one; a message whose channel closed
   * before the confirm is sent again. Fails after the deadline with a 503 (no connection) or
   * a 504 (sent, not confirmed: it may or may not have been delivered).
   */
  async publish(
    target: Target,
    content: Buffer,
    properties: amqp.Options.Publish,
    control: PublishControl,
  ): Promise<void> {
    if (content.byteLength > this.maxSize) {
      throw errors.tooLarge(
        `cannot ${control.what}: the body is ${content.byteLength} bytes, over the limit of ${this.maxSize} bytes (${this.maxSize < this.options.maxMessageSize ? "the server's max_message_size" : 'maxMessageSize'})`,
      )
    }
    for (;;) {
      const channel = await this.current(control)
      try {
        await this.confirm(channel, target, content, properties, control)
        return
      } catch (err) {
        if (!(err instanceof ChannelLost)) throw err
        if (Date.now() < control.deadline) continue
        throw notConfirmed(
          `${control.what} not confirmed within ${this.options.publishTimeout}ms (connection lost); it may or may not have been delivered`,
        )
      }
    }
  }

  /** The publish channel: the current one, a new one on the live connection, or the next connection's. */
  private async current(control: PublishControl): Promise<amqp.ConfirmChannel> {
    const abort = () => aborted(control.signal as AbortSignal, `${control.what} canceled`)
    for (;;) {
      if (!this.connection.open) throw errors.unavailable('broker disconnected')
      if (control.signal?.aborted) throw abort()
      const model = this.connection.ready
      if (!model) {
        await this.connection.whenReady(control.deadline, control.signal, abort)
        continue
      }
      if (this.channel) {
        if (!this.drained) return this.channel
        await this.within(this.drained, control)
        continue
      }
      this.opening ??= this.openOn(model).finally(() => {
        this.opening = undefined
      })
      try {
        const channel = await this.opening
        if (this.connection.ready === model && !this.channel && !this.state(channel).closed)
          this.channel = channel
        else if (this.channel !== channel) channel.close().catch(() => {})
      } catch (err) {
        if (this.connection.ready === model) throw operationError(err, 'open a publish channel')
      }
    }
  }

  /** A confirm channel on `model` with the exchanges declared (an exchange declared elsewhere with other settings is used as it is). */
  private async openOn(model: Model): Promise<amqp.ConfirmChannel> {
    const { exchange, durableExchange, deadLetterExchange } = this.options
    await this.declareExchange(model, exchange, durableExchange)
    if (deadLetterExchange) await this.declareExchange(model, deadLetterExchange, true)
    const channel = await model.createConfirmChannel()
    const state: ChannelState = { closed: false, lastError: undefined }
    this.states.set(channel, state)
    channel.on('error', (err: Error) => {
      state.lastError = err
      this.logger.warn({ err: errorText(err) }, 'rabbitmq publish channel closed by the server')
    })
    channel.on('close', () => {
      state.closed = true
      if (this.channel === channel) this.channel = undefined
    })
    return channel
  }

  /** A topic exchange; on a throwaway channel, since a refused declaration closes its channel. */
  private async declareExchange(model: Model, name: string, durable: boolean): Promise<void> {
    let channel = await model.createChannel()
    channel.on('error', () => {})
    try {
      await channel.assertExchange(name, 'topic', { durable })
    } catch (err) {
      if (replyCode(err) !== 406) throw err
      // It exists with other settings (e.g. declared durable by another service): use it as it is.
      channel = await model.createChannel()
      channel.on('error', () => {})
      await channel.checkExchange(name)
      this.logger.warn(
        { exchange: name, err: errorText(err) },
        'exchange exists with other settings than requested; using it as it is',
      )
    } finally {
      await channel.close().catch(() => {})
    }
  }

  private state(channel: amqp.ConfirmChannel): ChannelState {
    return this.states.get(channel) ?? { closed: true, lastError: undefined }
  }

  private lost(_model: Model): void {
    this.channel = undefined
    this.drained = undefined
    // The next connection may reach a server with another limit (restarted with a new config).
    this.maxSize = this.options.maxMessageSize
  }

  /** `promise`, unless the deadline passes (503) or the signal aborts first. */
  private within(promise: Promise<void>, control: PublishControl): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer)
        control.signal?.removeEventListener('abort', onAbort)
      }
      const onAbort = () => {
        done()
        reject(aborted(control.signal as AbortSignal, `${control.what} canceled`))
      }
      const timer = setTimeout(
        () => {
          done()
          reject(
            errors.unavailable(
              `cannot ${control.what}: RabbitMQ took no more data within ${this.options.publishTimeout}ms`,
            ),
          )
        },
        Math.max(0, control.deadline - Date.now()),
      )
      control.signal?.addEventListener('abort', onAbort, { once: true })
      promise.then(
        () => {
          done()
          resolve()
        },
        (err) => {
          done()
          reject(err)
        },
      )
    })
  }

  /** Publish on `channel` and wait for RabbitMQ's confirm. */
  private confirm(
    channel: amqp.ConfirmChannel,
    target: Target,
    content: Buffer,
    properties: amqp.Options.Publish,
    control: PublishControl,
  ): Promise<void> {
    const state = this.state(channel)
    return new Promise<void>((resolve, reject) => {
      let settled = false
      const finish = (err?: unknown) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        control.signal?.removeEventListener('abort', onAbort)
        if (err) reject(err)
        else resolve()
      }
      const onAbort = () =>
        finish(
          aborted(
            control.signal as AbortSignal,
            `${control.what} canceled before RabbitMQ confirmed it; it may or may not have been delivered`,
          ),
        )
      const timer = setTimeout(
        () =>
          finish(
            notConfirmed(
              `${control.what} not confirmed within ${this.options.publishTimeout}ms; it may or may not have been delivered`,
            ),
          ),
        Math.max(0, control.deadline - Date.now()),
      )
      control.signal?.addEventListener('abort', onAbort, { once: true })
      let ok: boolean
      try {
        ok = channel.publish(target.exchange, target.routingKey, content, properties, (err: unknown) => {
          if (!err) return finish()
          finish(this.failure(state, err, content, control))
        })
      } catch (err) {
        if (err instanceof RangeError) {
          return finish(errors.tooLarge(`message headers too large to encode: ${errorText(err)}`, err))
        }
        // The channel closed between picking it and publishing (amqplib throws synchronously then).
        if (err instanceof amqp.IllegalOperationError || state.closed) return finish(new ChannelLost())
        return finish(errors.internal(`cannot ${control.what}: ${errorText(err)}`, err))
      }
      if (!ok && !this.drained) {
        this.drained = new Promise<void>((release) => {
          const done = () => {
            this.drained = undefined
            channel.removeListener('drain', done)
            channel.removeListener('close', done)
            release()
          }
          channel.once('drain', done)
          channel.once('close', done)
        })
      }
    })
  }

  /** Why the confirm failed: this message's fault (an error), or its channel's (send it again). */
  private failure(state: ChannelState, err: unknown, content: Buffer, control: PublishControl): unknown {
    const refusal = state.lastError
    const size = sizeRefusal(refusal)
    if (size) {
      // RabbitMQ closes the channel for one oversized message: every other message in flight
      // on it is innocent and goes again; the limit is remembered so the next oversized one
      // is refused here without costing a channel.
      this.maxSize = Math.min(this.maxSize, size.max)
      if (content.byteLength > size.max) return operationError(refusal, control.what)
      return new ChannelLost()
    }
    const code = replyCode(refusal)
    // RabbitMQ closed the channel because of the exchange or the message: sending again would fail again.
    if (code !== undefined && CHANNEL_REFUSALS.has(code)) return operationError(refusal, control.what)
    if (state.closed || /closed/i.test(errorText(err))) return new ChannelLost()
    return refused(`RabbitMQ refused the message (${control.what}): ${errorText(err)}`)
  }
}
