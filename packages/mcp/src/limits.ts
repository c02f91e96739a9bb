/**
 * Per-tool rate limits: a token bucket per tool (go-micro's MCP gateway has the same knobs,
 * requests per second and a burst), shared by every session and transport, so an agent that
 * loops on a tool slows down instead of hammering the service behind it.
 */

export interface RateLimit {
  /** Calls per second each tool allows on average (a fraction is fine: 0.5 is one every 2 s). */
  perSecond: number
  /** Calls a tool allows at once after a quiet spell (default: `perSecond` rounded up, at least 1). */
  burst?: number
}

interface Bucket {
  tokens: number
  at: number
}

export class RateLimiter {
  private readonly rate: number
  private readonly burst: number
  private readonly buckets = new Map<string, Bucket>()

  constructor(limit: RateLimit) {
    if (!(limit.perSecond > 0) || !Number.isFinite(limit.perSecond)) {
      throw new RangeError(`mcp: rateLimit.perSecond must be a positive number, got ${limit.perSecond}`)
    }
    const burst = limit.burst ?? Math.max(1, Math.ceil(limit.perSecond))
    if (!Number.isInteger(burst) || burst < 1) {
      throw new RangeError(`mcp: rateLimit.burst must be an integer >= 1, got ${limit.burst}`)
    }
    this.rate = limit.perSecond / 1000
    this.burst = burst
  }

  /** Take one call for `tool`: 0 when allowed, else how many ms until the next one is. */
  take(tool: string, now = Date.now()): number {
    const b = this.buckets.get(tool) ?? { tokens: this.burst, at: now }
    b.tokens = Math.min(this.burst, b.tokens + (now - b.at) * this.rate)
    b.at = now
    this.buckets.set(tool, b)
    if (b.tokens >= 1) {
      b.tokens -= 1
      return 0
    }
    return Math.ceil((1 - b.tokens) / this.rate)
  }

  /** Forget the buckets of tools that are gone. */
  retain(tools: ReadonlySet<string>): void {
    for (const name of this.buckets.keys()) if (!tools.has(name)) this.buckets.delete(name)
  }
}
