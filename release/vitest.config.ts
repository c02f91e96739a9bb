import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    name: 'release',
    // Also when run from the repository root with --config release/vitest.config.ts.
    root: fileURLToPath(new URL('.', import.meta.url)),
    include: ['test/**/*.test.ts'],
    // The journey is one sequence of steps on one throwaway copy and one registry; the static
    // checks are quick. Steps install, build and publish, so they get minutes, not seconds.
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
})
