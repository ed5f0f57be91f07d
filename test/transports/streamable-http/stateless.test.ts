// The 2026-07-28 era on the Streamable HTTP endpoint: real 2026 clients (SDK v2 auto and pinned, the AI SDK's MCP
// client) against SDK v2 servers, fallback to sessions with SDK v1 servers, and the router's chain in front.
import { afterEach, describe, expect, it } from 'vitest';
import { Client as ClientV2, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { McpServer as McpServerV2 } from '@modelcontextprotocol/server';
import { createMCPClient } from '@ai-sdk/mcp';
import { z } from 'zod';
import { apiKeyStrategy, type SessionContext } from '../../../lib/index.js';
import { buildServerV1, startHarness, waitFor, type Harness, type HarnessOptions } from '../../helpers/server.js';
import { modern } from './stateless-fixture.js';

let harness: Harness | undefined;
const closers: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close().catch(() => {})));
  await harness?.close();
  harness = undefined;
});

const echoSchema = z.object({ text: z.string() });
const countSchema = z.object({ to: z.number() });

/** An SDK v2 server that counts how many instances were built and closed. */
function countingV2(counts: { built: number; closed: number }, session?: SessionContext): McpServerV2 {
  counts.built++;
  const server = new McpServerV2({ name: 'stateless-v2', version: '2.0.0' }, { capabilities: { logging: {}, tools: { listChanged: true } } });
  server.registerTool('echo', { inputSchema: echoSchema }, async ({ text }, ctx) => ({
    content: [{ type: 'text', text: `${text} for ${ctx.http?.authInfo?.clientId ?? session?.user?.id ?? 'anonymous'}` }],
  }));
  server.registerTool('count', { inputSchema: countSchema }, async ({ to }, ctx) => {
    for (let step = 1; step <= to; step++) {
      const token = ctx.mcpReq._meta?.progressToken;
      if (token !== undefined)
        await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: step, total: to } });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return { content: [{ type: 'text', text: `counted to ${to}` }] };
  });
  // The SDK ends a served request's server through its transport (onclose); servers never used get close().
  let done = false;
  const finished = () => {
    if (!done) counts.closed++;
    done = true;
  };
  server.server.onclose = finished;
  const close = server.close.bind(server);
  server.close = async () => {
    finished();
    await close();
  };
  return server;
}

const textOf = (result: unknown): string => (result as { content: { text: string }[] }).content[0]!.text;

async function sdkClient(
  url: string,
  mode: 'auto' | { pin: string },
  headers: Record<string, string> = {},
): Promise<{ client: ClientV2; transport: StreamableHTTPClientTransport }> {
  const client = new ClientV2({ name: 'era-client', version: '2.0.0' }, { versionNegotiation: { mode } } as never);
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  await client.connect(transport);
  closers.push(() => client.close());
  return { client, transport };
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(body),
  });

