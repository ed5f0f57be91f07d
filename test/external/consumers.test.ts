// The package as users get it: the `npm pack` tarball installed by npm into throwaway ESM, CommonJS and TypeScript
// apps (Express 5 and 4, with and without the /redis subpath), run with Node and compiled with skipLibCheck false.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Consumer, createConsumer, type PackedFile, pack, packedManifest, repoRoot, scratchDir } from './helpers/consumer.js';

const sdk = '@modelcontextprotocol/sdk@^1.32';
const nodeTypes = '@types/node@^20';
const passportJwt = ['passport-jwt@^4', '@types/passport-jwt@^4'];
const serve = ['serve.mjs', 'serve.cjs'];
/** The fixtures that must fail to compile; every other file must compile cleanly. */
const failing = ['typos.ts', 'surface.ts'];

/** Names of the router's internal plumbing (surface.ts lists the same), never to be published as API. */
const plumbing = [
  'attach',
  'receive',
  'closeSession',
  'admit',
  'deliver',
  'markDetached',
  'counters',
  'busNode',
  'post',
  'resume',
  'openStandalone',
  'sendSerialized',
  'endStreams',
  'bindServer',
  'sessionIdle',
  'sessionEnded',
  'addStatelessTarget',
];
/** The objects an app is handed: the router, its session registry, each session's transport and its context. */
const handedOut = new Set(['McpSseRouter', 'SessionRegistry', 'SSETransport', 'StreamableHTTPTransport', 'McpSession', 'SessionContext']);

const scratch = scratchDir();
let packed: { tarball: string; files: PackedFile[] };
/** Express 5 types and runtime, the SDK and another Passport strategy; no ioredis. */
let express5: Consumer;
/** Express 5 with ioredis, for the /redis subpath; no Passport types at all. */
let express5Redis: Consumer;
/** Express 4 types and runtime. */
let express4: Consumer;

beforeAll(async () => {
  packed = await pack(scratch.dir);
  [express5, express5Redis, express4] = await Promise.all([
    createConsumer(scratch.dir, packed.tarball, {
      name: 'express5',
      dependencies: ['express@^5', '@types/express@^5', sdk, nodeTypes, ...passportJwt],
      files: [...serve, 'app.ts', 'app.cts', ...failing],
      typecheck: ['app.ts', 'app.cts', ...failing],
    }),
    createConsumer(scratch.dir, packed.tarball, {
      name: 'express5-redis',
      dependencies: ['express@^5', '@types/express@^5', sdk, 'ioredis@^5', nodeTypes],
      files: ['redis.mjs', 'redis.cjs', 'redis-app.ts', 'redis-app.cts'],
      typecheck: ['redis-app.ts', 'redis-app.cts'],
    }),
    createConsumer(scratch.dir, packed.tarball, {
      name: 'express4',
      dependencies: ['express@^4.21', '@types/express@^4.17', sdk, nodeTypes, ...passportJwt],
      files: [...serve, 'app.ts', 'app.cts'],
      typecheck: ['app.ts', 'app.cts'],
    }),
  ]);
}, 240_000);

// Three apps' node_modules: removing them can take a while on a busy machine.
afterAll(() => scratch.remove(), 120_000);

/** Diagnostics of `consumer` in `file`, or in every file but the failing fixtures when `file` is omitted. */
function diagnostics(consumer: Consumer, file?: string): string[] {
  return consumer.diagnostics.filter((d) => (file === undefined ? !failing.some((f) => d.startsWith(`${f}(`)) : d.startsWith(`${file}(`)));
}

