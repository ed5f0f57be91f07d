// router.close() drains: requests in flight finish and their answers reach the client; new work gets 503.
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import type { SessionBus } from '../../lib/index.js';
import { InMemorySessionBus } from '../../lib/index.js';
import { buildServerV1, startHarness, type Harness } from '../helpers/server.js';
import {
  callTool,
  Gates,
  initializeRequest,
  logged,
  mcpReply,
  messagesOf,
  openMcpSession,
  pausingServer,
  rpc,
  toolText,
} from '../helpers/streamable.js';
import type { RawStream } from '../helpers/sse.js';

let harness: Harness | undefined;
const streams: RawStream[] = [];
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.destroy();
  await harness?.close();
  harness = undefined;
});

describe('close() drains', () => {
  it('lets a Streamable HTTP tool call in flight finish and deliver, refusing new work with 503 and Retry-After', async () => {
    const gates = new Gates();
    let closedServers = 0;
    harness = await startHarness({
      keepAliveMs: 0,
      createServer: (session) => {
        const server = pausingServer(session, gates);
        server.server.onclose = () => closedServers++;
        return server;
      },
    });
    const h = harness;
    const session = await openMcpSession(h.mcpUrl);
    const call = await session.request({ body: callTool(1, 'steps', { name: 'slow', count: 1 }) });
    streams.push(call);
    await gates.reached('slow 1');
    const closing = h.router.close({ timeoutMs: 5000 });

    const newRequest = await session.reply({ body: rpc(2, 'tools/list') });
    expect(newRequest.status).toBe(503);
    expect(newRequest.headers['retry-after']).toBeDefined();
    expect((newRequest.json as { id: unknown }).id).toBe(2);
    const newSession = await mcpReply(h.mcpUrl, { body: initializeRequest() });
    expect(newSession.status).toBe(503);
    expect(newSession.headers['retry-after']).toBeDefined();
    // Notifications and responses still pass: a tool in flight may wait for one (elicitation, sampling).
    expect((await session.reply({ body: { jsonrpc: '2.0', method: 'notifications/roots/list_changed' } })).status).toBe(202);
    expect(closedServers).toBe(0);

    gates.open('slow 1');
    await call.done;
    expect(toolText(messagesOf(call.events).find((m) => m.id === 1))).toBe('slow done');
    await closing;
    expect(closedServers).toBe(1);
  });

  it('lets an HTTP+SSE tool call in flight finish and reach the SDK client', async () => {
    const gates = new Gates();
    harness = await startHarness({ keepAliveMs: 0, createServer: (session) => pausingServer(session, gates) });
    const h = harness;
    const client = new Client({ name: 'drain', version: '1.0.0' });
    await client.connect(new SSEClientTransport(new URL(h.sseUrl)));
    try {
      const result = client.callTool({ name: 'steps', arguments: { name: 'legacy', count: 1 } });
      await gates.reached('legacy 1');
      const closing = h.router.close({ timeoutMs: 5000 });
      gates.open('legacy 1');
      expect(((await result) as { content: { text: string }[] }).content[0]!.text).toBe('legacy done');
      await closing;
      expect(h.router.sessions.size).toBe(0);
    } finally {
      await client.close();
    }
  });

  it('gives up waiting at the deadline and closes everything anyway', async () => {
    const gates = new Gates();
    harness = await startHarness({ keepAliveMs: 0, createServer: (session) => pausingServer(session, gates) });
    const session = await openMcpSession(harness.mcpUrl);
    streams.push(await session.request({ body: callTool(1, 'steps', { name: 'stuck', count: 1 }) }));
    await gates.reached('stuck 1');
    await harness.router.close({ timeoutMs: 200 });
    expect(harness.router.sessions.size).toBe(0);
    gates.open('stuck 1');
  });
});

describe('closing sessions never ends the process', () => {
  it('DELETE answers at once and the session is gone, even while its server takes long to close', async () => {
    let releaseClose!: () => void;
    const closeStarted = new Promise<void>((resolve) => (releaseClose = resolve));
    harness = await startHarness({
      keepAliveMs: 0,
      createServer: (session) => {
        const server = buildServerV1(session);
        const close = server.close.bind(server);
        server.close = async () => {
          await closeStarted;
          await close();
        };
        return server;
      },
    });
    const session = await openMcpSession(harness.mcpUrl);
    const deleted = await session.reply({ method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(harness.router.sessions.get(session.sessionId)).toBeUndefined();
    expect((await session.reply({ body: rpc(2, 'tools/list') })).status).toBe(404);
    releaseClose();
  });

  it('a custom bus that throws is reported, never an unhandled rejection', async () => {
    const errors: string[] = [];
    const bus: SessionBus = Object.assign(new InMemorySessionBus(), {
      sessionOpened() {
        throw new Error('opened broke');
      },
      sessionClosed() {
        throw new Error('closed broke');
      },
      publishBroadcast() {
        throw new Error('broadcast broke');
      },
    });
    harness = await startHarness({ keepAliveMs: 0, bus, onError: (error) => errors.push(error.message) });
    const session = await openMcpSession(harness.mcpUrl);
    harness.router.sessions.broadcast(logged('to all'));
    expect((await session.reply({ method: 'DELETE' })).status).toBe(200);
    expect(errors).toEqual(expect.arrayContaining([expect.stringMatching(/opened broke/), expect.stringMatching(/broadcast broke/)]));
    await harness.router.sessions.closeAll();
    expect(errors).toEqual(expect.arrayContaining([expect.stringMatching(/closed broke/)]));
  });
});

describe('refusals behind an app-level express.json()', () => {
  it('echo the request id on 406 and 415', async () => {
    harness = await startHarness({ keepAliveMs: 0, before: (app) => app.use(express.json()) });
    const notAcceptable = await mcpReply(harness.mcpUrl, { body: rpc(41, 'tools/list'), accept: 'application/json' });
    expect(notAcceptable.status).toBe(406);
    expect((notAcceptable.json as { id: unknown }).id).toBe(41);
    const legacy = await fetch(`${harness.baseUrl}/mcp/messages?sessionId=x`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(rpc(42, 'tools/list')),
    });
    expect(legacy.status).toBe(404);
    expect(((await legacy.json()) as { id: unknown }).id).toBe(42);
  });
});
