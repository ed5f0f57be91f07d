// Real SDK clients (v1 and v2) over Streamable HTTP against real servers (v1 and v2), through the router at /mcp.
import { afterEach, describe, expect, it } from 'vitest';
import compression from 'compression';
import express from 'express';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport as SSEClientTransportV1 } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport as StreamableV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client as ClientV2, StreamableHTTPClientTransport as StreamableV2 } from '@modelcontextprotocol/client';
import type { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js';
import { killableFetch } from '../../helpers/sse.js';
import { buildServerV1, buildServerV2, startHarness, waitFor, type Harness, type HarnessOptions } from '../../helpers/server.js';
import { callWithProgress, onNotification, textOf, type AnyClient } from '../../helpers/clients.js';

let harness: Harness | undefined;
const clients: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
  await harness?.close();
  harness = undefined;
});

type AnyTransport = StreamableV1 | StreamableV2;
interface Connected {
  client: AnyClient;
  transport: AnyTransport;
}
const clientCapabilities = { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } };
const reconnection = { initialReconnectionDelay: 20, maxReconnectionDelay: 100, reconnectionDelayGrowFactor: 1.5, maxRetries: 5 };

async function connectV1(url: string, fetch?: typeof globalThis.fetch): Promise<Connected> {
  const client = new ClientV1({ name: 'streamable-client-v1', version: '1.0.0' }, { capabilities: clientCapabilities });
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => ({
    role: 'assistant',
    model: 'test',
    content: { type: 'text', text: `v1 sampled ${(request.params.messages[0]!.content as { text: string }).text}` },
  }));
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { name: 'Ada' } }));
  const transport = new StreamableV1(new URL(url), { reconnectionOptions: reconnection, ...(fetch ? { fetch } : {}) });
  await client.connect(transport);
  clients.push(client);
  return { client, transport };
}

async function connectV2(url: string, fetch?: typeof globalThis.fetch): Promise<Connected> {
  const client = new ClientV2({ name: 'streamable-client-v2', version: '2.0.0' }, { capabilities: clientCapabilities });
  client.setRequestHandler('sampling/createMessage', async (request) => ({
    role: 'assistant',
    model: 'test',
    content: { type: 'text', text: `v2 sampled ${(request.params.messages[0]!.content as { text: string }).text}` },
  }));
  client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: 'Ada' } }));
  const transport = new StreamableV2(new URL(url), { reconnectionOptions: reconnection, ...(fetch ? { fetch } : {}) });
  await client.connect(transport);
  clients.push(client);
  return { client, transport };
}

const matrix = [
  { name: 'v1 client → v1 server', connect: connectV1, build: buildServerV1 },
  { name: 'v2 client → v1 server', connect: connectV2, build: buildServerV1 },
  { name: 'v1 client → v2 server', connect: connectV1, build: buildServerV2 },
  { name: 'v2 client → v2 server', connect: connectV2, build: buildServerV2 },
] as const;

