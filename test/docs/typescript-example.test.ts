// examples/typescript, built with its own tsconfig (strict) against the built package as its
// `file:../..` dependency resolves, then run: its server on a free port and its client calling two tools.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from './markdown.js';

const run = promisify(execFile);
const example = join(repoRoot, 'examples/typescript');
const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
let server: ChildProcess | undefined;

beforeAll(() => {
  if (!existsSync(join(repoRoot, 'dist/index.d.ts'))) throw new Error('dist/ is missing: run npm run build first (npm test does).');
  // What `npm install` in the example makes of its `"express-mcp-sse": "file:../.."` dependency: a link to the repo.
  const link = join(example, 'node_modules/express-mcp-sse');
  if (!existsSync(link) && !lstatSync(link, { throwIfNoEntry: false })) {
    mkdirSync(join(example, 'node_modules'), { recursive: true });
    symlinkSync('../../..', link, 'dir');
  }
});

afterAll(() => {
  server?.kill();
});

/** Starts the built server on a free port; resolves with its MCP URL once it printed it. */
function startServer(): Promise<string> {
  const child = spawn(process.execPath, ['dist/server.js'], { cwd: example, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  server = child;
  let output = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const url = /listening on (\S+)/.exec(output)?.[1];
      if (url) resolve(url);
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`the example server exited with ${code}: ${output}`)));
  });
}

describe('examples/typescript', () => {
  // --skipLibCheck: the declarations are checked with skipLibCheck false by snippets.test.ts and the tarball tests;
  // checking them again here would triple the cost of this test.
  it('builds with tsc and its own tsconfig (strict), without a diagnostic', { timeout: 180_000 }, async () => {
    const { stdout } = await run(process.execPath, [tsc, '-p', example, '--skipLibCheck', '--pretty', 'false'], { cwd: example }).catch(
      (error: { stdout?: string }) => {
        throw new Error(`tsc failed:\n${error.stdout ?? String(error)}`);
      },
    );
    expect(stdout.trim()).toBe('');
    expect(existsSync(join(example, 'dist/server.js'))).toBe(true);
  });

  it('runs: the client calls the server over Streamable HTTP', { timeout: 30_000 }, async () => {
    const url = await startServer();
    const { stdout } = await run(process.execPath, ['dist/client.js', url], { cwd: example, timeout: 20_000 });
    expect(stdout.trim().split('\n')).toEqual(['add: 5', 'whoami: anonymous over streamable-http']);
  });
});
