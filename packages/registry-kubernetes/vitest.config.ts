import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    name: 'registry-kubernetes',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The backend tests start private apiservers: one file at a time on a 2-core machine.
    fileParallelism: false,
  },
})
