// Real SDK clients (v1 and v2) against real servers (v1 and v2) through the router on a real HTTP server.
import { afterEach, describe, expect, it } from 'vitest';
import compression from 'compression';
import express from 'express';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport as SSEClientTransportV1 } from '@modelcontextprotocol/sdk/client/sse.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client as ClientV2, SSEClientTransport as SSEClientTransportV2 } from '@modelcontextprotocol/client';
import { buildServerV1, buildServerV2, startHarness, waitFor, type Harness, type HarnessOptions } from './helpers/server.js';
import { callWithProgress, onNotification, textOf, type AnyClient } from './helpers/clients.js';

let harness: Harness | undefined;
const clients: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
  await harness?.close();
  harness = undefined;
});

async function connectV1(url: string): Promise<ClientV1> {
  const client = new ClientV1({ name: 'test-client-v1', version: '1.0.0' }, { capabilities: { roots: { listChanged: true } } });
  client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///v1-root', name: 'root' }] }));
  await client.connect(new SSEClientTransportV1(new URL(url)));
  clients.push(client);
  return client;
}

async function connectV2(url: string): Promise<ClientV2> {
  const client = new ClientV2({ name: 'test-client-v2', version: '2.0.0' }, { capabilities: { roots: { listChanged: true } } });
  client.setRequestHandler('roots/list', async () => ({ roots: [{ uri: 'file:///v2-root', name: 'root' }] }));
  await client.connect(new SSEClientTransportV2(new URL(url)));
  clients.push(client);
  return client;
}

const matrix = [
  { name: 'v1 client → v1 server', connect: connectV1, build: buildServerV1 },
  { name: 'v2 client → v1 server', connect: connectV2, build: buildServerV1 },
  { name: 'v1 client → v2 server', connect: connectV1, build: buildServerV2 },
  { name: 'v2 client → v2 server', connect: connectV2, build: buildServerV2 },
] as const;

describe.each(matrix)('$name', ({ connect, build }) => {
  const start = (options: HarnessOptions = {}) => startHarness({ createServer: (s) => build(s), ...options });

  it('initializes, lists and calls tools', async () => {
    harness = await start();
    const client: AnyClient = await connect(harness.sseUrl);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['echo', 'add', 'countdown']));
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } }))).toBe('42');
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'héllo\nworld' } }))).toBe('héllo\nworld');
    expect(harness.router.sessions.size).toBe(1);
  });

  it('delivers logging and progress notifications during a long tool call', async () => {
    harness = await start();
    const client = await connect(harness.sseUrl);
    const logs: unknown[] = [];
    onNotification(client, 'notifications/message', (params) => logs.push(params.data));
    const progress: number[] = [];
    const result = await callWithProgress(client, { name: 'countdown', arguments: { from: 5 } }, (p) => progress.push(p.progress));
    expect(textOf(result)).toBe('done');
    expect(progress).toEqual([1, 2, 3, 4, 5]);
    await waitFor(() => logs.length === 5, 5000, 'log notifications');
    expect(logs).toEqual(['step 1', 'step 2', 'step 3', 'step 4', 'step 5']);
  });

  it('answers a server-to-client request (roots/list)', async () => {
    harness = await start();
    const client = await connect(harness.sseUrl);
    expect(textOf(await client.callTool({ name: 'roots', arguments: {} }))).toMatch(/^file:\/\/\/v[12]-root$/);
  });

  it('receives a broadcast from the registry', async () => {
    harness = await start();
    const a = await connect(harness.sseUrl);
    const b = await connect(harness.sseUrl);
    let got = 0;
    for (const client of [a, b]) {
      onNotification(client, 'notifications/resources/list_changed', () => got++);
    }
    expect(harness.router.sessions.broadcast({ method: 'notifications/resources/list_changed' })).toBe(2);
    await waitFor(() => got === 2, 5000, 'broadcast');
  });
});

describe('mounting', () => {
  it('works under a nested prefix behind express.json() and compression()', async () => {
    harness = await startHarness({
      mountPath: '/api/v1/mcp',
      before: (app) => {
        app.use(compression());
        app.use(express.json());
      },
    });
    const client = await connectV1(harness.sseUrl);
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }))).toBe('3');
    const progress: number[] = [];
    await client.callTool({ name: 'countdown', arguments: { from: 3 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
    expect(progress).toEqual([1, 2, 3]);
  });

  it('works behind Express 4', async () => {
    const express4 = (await import('express4')).default;
    const { createMcpSseRouter } = await import('../lib/index.js');
    const router = createMcpSseRouter({ createServer: () => buildServerV1() });
    const app = express4();
    app.use(express4.json());
    app.use('/mcp', router);
    const server = await new Promise<import('node:http').Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const { port } = server.address() as import('node:net').AddressInfo;
      const client = await connectV1(`http://127.0.0.1:${port}/mcp/sse`);
      expect(textOf(await client.callTool({ name: 'add', arguments: { a: 20, b: 22 } }))).toBe('42');
      await client.close();
    } finally {
      await router.close();
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('a dropped stream under a real SDK client', () => {
  it('reconnects to a fresh session that evicts its own dead one, even at maxSessions', async () => {
    const { killableFetch } = await import('./helpers/sse.js');
    harness = await startHarness({ retryMs: 50, maxSessions: 1 });
    const killable = killableFetch();
    const client = new ClientV1({ name: 'reconnecting-client', version: '1.0.0' });
    await client.connect(new SSEClientTransportV1(new URL(harness.sseUrl), { eventSourceInit: { fetch: killable.fetch } }));
    clients.push(client);
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 1, b: 1 } }))).toBe('2');
    const [first] = [...harness.router.sessions];

    expect(killable.cut()).toBe(1);
    // The SDK's own fetch wrapper replaces the headers eventsource sets, so its reconnect carries no
    // Last-Event-ID: it gets a new session, and the cap is met by evicting its own detached one.
    await waitFor(() => killable.requests.length === 2 && harness!.router.sessions.stats().active === 1, 5000, 'the reconnect');
    expect(killable.requests[1]!['last-event-id']).toBeUndefined();
    const [second] = [...harness.router.sessions];
    expect(second!.sessionId).not.toBe(first!.sessionId);
    // The client switches to the new endpoint once it has read the new stream's endpoint event.
    const endpointOf = () => String((client.transport as unknown as { _endpoint?: URL })._endpoint);
    await waitFor(() => endpointOf().includes(second!.sessionId), 5000, 'the client to take the new endpoint');
    expect(first!.isClosed).toBe(true);
    expect(harness.router.sessions.size).toBe(1);
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 20, b: 22 } }))).toBe('42');
  });
});
