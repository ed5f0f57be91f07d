// mcp-remote (the stdio proxy desktop clients use for remote servers) against the router, with either URL a user
// might configure: it tries Streamable HTTP first and falls back to HTTP+SSE on a 4xx.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/server.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const proxy = createRequire(import.meta.url).resolve('mcp-remote/dist/proxy.js');

/** Runs mcp-remote against `url`, speaks MCP to it over stdio, and returns the result of one tool call. */
async function callThroughMcpRemote(url: string): Promise<{ result: unknown; log: string }> {
  const home = mkdtempSync(join(tmpdir(), 'mcp-remote-'));
  const child = spawn(process.execPath, [proxy, url, '--allow-http'], { env: { ...process.env, MCP_REMOTE_CONFIG_DIR: home }, stdio: 'pipe' });
  let log = '';
  child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const send = (message: object) => child.stdin.write(`${JSON.stringify(message)}\n`);
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`mcp-remote did not answer:\n${log}`)), 20_000);
      let buffered = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) {
          const message = JSON.parse(line) as { id?: number; result?: unknown };
          if (message.id === 1) {
            send({ jsonrpc: '2.0', method: 'notifications/initialized' });
            send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'add', arguments: { a: 20, b: 22 } } });
          } else if (message.id === 2) {
            clearTimeout(timer);
            resolve({ result: message.result, log });
          }
        }
      });
      child.on('exit', (code) => reject(new Error(`mcp-remote exited with ${code}:\n${log}`)));
      send({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'test', version: '1' } },
      });
    });
  } finally {
    child.kill();
    rmSync(home, { recursive: true, force: true });
  }
}

describe('mcp-remote', () => {
  it('connects with Streamable HTTP to the mount point', async () => {
    harness = await startHarness();
    const { result, log } = await callThroughMcpRemote(`${harness.baseUrl}/mcp`);
    expect(result).toEqual({ content: [{ type: 'text', text: '42' }] });
    expect(log).toMatch(/Connected to remote server using StreamableHTTPClientTransport/);
    expect(harness.router.sessions.stats().byTransport.sse).toEqual({ active: 0, detached: 0 });
  });

  it('falls back to HTTP+SSE when given the legacy URL', async () => {
    harness = await startHarness();
    const { result, log } = await callThroughMcpRemote(harness.sseUrl);
    expect(result).toEqual({ content: [{ type: 'text', text: '42' }] });
    expect(log).toMatch(/Connected to remote server using SSEClientTransport/);
  });
});
