// The Redis bus with nothing listening at its URL (no redis-server needed): errors are reported, never thrown,
// POSTs that need forwarding answer 503, local sessions work, and close() does not hang.
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import type { McpSseError } from '../../lib/index.js';
import { redisSessionBus } from '../../lib/redis/index.js';
import { startHarness, waitFor, type Harness } from '../helpers/server.js';

let harness: Harness | undefined;
let client: Client | undefined;

afterEach(async () => {
  await client?.close();
  await harness?.close();
  client = harness = undefined;
});

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('redisSessionBus when Redis cannot be reached', () => {
  it('reports it once per connection, answers 503 for forwards, serves local sessions, and closes promptly', async () => {
    const port = await closedPort();
    const errors: McpSseError[] = [];
    const bus = redisSessionBus({ url: `redis://127.0.0.1:${port}`, instanceId: 'lonely' });
    harness = await startHarness({ bus, onError: (error) => errors.push(error) });
    await waitFor(() => errors.length === 2, 5000, 'both connections to report');
    for (const error of errors) {
      expect(error.code).toBe('ERR_MCP_SSE_BUS');
      expect(error.message).toContain(`cannot reach Redis at 127.0.0.1:${port} (connect ECONNREFUSED`);
      expect(error.message).toContain('answer 503');
    }
    expect(errors.map((e) => e.message).join('\n')).toMatch(
      /commands connection[\s\S]*subscriber connection|subscriber connection[\s\S]*commands connection/,
    );

    client = new Client({ name: 'local', version: '1.0.0' });
    await client.connect(new SSEClientTransport(new URL(harness.sseUrl)));
    const result = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
    expect((result as { content: { text: string }[] }).content[0]!.text).toBe('5');

    const response = await fetch(`${harness.baseUrl}/mcp/messages?sessionId=somewhere-else`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'ping' }),
    });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ jsonrpc: '2.0', id: 3, error: { data: { reason: 'bus_unavailable' } } });

    expect(harness.router.sessions.broadcast({ method: 'notifications/test' })).toBe(1);
    expect(errors.at(-1)!.message).toMatch(/broadcast reached only this instance/);

    // Retries go on in the background without more reports.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(errors).toHaveLength(3);
    const start = Date.now();
    await client.close();
    client = undefined;
    await harness.close();
    harness = undefined;
    expect(Date.now() - start).toBeLessThan(3000);
    expect(bus.stats().connected).toBe(false);
  });

  it('refuses to be attached to a second router', async () => {
    const bus = redisSessionBus({ url: `redis://127.0.0.1:${await closedPort()}` });
    harness = await startHarness({ bus, onError: () => {} });
    const errors: McpSseError[] = [];
    const second = await startHarness({ bus, onError: (error) => errors.push(error) });
    try {
      await waitFor(() => errors.length > 0, 2000, 'the second attach to fail');
      expect(errors[0]!.message).toMatch(/failed to start/);
      expect((errors[0]!.cause as Error).message).toMatch(/already attached to a router; create one redisSessionBus\(\) per router/);
    } finally {
      await second.close();
    }
  });
});
