import { errors, type HandlerContext, type Store } from '@micro-ts/core'

export interface HelloRequest {
  name: string
}
export interface HelloResponse {
  greeting: string
}
export interface StatsResponse {
  /** Greetings served per name (kept in the store). */
  greetings: Record<string, number>
  /** Names carried by the events received on topic `events`. */
  events: string[]
}
export interface Event {
  name: string
}

/** The seed's greeter: `Greeter.Hello`, plus `Greeter.Stats` so a client can see what the service saw. */
export class Greeter {
  private readonly events: string[] = []

  constructor(private readonly store: Store) {}

  async Hello(req: HelloRequest, _ctx?: HandlerContext): Promise<HelloResponse> {
    // A MicroError reaches the caller as go-micro's {id, code, detail, status}: a 400, its fault.
    if (!req || typeof req.name !== 'string') throw errors.badRequest('greeter', 'name must be a string')
    await this.count(req.name)
    return { greeting: `Hello ${req.name}` }
  }

  async Stats(_req: Record<string, never>): Promise<StatsResponse> {
    const greetings: Record<string, number> = {}
    for (const rec of await this.store.read('greetings/', { prefix: true })) {
      greetings[rec.key.slice('greetings/'.length)] = Number(new TextDecoder().decode(rec.value))
    }
    return { greetings, events: [...this.events] }
  }

  /** Subscriber for topic `events`. */
  onEvent(event: Event): void {
    this.events.push(event.name)
  }

  private async count(name: string): Promise<void> {
    const key = `greetings/${name}`
    let n = 0
    try {
      const [rec] = await this.store.read(key)
      n = Number(new TextDecoder().decode(rec.value))
    } catch {
      // first greeting for this name
    }
    await this.store.write({ key, value: new TextEncoder().encode(String(n + 1)) })
  }
}