describe.each(matrix)('Streamable HTTP, $name', ({ connect, build }) => {
  const start = (options: HarnessOptions = {}) => startHarness({ createServer: (s) => build(s), ...options });
  const mcpUrl = (h: Harness) => `${h.baseUrl}/mcp`;

  it('initializes a session, lists and calls tools, and tells createServer which transport', async () => {
    const contexts: unknown[] = [];
    harness = await start({ createServer: (s) => (contexts.push(s), build(s)) });
    const { client, transport } = await connect(mcpUrl(harness));
    expect(transport.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(contexts).toEqual([
      expect.objectContaining({ transport: 'streamable-http', sessionId: transport.sessionId, protocolVersion: '2025-11-25' }),
    ]);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['echo', 'add', 'sample', 'elicit']));
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } }))).toBe('42');
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'héllo\nworld' } }))).toBe('héllo\nworld');
    expect(harness.router.sessions.get(transport.sessionId!)?.transport).toBe('streamable-http');
    expect(
      harness.router.sessions.stats().byTransport['streamable-http'].active + harness.router.sessions.stats().byTransport['streamable-http'].detached,
    ).toBe(1);
  });

  it("streams progress and logging during a call on the request's own stream", async () => {
    harness = await start();
    const { client } = await connect(mcpUrl(harness));
    const logs: unknown[] = [];
    onNotification(client, 'notifications/message', (params) => logs.push(params.data));
    const progress: number[] = [];
    const result = await callWithProgress(client, { name: 'countdown', arguments: { from: 5 } }, (p) => progress.push(p.progress));
    expect(textOf(result)).toBe('done');
    expect(progress).toEqual([1, 2, 3, 4, 5]);
    await waitFor(() => logs.length === 5, 5000, 'log notifications');
    expect(logs).toEqual(['step 1', 'step 2', 'step 3', 'step 4', 'step 5']);
  });

  it('relays sampling and elicitation requests from inside a tool', async () => {
    harness = await start();
    const { client } = await connect(mcpUrl(harness));
    expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'hi' } }))).toMatch(/^v[12] sampled hi$/);
    expect(textOf(await client.callTool({ name: 'elicit', arguments: {} }))).toBe('accept:Ada');
  });

  it('delivers broadcasts and list-changed notifications on the standalone GET stream', async () => {
    let server: McpServerV1 | undefined;
    harness = await start({ createServer: (s) => (server = build(s) as McpServerV1) });
    const { client } = await connect(mcpUrl(harness));
    const got: string[] = [];
    onNotification(client, 'notifications/resources/list_changed', () => got.push('resources'));
    onNotification(client, 'notifications/tools/list_changed', () => got.push('tools'));
    // The client opens its standalone stream after initialization: wait until the router holds it.
    await waitFor(
      () => [...harness!.router.sessions].some((s) => s.transport === 'streamable-http' && s.hasStandaloneStream),
      5000,
      'the standalone stream',
    );
    expect(harness.router.sessions.broadcast({ method: 'notifications/resources/list_changed' })).toBe(1);
    server!.registerTool('late', { inputSchema: {} }, async () => ({ content: [{ type: 'text', text: 'late' }] }));
    await waitFor(() => got.length === 2, 5000, 'the broadcast and the tool list change');
    expect(got.sort()).toEqual(['resources', 'tools']);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('late');
  });

  it('deletes the session when the client terminates it', async () => {
    harness = await start();
    const { client, transport } = await connect(mcpUrl(harness));
    await client.listTools();
    const id = transport.sessionId!;
    await transport.terminateSession();
    expect(harness.router.sessions.get(id)).toBeUndefined();
    expect(harness.router.sessions.stats()).toMatchObject({ opened: 1, closed: 1 });
    const response = await fetch(mcpUrl(harness), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'Mcp-Session-Id': id },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(response.status).toBe(404);
  });

  it('resumes a cut request stream with Last-Event-ID and loses nothing', async () => {
    // The priming event's retry: hint is the client's reconnect delay.
    harness = await start({ retryMs: 50 });
    const killable = killableFetch();
    const { client } = await connect(mcpUrl(harness), killable.fetch);
    const progress: number[] = [];
    const call = callWithProgress(client, { name: 'countdown', arguments: { from: 20 } }, (p) => progress.push(p.progress));
    await waitFor(() => progress.length >= 3, 5000, 'some progress');
    expect(killable.cut()).toBeGreaterThan(0);
    expect(textOf(await call)).toBe('done');
    // Every step exactly once and in order: what was sent while the stream was cut was replayed on resume.
    expect(progress).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(killable.requests.some((headers) => headers['last-event-id'] !== undefined)).toBe(true);
    expect(harness.router.sessions.stats().resumed).toBeGreaterThan(0);
  });

  it('follows SSE polling: the server ends the stream early, the client resumes it for the result', async () => {
    harness = await start({ retryMs: 50 });
    const { client } = await connect(mcpUrl(harness));
    expect(textOf(await client.callTool({ name: 'poll-after', arguments: { ms: 200 } }))).toBe('polled');
    expect(harness.router.sessions.stats().resumed).toBe(1);
  });
});

describe('Streamable HTTP next to HTTP+SSE', () => {
  it('serves both transports from one mount, behind express.json() and compression(), under a nested prefix', async () => {
    harness = await startHarness({
      mountPath: '/api/v1/mcp',
      before: (app) => {
        app.use(compression());
        app.use(express.json());
      },
    });
    const modern = await connectV2(`${harness.baseUrl}/api/v1/mcp`);
    const legacy = new ClientV1({ name: 'legacy', version: '1.0.0' });
    await legacy.connect(new SSEClientTransportV1(new URL(harness.sseUrl)));
    clients.push(legacy);
    expect(textOf(await modern.client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }))).toBe('3');
    expect(textOf(await legacy.callTool({ name: 'add', arguments: { a: 3, b: 4 } }))).toBe('7');
    const progress: number[] = [];
    await callWithProgress(modern.client, { name: 'countdown', arguments: { from: 3 } }, (p) => progress.push(p.progress));
    expect(progress).toEqual([1, 2, 3]);
    expect(harness.router.sessions.size).toBe(2);
    const kinds = [...harness.router.sessions].map((s) => s.transport).sort();
    expect(kinds).toEqual(['sse', 'streamable-http']);
  });

  it("lets the SDK's documented fallback (Streamable HTTP first, then SSE) work with either URL", async () => {
    harness = await startHarness();
    const connectWithFallback = async (url: string): Promise<string> => {
      const client = new ClientV1({ name: 'fallback', version: '1.0.0' });
      clients.push(client);
      try {
        await client.connect(new StreamableV1(new URL(url)));
        return 'streamable-http';
      } catch {
        const fallback = new ClientV1({ name: 'fallback', version: '1.0.0' });
        clients.push(fallback);
        await fallback.connect(new SSEClientTransportV1(new URL(url)));
        expect(textOf(await fallback.callTool({ name: 'add', arguments: { a: 1, b: 1 } }))).toBe('2');
        return 'sse';
      }
    };
    expect(await connectWithFallback(`${harness.baseUrl}/mcp`)).toBe('streamable-http');
    expect(await connectWithFallback(harness.sseUrl)).toBe('sse');
  });

  it('works behind Express 4', async () => {
    const express4 = (await import('express4')).default;
    const { createMcpSseRouter } = await import('../../../lib/index.js');
    const router = createMcpSseRouter({ createServer: () => buildServerV2() });
    const app = express4();
    app.use(express4.json());
    app.use('/mcp', router);
    const server = await new Promise<import('node:http').Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const { port } = server.address() as import('node:net').AddressInfo;
      const { client } = await connectV1(`http://127.0.0.1:${port}/mcp`);
      expect(textOf(await client.callTool({ name: 'add', arguments: { a: 20, b: 22 } }))).toBe('42');
      await client.close();
    } finally {
      await router.close();
      server.closeAllConnections();
      server.close();
    }
  });
});
