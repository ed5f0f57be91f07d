// The built package as users consume it: ESM import, CommonJS require, and TypeScript type checking.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const fixtures = join(import.meta.dirname, 'fixtures');

beforeAll(() => {
  if (!existsSync(join(root, 'dist/index.js'))) throw new Error('dist/ is missing: run npm run build first (npm test does).');
});

const node = (file: string): string => execFileSync(process.execPath, [join(fixtures, file)], { encoding: 'utf8', cwd: fixtures }).trim();

describe('package exports', () => {
  it('imports from ESM, main entry and /redis', () => {
    expect(node('esm.mjs')).toBe('function function true function function function function function ERR_MCP_SSE_BUS function');
  });

  it('requires from CommonJS, main entry and /redis', () => {
    expect(node('cjs.cjs')).toBe('function function function function function function');
  });

  it('points every export condition at files with their own types', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, { import: { types: string; default: string }; require: { types: string; default: string } }>;
    };
    for (const entry of ['.', './redis']) {
      for (const condition of ['import', 'require'] as const) {
        expect(existsSync(join(root, pkg.exports[entry]![condition].types))).toBe(true);
        expect(existsSync(join(root, pkg.exports[entry]![condition].default))).toBe(true);
      }
    }
  });

  it('type-checks a TypeScript consumer using SDK v1 and v2 servers', () => {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(fixtures, 'tsconfig.json')], { encoding: 'utf8' });
  });
});
