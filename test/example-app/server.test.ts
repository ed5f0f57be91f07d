// The example app's start-up failures: a busy port and a refused setting end the process with a clear line and exit 1.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
let holder: Server;
let heldPort: number;

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/index.js'))) throw new Error('dist/ is missing: run npm run build first (npm test does).');
  holder = createServer();
  await new Promise<void>((done) => holder.listen(0, '127.0.0.1', done));
  heldPort = (holder.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((done) => holder.close(() => done())));

/** Runs the example app to its exit; the environment holds only what the test gives (no stray API_KEY). */
async function startApp(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = { PATH: process.env.PATH ?? '', HOST: '127.0.0.1' };
  try {
    const { stdout, stderr } = await run(process.execPath, ['example-app/server.js'], { cwd: root, env: { ...base, ...env }, timeout: 15_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string };
    return { code, stdout, stderr };
  }
}

describe('example app', () => {
  it('reports a busy port and exits 1', async () => {
    const { code, stderr } = await startApp({ PORT: String(heldPort) });
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(`Port ${heldPort} is already in use on 127.0.0.1: stop what holds it, or start with PORT=<another port>.`);
  });

  it('reports an API_KEY the package refuses and exits 1', async () => {
    const { code, stderr } = await startApp({ PORT: String(heldPort), API_KEY: 'short' });
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(
      'Cannot start: apiKeyStrategy option "keys" holds a key of 5 characters: keys need at least 16 (generate one with `openssl rand -hex 32`).',
    );
  });
});
