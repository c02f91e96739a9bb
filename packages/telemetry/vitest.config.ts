import { defineConfig } from 'vitest/config'

export default defineConfig({
  // Jaeger, Prometheus and the go-micro programs are child processes: one file at a time on 2 cores.
  test: {
    name: 'telemetry',
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
})