describe('2026-07-28 requests with an SDK v2 server', () => {
  const start = (counts: { built: number; closed: number }, options: HarnessOptions = {}) =>
    startHarness({ createServer: (session) => countingV2(counts, session), ...options });

  it.each([
    ['auto', 'auto' as const],
    ['pinned', { pin: '2026-07-28' }],
  ])('serves the SDK v2 client in %s mode without a session', async (_name, mode) => {
    const counts = { built: 0, closed: 0 };
    const contexts: SessionContext[] = [];
    harness = await startHarness({ createServer: (session) => (contexts.push(session), countingV2(counts, session)) });
    const { client, transport } = await sdkClient(`${harness.baseUrl}/mcp`, mode);
    expect(transport.sessionId).toBeUndefined();
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['echo', 'count']);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'hi' } }))).toBe('hi for anonymous');
    const progress: number[] = [];
    expect(textOf(await client.callTool({ name: 'count', arguments: { to: 3 } }, { onprogress: (p) => progress.push(p.progress) }))).toBe(
      'counted to 3',
    );
    expect(progress).toEqual([1, 2, 3]);
    expect(harness.router.sessions.size).toBe(0);
    expect(contexts.every((c) => c.transport === 'streamable-http' && c.sessionId === undefined && c.protocolVersion === '2026-07-28')).toBe(true);
    expect(harness.router.sessions.stats().statelessRequests).toBeGreaterThanOrEqual(3);
    // One server per request, every one closed once its request ended.
    await waitFor(() => counts.closed === counts.built, 5000, 'every per-request server to close');
  });

  it('feeds subscriptions/listen streams from broadcast(), and ends them on close()', async () => {
    const counts = { built: 0, closed: 0 };
    harness = await start(counts);
    const { client } = await sdkClient(`${harness.baseUrl}/mcp`, { pin: '2026-07-28' });
    let changed = 0;
    client.setNotificationHandler('notifications/tools/list_changed', () => void changed++);
    const subscription = await (client as unknown as { listen(filter: object): Promise<{ close(): Promise<void> }> }).listen({
      toolsListChanged: true,
    });
    await waitFor(() => harness!.router.sessions.stats().listening === 1, 5000, 'the listen stream');
    expect(harness.router.sessions.broadcast({ method: 'notifications/tools/list_changed' })).toBe(1);
    // A kind the stream did not ask for, and a method listen streams never carry, reach nobody.
    harness.router.sessions.broadcast({ method: 'notifications/message', params: { level: 'info', data: 'x' } });
    await waitFor(() => changed === 1, 5000, 'the list-changed notification');
    await subscription.close();
    await waitFor(() => harness!.router.sessions.stats().listening === 0, 5000, 'the listen stream to close');
  });

  it("serves the AI SDK's MCP client (server/discover first, by default)", async () => {
    const counts = { built: 0, closed: 0 };
    harness = await start(counts);
    const client = await createMCPClient({ transport: { type: 'http', url: `${harness.baseUrl}/mcp` } });
    closers.push(() => client.close());
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['echo', 'count']);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'ai' } }))).toBe('ai for anonymous');
    expect(harness.router.sessions.stats()).toMatchObject({ opened: 0 });
    expect(harness.router.sessions.stats().statelessRequests).toBeGreaterThanOrEqual(2);
  });

  it("runs the router's chain first: authentication, and the principal reaches the tool", async () => {
    const counts = { built: 0, closed: 0 };
    harness = await start(counts, { auth: { strategies: [apiKeyStrategy({ keys: { 'key-alice-0123456789': 'alice' } })] } });
    const { body, headers } = modern('tools/call', { name: 'echo', arguments: { text: 'x' } });
    const refused = await post(`${harness.baseUrl}/mcp`, body, headers);
    expect(refused.status).toBe(401);
    expect(counts.built).toBe(0);
    const { client } = await sdkClient(`${harness.baseUrl}/mcp`, { pin: '2026-07-28' }, { 'X-API-Key': 'key-alice-0123456789' });
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'hi' } }))).toBe('hi for alice');
  });

  it("answers the spec's header checks, batches, GET/DELETE without a session, and draining", async () => {
    const counts = { built: 0, closed: 0 };
    harness = await start(counts);
    const url = `${harness.baseUrl}/mcp`;
    const call = modern('tools/call', { name: 'echo', arguments: { text: 'x' } }, 7);
    const missingMethod = await post(url, call.body, { 'MCP-Protocol-Version': '2026-07-28' });
    expect(missingMethod.status).toBe(400);
    expect(await missingMethod.json()).toMatchObject({ id: 7, error: { code: -32020 } });
    const wrongVersion = await post(
      url,
      {
        ...call.body,
        params: { ...call.body.params, _meta: { ...call.body.params._meta, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } },
      },
      { ...call.headers, 'MCP-Protocol-Version': '2099-01-01' },
    );
    expect(wrongVersion.status).toBe(400);
    expect(await wrongVersion.json()).toMatchObject({ error: { code: -32022, data: { supported: ['2026-07-28'], requested: '2099-01-01' } } });
    const batch = await post(url, [call.body, { ...call.body, id: 8 }], call.headers);
    expect(batch.status).toBe(400);
    expect(await batch.json()).toMatchObject({ error: { code: -32600 } });
    for (const method of ['GET', 'DELETE']) {
      const response = await fetch(url, { method, headers: { Accept: 'text/event-stream', 'MCP-Protocol-Version': '2026-07-28' } });
      expect(response.status).toBe(405);
    }
    const ok = await post(url, call.body, call.headers);
    expect(ok.status).toBe(200);
    await ok.text();
    // Refused requests never leaked a server.
    await waitFor(() => counts.closed === counts.built, 5000, 'every server to close');
    const closing = harness.router.close();
    const late = await post(url, call.body, call.headers);
    expect(late.status).toBe(503);
    await closing;
  });
});

describe('2026-07-28 requests with an SDK v1 server', () => {
  it('answers as a 2025-only server does, so clients fall back to initialize', async () => {
    harness = await startHarness({ createServer: (session) => buildServerV1(session) });
    const { body, headers } = modern('tools/list', {}, 3);
    const response = await post(`${harness.baseUrl}/mcp`, body, headers);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      id: 3,
      error: { code: -32000, message: expect.stringContaining('Unsupported protocol version: 2026-07-28') },
    });

    const { client, transport } = await sdkClient(`${harness.baseUrl}/mcp`, 'auto');
    expect(transport.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }))).toBe('3');

    const ai = await createMCPClient({ transport: { type: 'http', url: `${harness.baseUrl}/mcp` } });
    closers.push(() => ai.close());
    expect((await ai.listTools()).tools.map((t) => t.name)).toContain('add');
    expect(harness.router.sessions.size).toBe(2);
  });
});
