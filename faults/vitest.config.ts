import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    name: 'faults',
    include: ['test/**/*.test.ts'],
    // One scenario at a time: each loads the machine (2 cores) and measures what it does.
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 120_000,
  },
})