describe('the tarball', () => {
  it('holds the bundles, their declarations, the README, licence and changelog, and nothing else', () => {
    const paths = packed.files.map((file) => file.path).sort();
    const allowed = /^(package\.json|README\.md|LICENSE|CHANGELOG\.md|dist\/[\w-]+\.(js|cjs|d\.ts|d\.cts))$/;
    expect(paths.filter((path) => !allowed.test(path))).toEqual([]);
    for (const required of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']) expect(paths).toContain(required);
  });

  it('holds a file for every export condition', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      exports: Record<string, string | Record<'import' | 'require', { types: string; default: string }>>;
    };
    const paths = new Set(packed.files.map((file) => file.path));
    const targets = Object.values(pkg.exports).flatMap((entry) =>
      typeof entry === 'string' ? [entry] : Object.values(entry).flatMap(({ types, default: main }) => [types, main]),
    );
    expect(targets.length).toBeGreaterThan(8);
    for (const target of targets) expect(paths, target).toContain(target.replace(/^\.\//, ''));
  });

  // npm 11 warns about any of these in a tarball install; `prepare` stays in the repository for git installs.
  it('runs nothing at install: no preinstall, install, postinstall or prepare script in the published manifest', async () => {
    const { scripts = {} } = await packedManifest(packed.tarball);
    expect(Object.keys(scripts).filter((name) => ['preinstall', 'install', 'postinstall', 'prepare'].includes(name))).toEqual([]);
    const own = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(own.scripts['prepare']).toBe('npm run build');
  });
});

describe('JavaScript apps', () => {
  const served = 'function function function function function function 200 /mcp/messages 1 true';

  it('import it from ESM and serve a stream (Express 5)', async () => {
    expect(await express5.node('serve.mjs')).toBe(served);
  });

  it('require it from CommonJS and serve a stream (Express 5)', async () => {
    expect(await express5.node('serve.cjs')).toBe(served);
  });

  it('import and require it on Express 4', async () => {
    expect(await express4.node('serve.mjs')).toBe(served);
    expect(await express4.node('serve.cjs')).toBe(served);
  });

  it('import and require the /redis subpath', async () => {
    expect(await express5Redis.node('redis.mjs')).toBe('function function TypeError');
    expect(await express5Redis.node('redis.cjs')).toBe('function function TypeError');
  });
});

describe('TypeScript apps with skipLibCheck false', () => {
  it('compile on Express 5 types, ESM and CommonJS, with another Passport strategy', () => {
    expect(diagnostics(express5)).toEqual([]);
  });

  it('compile on Express 5 types with the /redis subpath and no Passport types installed', () => {
    expect(diagnostics(express5Redis)).toEqual([]);
  });

  it('compile on Express 4 types, ESM and CommonJS', () => {
    expect(diagnostics(express4)).toEqual([]);
  });

  it('report misspelt options, top-level and inside cors, rateLimit and auth', () => {
    const errors = diagnostics(express5, 'typos.ts');
    expect(errors).toHaveLength(4);
    const misspelt: [line: number, key: string][] = [
      [5, 'keepAliveMS'],
      [6, 'orign'],
      [7, 'windowMS'],
      [8, 'endpoint'],
    ];
    for (const [line, key] of misspelt) {
      const error = errors.find((e) => e.startsWith(`typos.ts(${line},`));
      expect(error, key).toContain(`'${key}'`);
    }
  });
});

describe('the published declarations', () => {
  it('keep internal plumbing off the router, its registry, transports and session context', () => {
    // What an app can call: keyof of each object it is handed (inherited members included).
    const reachable = diagnostics(express5, 'surface.ts');
    // What is written in the .d.ts files at all, private members included.
    const dist = join(express5.dir, 'node_modules/express-mcp-sse/dist');
    const declared: string[] = [];
    for (const file of readdirSync(dist).filter((name) => /\.d\.c?ts$/.test(name))) {
      const source = ts.createSourceFile(file, readFileSync(join(dist, file), 'utf8'), ts.ScriptTarget.Latest);
      source.forEachChild((node) => {
        if (!(ts.isClassDeclaration(node) || ts.isInterfaceDeclaration(node)) || !handedOut.has(node.name?.text ?? '')) return;
        for (const member of node.members) {
          const name = member.name !== undefined && ts.isIdentifier(member.name) ? member.name.text : undefined;
          if (name !== undefined && plumbing.includes(name)) declared.push(`${node.name?.text}.${name} (${file})`);
        }
      });
    }
    expect({ reachable, declared }).toEqual({ reachable: [], declared: [] });
  });
});
