/**
 * Work on one key runs one at a time, in call order; work on different keys runs at once. A
 * registry uses it so that register and deregister of one node never interleave.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>()

  /** Run `fn` after every earlier call for `key` settled (whether it failed or not). */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve()
    const run = previous.then(fn, fn)
    const tail = run.catch(() => {})
    this.tails.set(key, tail)
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key)
    })
    return run
  }

  /** Resolves once everything started so far has settled. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.tails.values()])
  }

  /** Keys with work queued or running. */
  get size(): number {
    return this.tails.size
  }
}
