import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    name: 'interop',
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Programs start as child processes and some suites share a namespace or an etcd: one file at a time.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
