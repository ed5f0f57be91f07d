// vitest.config.ts: `unit` runs with npm test (real HTTP servers, no external programs); `integration` needs
// Redis, nginx and Chromium from PATH; `stress` holds the long load and churn runs.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/integration/**', 'test/stress/**'],
          testTimeout: 20_000,
          hookTimeout: 20_000,
          // Type tests of the public API (test/types/*.test-d.ts) run through tsc alongside the unit tests.
          typecheck: { enabled: true, include: ['test/types/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'stress',
          include: ['test/stress/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 60_000,
          fileParallelism: false,
          pool: 'forks',
          execArgv: ['--expose-gc'],
        },
      },
    ],
  },
});
