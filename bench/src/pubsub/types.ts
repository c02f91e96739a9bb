/** One pub/sub contender: a publisher and a subscriber, each in its own process. */
export interface PubSubConfig {
  /** NATS server URL. */
  nats: string
  /** Topic (NATS subject) unique to this run. */
  topic: string
  /** Moleculer namespace unique to this run. */
  namespace: string
}

export interface BenchPublisher {
  /** Publish one already-built message object (encoding is part of the cost). */
  publish(message: unknown): Promise<void> | void
  close(): Promise<void>
}

export interface BenchSubscriber {
  close(): Promise<void>
}

export interface PubSubModule {
  publisher(config: PubSubConfig): Promise<BenchPublisher>
  /** `onMessage` gets each decoded message. Resolves once subscribed. */
  subscriber(config: PubSubConfig, onMessage: (message: unknown) => void): Promise<BenchSubscriber>
}
