/** Broker: asynchronous pub/sub (go-micro broker/broker.go). */

/** What a broker carries: string headers and raw bytes, as go-micro's `broker.Message`. */
export interface BrokerMessage {
  headers: Record<string, string>
  body: Uint8Array
}

export interface BrokerEvent {
  readonly topic: string
  readonly message: BrokerMessage
  /** Acknowledge (only meaningful with `autoAck: false` on a broker with the `ack` capability). */
  ack(): Promise<void>
  /** Negative acknowledge: ask for redelivery (brokers with the `ack` capability). */
  nack(): Promise<void>
}

/** A handler that throws (or rejects) signals failure: brokers with `ack` redeliver. */
export type BrokerHandler = (event: BrokerEvent) => void | Promise<void>

export interface SubscribeOptions {
  /** Queue group: each message goes to exactly one member of the group. Without it every subscriber gets every message. */
  queue?: string
  /** Ack automatically when the handler returns (default true). */
  autoAck?: boolean
}

export interface PublishOptions {
  signal?: AbortSignal
}

export interface Subscription {
  readonly topic: string
  readonly queue?: string
  unsubscribe(): Promise<void>
}

export interface Broker {
  readonly name: string
  /** The address subscribers are reached at (HTTP broker) or the server address; '' when not connected. */
  address(): string
  connect(): Promise<void>
  disconnect(): Promise<void>
  /** Throws a MicroError when not connected. */
  publish(topic: string, message: BrokerMessage, options?: PublishOptions): Promise<void>
  subscribe(topic: string, handler: BrokerHandler, options?: SubscribeOptions): Promise<Subscription>
  /**
   * Optional: resolve once the backend answered, reject (a MicroError, 503 when unreachable)
   * otherwise; give up when `signal` fires. A service's `/health/ready` calls it once it has
   * connected the broker; a broker without it counts as up while `address()` is not ''.
   */
  ping?(signal?: AbortSignal): Promise<void>
}
