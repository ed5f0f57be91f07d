// The OAuth recipe of docs/security.md, run as written: its three files (authorization server, MCP server,
// client-credentials client) are cut from the guide, given free ports, and run with node against the built package.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const children: ChildProcess[] = [];
let dir: string;

beforeAll(() => {
  if (!existsSync(join(root, 'dist/index.js'))) throw new Error('dist/ is missing: run npm run build first (npm test does).');
  // Inside the package, so `import 'express-mcp-sse'` resolves to dist/ through package.json exports.
  dir = mkdtempSync(join(root, '.vitest-oauth-recipe-'));
});
afterAll(() => {
  for (const child of children) child.kill();
  rmSync(dir, { recursive: true, force: true });
});

/** The guide's code block whose first line is `// <name>: …`. */
function recipeFile(guide: string, name: string): string {
  const block = [...guide.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!).find((code) => code.startsWith(`// ${name}:`));
  if (block === undefined) throw new Error(`docs/security.md has no js block starting with "// ${name}:"`);
  return block;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** Starts `node file` and resolves once it printed `ready`. */
function start(file: string, ready: string): Promise<void> {
  const child = spawn(process.execPath, [file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`${file} did not start: ${output}`)), 15_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(ready)) {
        clearTimeout(timer);
        done();
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => fail(new Error(`${file} exited with ${code}: ${output}`)));
  });
}

it('runs the recipe of docs/security.md: a client with only client credentials calls a tool through the OAuth-guarded router', async () => {
  const guide = readFileSync(join(root, 'docs/security.md'), 'utf8');
  const [authPort, mcpPort] = [await freePort(), await freePort()];
  for (const name of ['auth-server.mjs', 'server.mjs', 'client.mjs']) {
    const code = recipeFile(guide, name)
      .replace(/\b4000\b/g, String(authPort))
      .replace(/\b3000\b/g, String(mcpPort));
    writeFileSync(join(dir, name), code);
  }
  await start('auth-server.mjs', 'authorization server on');
  await start('server.mjs', 'MCP server on');
  const { stdout } = await promisify(execFile)(process.execPath, ['client.mjs'], { cwd: dir, timeout: 15_000 });
  expect(stdout.trim()).toBe('client demo-client with scopes mcp:tools');
});
