import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    name: 'cli',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The files start processes and gateways of their own: one file at a time keeps the 2 cores for them.
    fileParallelism: false,
  },
})
