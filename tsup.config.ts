// tsup.config.ts: builds the ESM and CommonJS bundles, each with its own type declarations.
import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'lib/index.ts', redis: 'lib/redis/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  target: 'node20',
  // No source maps: the bundles are unminified, commented by source file, and stack traces read fine without them.
  sourcemap: false,
  splitting: false,
  external: ['express', 'ioredis', '@modelcontextprotocol/server'],
});
