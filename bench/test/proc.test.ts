/** The orchestrator's child processes: a command that cannot be started is done with at once. */
import { describe, expect, it } from 'vitest'
import { Child } from '../src/proc.js'

describe('Child', () => {
  it('a command that is not installed is not running, and stop() returns at once', async () => {
    const child = new Child('missing', 'no-such-command-micro-bench', [])
    await expect(child.ready(5000)).rejects.toThrow(/missing/)
    expect(child.running).toBe(false)
    const started = Date.now()
    await child.stop() // it waited for an 'exit' that never comes
    expect(Date.now() - started).toBeLessThan(500)
    await expect(child.request('run')).rejects.toThrow(/exited|spawn failed/)
  })
})
