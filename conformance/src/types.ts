/** What every suite is called with. Each kind adds its own capability names and options. */
export interface SuiteSpec<T, C extends string, O> {
  /** Shown in the test names, e.g. `etcd`. */
  name: string
  /**
   * A fresh instance on every call. Called once or more per test; the suite closes what it made
   * after each test. Brokers come back unconnected (the suite connects them).
   */
  create: () => T | Promise<T>
  /**
   * Optional behaviour the implementation has. Declared ones are tested; every other one is
   * asserted absent, so a declaration cannot drift from the code.
   */
  capabilities: readonly C[]
  /** Per-backend knobs (timeouts, TTL granularity, sizes). */
  options?: O
  /**
   * Set (usually from {@link probeBackend}) when the backend is unreachable: the suite is
   * skipped with this reason on a laptop, and fails when `CI` is set.
   */
  skip?: string | false
}

/** Timing knobs every suite shares. */
export interface CommonOptions {
  /** How long a close()/disconnect() may take before the test fails, ms (default 10 000). */
  closeTimeout?: number
  /** Time limit of each test, ms (default 60 000). */
  testTimeout?: number
}
