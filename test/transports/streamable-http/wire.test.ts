// Streamable HTTP on the wire: the exact bytes, headers and stream lifetimes of POST, GET and DELETE, over a real server.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import express from 'express';
import compression from 'compression';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { SessionContext } from '../../../lib/index.js';
import { countingServer, startHarness, waitFor, type Harness, type HarnessOptions, type ServerCounts } from '../../helpers/server.js';
import { expectHandlesBackTo, handleCounts, trackLibTimers } from '../../reliability/leaks.js';
import { messageOf, openSse, type RawStream } from '../../helpers/sse.js';
import {
  Gates,
  callTool,
  initializeRequest,
  initializedNotification,
  lastIdOf,
  latestVersion,
  logged,
  mcpReply,
  mcpRequest,
  messagesOf,
  openMcpSession,
  pausingServer,
  previousVersion,
  resumeStream,
  rpc,
  toolText,
  untilLogged,
} from '../../helpers/streamable.js';

let harness: Harness | undefined;
const streams: RawStream[] = [];
let handlesBefore: Record<string, number>;
let libTimers: ReturnType<typeof trackLibTimers>;
beforeEach(() => {
  handlesBefore = handleCounts();
  libTimers = trackLibTimers();
});
afterEach(async () => {
  try {
    for (const stream of streams.splice(0)) stream.destroy();
    await harness?.close();
    harness = undefined;
    // Nothing a session started outlives the router: no timers (idle expiry, stall watch, keep-alive), no sockets.
    await waitFor(() => libTimers.pending().length === 0, 2000, `lib timers to end: ${libTimers.pending().join('; ')}`);
    await expectHandlesBackTo(handlesBefore);
  } finally {
    libTimers.stop();
  }
});

/** Keeps `stream` to cut it after the test. */
function track(stream: RawStream): RawStream {
  streams.push(stream);
  return stream;
}

/** A harness whose servers pause at the test's gates, and are kept by session id. */
async function start(options: HarnessOptions = {}) {
  const gates = new Gates();
  const servers = new Map<string, McpServer>();
  harness = await startHarness({ createServer: (session) => pausingServer(session, gates, servers), ...options });
  return { h: harness, gates, servers };
}

/** Event ids: a random 22-character key, then the stream number (POST streams only), then the sequence number. */
const key = '[A-Za-z0-9_-]{22}';
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const dataOf = (message: Record<string, unknown>) => (message.params as { data?: unknown } | undefined)?.data;

function expectStreamHeaders(headers: Record<string, string | string[] | undefined>): void {
  expect(headers['content-type']).toBe('text/event-stream');
  expect(headers['cache-control']).toBe('no-cache, no-transform');
  expect(headers['x-accel-buffering']).toBe('no');
  expect(headers['connection']).toBe('keep-alive');
}

describe('POST initialize', () => {
  it('opens a session: 200 event stream with Mcp-Session-Id, a priming event for 2025-11-25, the response, then the end', async () => {
    const contexts: SessionContext[] = [];
    const { h } = await start({
      retryMs: 1234,
      createServer: (session) => {
        contexts.push(session);
        return pausingServer(session, new Gates());
      },
    });
    const stream = track(await mcpRequest(h.mcpUrl, { body: initializeRequest(latestVersion) }));
    expect(stream.status).toBe(200);
    expectStreamHeaders(stream.headers);
    const sessionId = stream.headers['mcp-session-id'] as string;
    expect(sessionId).toMatch(uuid);
    await stream.done;
    const match = new RegExp(`^id: (${key})\\.1\\.0\\nretry: 1234\\ndata: \\n\\nevent: message\\nid: \\1\\.1\\.1\\ndata: (\\{.*\\})\\n\\n$`).exec(
      stream.text,
    );
    expect(match, stream.text).not.toBeNull();
    expect(match![1]).not.toContain(sessionId.slice(0, 8));
    expect(JSON.parse(match![2]!)).toMatchObject({
      jsonrpc: '2.0',
      id: 'init',
      result: { protocolVersion: latestVersion, serverInfo: { name: 'test-v1' } },
    });

    const session = h.router.sessions.get(sessionId);
    expect(session?.transport).toBe('streamable-http');
    expect(session?.protocolVersion).toBe(latestVersion);
    expect(contexts).toHaveLength(1);
    expect(contexts[0]).toMatchObject({ transport: 'streamable-http', sessionId, protocolVersion: latestVersion, user: undefined });
  });

  it('sends no priming event and no retry hint to a 2025-06-18 client', async () => {
    const { h } = await start();
    const stream = track(await mcpRequest(h.mcpUrl, { body: initializeRequest(previousVersion) }));
    expect(stream.status).toBe(200);
    await stream.done;
    const match = new RegExp(`^event: message\\nid: ${key}\\.1\\.1\\ndata: (\\{.*\\})\\n\\n$`).exec(stream.text);
    expect(match, stream.text).not.toBeNull();
    expect(JSON.parse(match![1]!)).toMatchObject({ id: 'init', result: { protocolVersion: previousVersion } });
    expect(stream.retries).toEqual([]);
  });

  it('decides priming per request by MCP-Protocol-Version', async () => {
    const { h } = await start();
    const session = await openMcpSession(h.mcpUrl, { protocolVersion: previousVersion });
    const old = await session.reply({ body: rpc(1, 'ping') });
    expect(old.events.map((e) => e.event)).toEqual(['message']);
    const newer = await session.reply({ body: rpc(2, 'ping'), protocolVersion: latestVersion });
    expect(newer.events.map((e) => e.data)[0]).toBe('');
    expect(newer.json).toEqual([{ jsonrpc: '2.0', id: 2, result: {} }]);
    expect(newer.retries).toEqual([5000]);
  });
});

describe('POST on a session', () => {
  it('answers a body of notifications or responses with 202 and no stream', async () => {
    const { h } = await start();
    const session = await openMcpSession(h.mcpUrl);
    const notification = await session.reply({ body: { jsonrpc: '2.0', method: 'notifications/roots/list_changed' } });
    expect(notification.status).toBe(202);
    // The spec's MUST: no body (the legacy route keeps the SDK's "Accepted" text).
    expect(notification.headers['content-type']).toBeUndefined();
    expect(notification.text).toBe('');
    const response = await session.reply({ body: { jsonrpc: '2.0', id: 'answer-to-nothing', result: {} } });
    expect(response.status).toBe(202);
    const batch = await session.reply({
      body: [initializedNotification, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'x' } }],
    });
    expect(batch.status).toBe(202);
  });

  it('streams the response of a request, with its own stream number and a priming event, and ends', async () => {
    const { h } = await start();
    const session = await openMcpSession(h.mcpUrl);
    const stream = track(await session.request({ body: rpc(5, 'ping') }));
    expect(stream.status).toBe(200);
    expectStreamHeaders(stream.headers);
    expect(stream.headers['mcp-session-id']).toBe(session.sessionId);
    await stream.done;
    const match = new RegExp(`^id: ${key}\\.2\\.1\\nretry: 5000\\ndata: \\n\\nevent: message\\nid: ${key}\\.2\\.2\\ndata: (\\{.*\\})\\n\\n$`).exec(
      stream.text,
    );
    expect(match, stream.text).not.toBeNull();
    expect(JSON.parse(match![1]!)).toEqual({ jsonrpc: '2.0', id: 5, result: {} });
  });

  it('carries every response of a batch on one stream, ending after the last', async () => {
    const { h } = await start();
    const session = await openMcpSession(h.mcpUrl);
    const reply = await session.reply({
      body: [rpc('a', 'ping'), initializedNotification, rpc('b', 'tools/list'), callTool('c', 'add', { a: 1, b: 2 })],
    });
    expect(reply.status).toBe(200);
    const messages = reply.json as Record<string, unknown>[];
    expect(messages.map((m) => m.id).sort()).toEqual(['a', 'b', 'c']);
    expect(toolText(messages.find((m) => m.id === 'c'))).toBe('3');
    const streamNumbers = new Set(reply.events.map((e) => e.id!.split('.')[1]));
    expect(streamNumbers.size).toBe(1);
  });

  it('sends what the server relates to a request on its POST stream, and the rest on the standalone stream', async () => {
    const { h } = await start();
    const session = await openMcpSession(h.mcpUrl);
    const standalone = track(await session.listen());
    expect(standalone.status).toBe(200);
    // countdown sends progress about the request, and logs through McpServer.sendLoggingMessage (not related).
    const reply = await session.reply({ body: callTool(9, 'countdown', { from: 2 }, 'tok') });
    const messages = reply.json as Record<string, unknown>[];
    expect(messages.map((m) => m.method ?? 'result')).toEqual(['notifications/progress', 'notifications/progress', 'result']);
    expect(messages.slice(0, 2).map((m) => m.params)).toEqual([
      { progressToken: 'tok', progress: 1, total: 2 },
      { progressToken: 'tok', progress: 2, total: 2 },
    ]);
    await standalone.until((events) => messagesOf(events).length === 2);
    expect(messagesOf(standalone.events).map(dataOf)).toEqual(['step 1', 'step 2']);
    expect(standalone.closed).toBe(false);
  });

  it('sends notifications the tool relates to its request (extra.sendNotification) on the POST stream', async () => {
    const { h, gates } = await start();
    const session = await openMcpSession(h.mcpUrl);
    const standalone = track(await session.listen());
    gates.open('rel 1');
    const reply = await session.reply({ body: callTool(1, 'steps', { name: 'rel', count: 1 }) });
    expect((reply.json as Record<string, unknown>[]).map((m) => dataOf(m) ?? toolText(m))).toEqual(['rel 1', 'rel done']);
    expect(messagesOf(standalone.events)).toEqual([]);
  });

  it('keeps a POST stream alive with keep-alive comments while a call runs', async () => {
    const { h, gates } = await start({ keepAliveMs: 40 });
    const session = await openMcpSession(h.mcpUrl);
    const stream = track(await session.request({ body: callTool(1, 'steps', { name: 'slow', count: 1 }) }));
    await untilLogged(stream, 'slow 1');
    await waitFor(() => stream.comments.some((c) => /^ ?ping \d{4}-\d\d-\d\dT/.test(c)), 3000, 'a keep-alive comment');
    gates.open('slow 1');
    await stream.done;
    expect(toolText(messagesOf(stream.events).at(-1))).toBe('slow done');
  });
});

describe('behind app middleware', () => {
  it('takes bodies already parsed by an app-level express.json()', async () => {
    const { h } = await start({ before: (app) => app.use(express.json()) });
    const session = await openMcpSession(h.mcpUrl);
    const reply = await session.reply({ body: [callTool(1, 'echo', { text: 'parsed' }), initializedNotification] });
    expect(messagesOf(reply.events).map(toolText)).toEqual(['parsed']);
  });

  it('streams through compression(): the standalone head and each event arrive without waiting for more', async () => {
    const { h } = await start({ keepAliveMs: 0, before: (app) => app.use(compression()) });
    const session = await openMcpSession(h.mcpUrl, { protocolVersion: previousVersion });
    const stream = track(await session.listen());
    expect(stream.status).toBe(200);
    h.router.sessions.broadcast({ method: 'notifications/resources/list_changed' });
    // The raw reader does not decompress: a compressed event shows as bytes, an uncompressed one parses.
    await waitFor(() => stream.bytes > 0, 3000, 'the broadcast to be flushed');
    const reply = await session.reply({ body: rpc(1, 'ping') });
    expect(reply.status).toBe(200);
  });
});

describe('where it is served', () => {
  it('serves streamableHttpPath under the mount point, leaving the mount point itself to the app', async () => {
    const { h } = await start({ streamableHttpPath: '/stream' });
    expect(h.mcpUrl).toBe(`${h.baseUrl}/mcp/stream`);
    const session = await openMcpSession(h.mcpUrl);
    expect((await session.reply({ body: rpc(1, 'ping') })).json).toEqual([{ jsonrpc: '2.0', id: 1, result: {} }]);
    const atMount = await mcpReply(`${h.baseUrl}/mcp`, { body: initializeRequest() });
    expect(atMount.status).toBe(404);
    expect(atMount.headers['mcp-session-id']).toBeUndefined();
  });

  it('serves nothing with streamableHttpPath: false', async () => {
    const { h } = await start({ streamableHttpPath: false });
    expect((await mcpReply(h.mcpUrl, { body: initializeRequest() })).status).toBe(404);
    expect(h.router.sessions.size).toBe(0);
  });

  it('works behind Express 4', async () => {
    const express4 = (await import('express4')).default;
    const { createMcpSseRouter } = await import('../../../lib/index.js');
    const router = createMcpSseRouter({ createServer: (session) => pausingServer(session, new Gates()) });
    const app = express4();
    app.use('/mcp', router);
    const server = await new Promise<import('node:http').Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const { port } = server.address() as import('node:net').AddressInfo;
      const session = await openMcpSession(`http://127.0.0.1:${port}/mcp`);
      expect(messagesOf((await session.reply({ body: callTool(1, 'add', { a: 20, b: 22 }) })).events).map(toolText)).toEqual(['42']);
      expect((await session.reply({ method: 'DELETE' })).status).toBe(200);
      expect(router.sessions.size).toBe(0);
    } finally {
      await router.close();
      server.closeAllConnections();
      server.close();
    }
  });

  it('gives the session object to sessions.get(), whose sendNotification() uses the standalone stream', async () => {
    const { h } = await start();
    const session = await openMcpSession(h.mcpUrl);
    const stream = track(await session.listen());
    const transport = h.router.sessions.get(session.sessionId)!;
    expect(transport).toMatchObject({ transport: 'streamable-http', sessionId: session.sessionId, user: undefined, authInfo: undefined });
    expect(transport.headers['content-type']).toBe('application/json');
    await transport.sendNotification('notifications/message', { level: 'info', data: 'from the app' });
    await untilLogged(stream, 'from the app');
    await transport.close();
    await stream.done;
    expect(h.router.sessions.size).toBe(0);
  });
});

describe('router.close()', () => {
  it('ends open POST and standalone streams with a retry hint, and closes the sessions', async () => {
    const counts = new Map<string, ServerCounts>();
    const h = (harness = await startHarness({ retryMs: 700, createServer: (session) => countingServer(session, counts) }));
    const session = await openMcpSession(h.mcpUrl);
    const standalone = track(await session.listen());
    const call = track(await session.request({ body: callTool(1, 'countdown', { from: 1000 }) }));
    await call.until((events) => events.length >= 1);
    await h.router.close({ timeoutMs: 2000 });
    await standalone.done;
    await call.done;
    expect(standalone.retries.at(-1)).toBe(700);
    expect(call.retries.at(-1)).toBe(700);
    expect(h.router.sessions.size).toBe(0);
    expect(counts.get(session.sessionId)).toMatchObject({ close: 1 });
  });
});

describe('jsonResponse: true', () => {
  it('answers application/json: one object for one request, an array for a batch, 202 for notifications', async () => {
    const { h } = await start({ jsonResponse: true });
    const init = await mcpReply(h.mcpUrl, { body: initializeRequest() });
    expect(init.status).toBe(200);
    expect(init.headers['content-type']).toMatch(/^application\/json/);
    const sessionId = init.headers['mcp-session-id']!;
    expect(sessionId).toMatch(uuid);
    expect(init.json).toMatchObject({ jsonrpc: '2.0', id: 'init', result: { protocolVersion: latestVersion } });

    const session = { sessionId, protocolVersion: latestVersion };
    expect((await mcpReply(h.mcpUrl, { ...session, body: initializedNotification })).status).toBe(202);
    const one = await mcpReply(h.mcpUrl, { ...session, body: rpc(1, 'ping') });
    expect(one.status).toBe(200);
    expect(one.headers['content-type']).toMatch(/^application\/json/);
    expect(one.headers['mcp-session-id']).toBe(sessionId);
    expect(one.json).toEqual({ jsonrpc: '2.0', id: 1, result: {} });
    const batch = await mcpReply(h.mcpUrl, { ...session, body: [rpc('a', 'ping'), initializedNotification, callTool('b', 'add', { a: 2, b: 3 })] });
    expect(Array.isArray(batch.json)).toBe(true);
    const messages = batch.json as Record<string, unknown>[];
    expect(messages.map((m) => m.id).sort()).toEqual(['a', 'b']);
    expect(toolText(messages.find((m) => m.id === 'b'))).toBe('5');
  });

  it('drops notifications about the request (progress), as documented', async () => {
    const { h } = await start({ jsonResponse: true });
    const session = await openMcpSession(h.mcpUrl);
    const reply = await session.reply({ body: callTool(3, 'countdown', { from: 2 }, 'tok') });
    expect(reply.status).toBe(200);
    expect(reply.json).toMatchObject({ jsonrpc: '2.0', id: 3, result: { content: [{ type: 'text', text: 'done' }] } });
    expect(reply.text).not.toContain('notifications/progress');
  });
});

describe('GET: the standalone stream', () => {
  it('receives broadcast() and server-sent list-changed notifications, and stays open', async () => {
    const { h, servers } = await start();
    const session = await openMcpSession(h.mcpUrl);
    const stream = track(await session.listen());
    expect(stream.status).toBe(200);
    expectStreamHeaders(stream.headers);
    await stream.until((events) => events.length === 1);
    // The priming event of a 2025-11-25 client: an id without a stream number, the retry hint, empty data.
    expect(stream.text).toMatch(new RegExp(`^id: ${key}\\.\\d+\\nretry: 5000\\ndata: \\n\\n$`));

    expect(h.router.sessions.broadcast({ method: 'notifications/resources/list_changed' })).toBe(1);
    servers.get(session.sessionId)!.sendToolListChanged();
    await stream.until((events) => messagesOf(events).length === 2);
    expect(messagesOf(stream.events)).toEqual([
      { jsonrpc: '2.0', method: 'notifications/resources/list_changed' },
      { jsonrpc: '2.0', method: 'notifications/tools/list_changed' },
    ]);
    for (const event of stream.events.slice(1)) expect(event.id).toMatch(new RegExp(`^${key}\\.\\d+$`));
    expect(stream.closed).toBe(false);
  });

  it('has no priming event for a 2025-06-18 session, and sends its head at once all the same', async () => {
    // Keep-alive off: no ping can flush the head; the client must learn its stream is open without any event.
    const { h } = await start({ keepAliveMs: 0 });
    const session = await openMcpSession(h.mcpUrl, { protocolVersion: previousVersion });
    const stream = track(await session.listen());
    expect(stream.status).toBe(200);
    h.router.sessions.broadcast({ method: 'notifications/prompts/list_changed' });
    await stream.until((events) => events.length === 1);
    expect(stream.text).toMatch(
      new RegExp(`^event: message\\nid: ${key}\\.\\d+\\ndata: \\{"jsonrpc":"2.0","method":"notifications/prompts/list_changed"\\}\\n\\n$`),
    );
  });

  it('has no priming event when resuming is off (resumeWindowMs: 0), as on POST streams', async () => {
    const { h } = await start({ keepAliveMs: 0, resumeWindowMs: 0 });
    const session = await openMcpSession(h.mcpUrl);
    const stream = track(await session.listen());
    expect(stream.status).toBe(200);
    h.router.sessions.broadcast({ method: 'notifications/prompts/list_changed' });
    await stream.until((events) => events.length === 1);
    expect(stream.events[0]!.data).toBe('{"jsonrpc":"2.0","method":"notifications/prompts/list_changed"}');
    expect(stream.text).not.toMatch(/retry:/);
  });

  it('reaches sessions of both transports with one broadcast', async () => {
    const { h } = await start();
    const session = await openMcpSession(h.mcpUrl);
    const standalone = track(await session.listen());
    const legacy = track(await openSse(h.sseUrl));
    expect(h.router.sessions.broadcast({ method: 'notifications/resources/list_changed' })).toBe(2);
    await standalone.until((events) => messagesOf(events).length === 1);
    await legacy.next((e) => e.event === 'message' && messageOf(e).method === 'notifications/resources/list_changed');
    expect(h.router.sessions.stats().byTransport).toEqual({ sse: { active: 1, detached: 0 }, 'streamable-http': { active: 1, detached: 0 } });
  });

  it('sends keep-alive comments after keepAliveMs of silence', async () => {
    const { h } = await start({ keepAliveMs: 40 });
    const session = await openMcpSession(h.mcpUrl);
    const stream = track(await session.listen());
    await waitFor(() => /\n: ping \d{4}-\d\d-\d\dT[\d:.]+Z\n\n/.test(stream.text), 3000, 'a keep-alive comment');
  });

  it('is not cut by a short server timeout', async () => {
    const { h } = await start({ keepAliveMs: 0 });
    h.server.timeout = 50;
    const session = await openMcpSession(h.mcpUrl);
    const stream = track(await session.listen());
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(stream.closed).toBe(false);
    h.router.sessions.broadcast({ method: 'notifications/resources/list_changed' });
    await stream.until((events) => messagesOf(events).length === 1);
  });
});

describe('DELETE', () => {
  it('closes the session and its server (200), ends its streams; later requests get 404', async () => {
    const counts = new Map<string, ServerCounts>();
    const { h } = await start({ createServer: (session) => countingServer(session, counts) });
    const session = await openMcpSession(h.mcpUrl);
    const standalone = track(await session.listen());
    const deleted = await session.reply({ method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(deleted.text).toBe('');
    await standalone.done;
    expect(h.router.sessions.size).toBe(0);
    expect(counts.get(session.sessionId)).toEqual({ close: 1, onclose: 1 });

    for (const method of ['POST', 'GET', 'DELETE']) {
      const after = await session.reply({ method, ...(method === 'POST' ? { body: rpc('late', 'ping') } : {}) });
      expect(after.status, method).toBe(404);
      expect(after.json).toMatchObject({ jsonrpc: '2.0', id: method === 'POST' ? 'late' : null, error: { code: -32001 } });
    }
  });
});

describe('resume with Last-Event-ID', () => {
  it('replays exactly what a cut POST stream missed, then goes on live to the final response and ends', async () => {
    const { h, gates } = await start();
    const session = await openMcpSession(h.mcpUrl);
    const standalone = track(await session.listen());
    const call = track(await session.request({ body: callTool(7, 'steps', { name: 'r', count: 3 }) }));
    await untilLogged(call, 'r 1');
    const lastSeen = lastIdOf(call);
    call.destroy();
    await call.done;

    // While nobody reads: step 2 about the request, and a broadcast that belongs to the standalone stream.
    gates.open('r 1');
    await gates.reached('r 2');
    h.router.sessions.broadcast({ method: 'notifications/resources/list_changed' });

    const resumed = track(await resumeStream(session, lastSeen));
    expect(resumed.status).toBe(200);
    expectStreamHeaders(resumed.headers);
    await untilLogged(resumed, 'r 2');
    gates.open('r 2');
    await untilLogged(resumed, 'r 3');
    gates.open('r 3');
    await resumed.done;
    expect(messagesOf(resumed.events).map((m) => dataOf(m) ?? toolText(m))).toEqual(['r 2', 'r 3', 'r done']);
    expect(messagesOf(resumed.events).at(-1)).toMatchObject({ id: 7 });
    // Same stream, later events: the ids go on from the one the client had.
    const [streamKey, streamNumber, seq] = lastSeen.split('.');
    for (const event of resumed.events) {
      const [k, n, s] = event.id!.split('.');
      expect([k, n]).toEqual([streamKey, streamNumber]);
      expect(Number(s)).toBeGreaterThan(Number(seq));
    }
    expect(messagesOf(standalone.events)).toEqual([{ jsonrpc: '2.0', method: 'notifications/resources/list_changed' }]);
  });

  it('replays a response sent while the stream was cut, then ends at once', async () => {
    const { h, gates } = await start();
    const session = await openMcpSession(h.mcpUrl);
    const call = track(await session.request({ body: callTool('c', 'steps', { name: 'q', count: 1 }) }));
    await untilLogged(call, 'q 1');
    const lastSeen = lastIdOf(call);
    call.destroy();
    await call.done;
    gates.open('q 1');
    await waitFor(() => h.router.sessions.stats().detached === 1, 3000, 'the session to go idle');

    const resumed = track(await resumeStream(session, lastSeen));
    expect(resumed.status).toBe(200);
    await resumed.done;
    expect(messagesOf(resumed.events)).toEqual([{ jsonrpc: '2.0', id: 'c', result: { content: [{ type: 'text', text: 'q done' }] } }]);
  });

  it('replays the initialize answer until notifications/initialized proves the client has it, then lets it go', async () => {
    const { h } = await start();
    const init = await mcpReply(h.mcpUrl, { body: initializeRequest(latestVersion) });
    const sessionId = init.headers['mcp-session-id']!;
    const priming = init.events[0]!.id!;
    const resumeInitialize = async () => {
      const stream = track(await mcpRequest(h.mcpUrl, { method: 'GET', sessionId, protocolVersion: latestVersion, lastEventId: priming }));
      await stream.done;
      return messagesOf(stream.events).map((m) => m.id);
    };
    // A client that lost the answer gets it again.
    expect(await resumeInitialize()).toEqual(['init']);
    const initialized = await mcpReply(h.mcpUrl, { sessionId, protocolVersion: latestVersion, body: initializedNotification });
    expect(initialized.status).toBe(202);
    // Now the client provably has it: the stream holds nothing more, and the idle session no replay buffer.
    expect(await resumeInitialize()).toEqual([]);
  });

  it('resumes from the priming event when the cut came before any message', async () => {
    const { h, gates } = await start();
    const session = await openMcpSession(h.mcpUrl);
    const call = track(await session.request({ body: callTool('p', 'add', { a: 1, b: 1 }) }));
    await call.until((events) => events.length >= 1);
    const priming = call.events[0]!;
    expect(priming.data).toBe('');
    call.destroy();
    await call.done;
    const resumed = track(await resumeStream(session, priming.id!));
    await resumed.done;
    expect(messagesOf(resumed.events).map((m) => m.id)).toEqual(['p']);
    void gates;
  });

  it('resumes the standalone stream: the missed events, then live ones, and it stays open', async () => {
    const { h } = await start();
    const session = await openMcpSession(h.mcpUrl);
    const first = track(await session.listen());
    h.router.sessions.broadcast({ method: 'notifications/a' });
    await first.until((events) => messagesOf(events).length === 1);
    const lastSeen = lastIdOf(first);
    first.destroy();
    await first.done;
    await waitFor(() => h.router.sessions.stats().detached === 1, 3000, 'the standalone stream to be seen gone');
    h.router.sessions.broadcast({ method: 'notifications/b' });
    h.router.sessions.broadcast({ method: 'notifications/c' });

    const resumed = track(await resumeStream(session, lastSeen));
    expect(resumed.status).toBe(200);
    await resumed.until((events) => messagesOf(events).length === 2);
    h.router.sessions.broadcast({ method: 'notifications/d' });
    await resumed.until((events) => messagesOf(events).length === 3);
    expect(messagesOf(resumed.events).map((m) => m.method)).toEqual(['notifications/b', 'notifications/c', 'notifications/d']);
    expect(resumed.closed).toBe(false);
    expect(h.router.sessions.stats().detached).toBe(0);
  });
});

describe('SSE polling (2025-11-25)', () => {
  it('a tool ends its stream with closeSSEStream(); the client GET-resumes and gets the result', async () => {
    const { h, gates } = await start({ retryMs: 50 });
    const session = await openMcpSession(h.mcpUrl);
    const call = track(await session.request({ body: callTool('poll-1', 'poll', { name: 'p' }) }));
    await call.done;
    expect(call.retries).toEqual([50]);
    expect(messagesOf(call.events)).toEqual([logged('p polling')].map((n) => ({ jsonrpc: '2.0', ...n })));
    const lastSeen = lastIdOf(call);

    // The result is not ready yet: the resumed stream waits for it live, then ends.
    const resumed = track(await resumeStream(session, lastSeen));
    expect(resumed.status).toBe(200);
    gates.open('p');
    await resumed.done;
    expect(messagesOf(resumed.events)).toEqual([{ jsonrpc: '2.0', id: 'poll-1', result: { content: [{ type: 'text', text: 'p done' }] } }]);
  });

  it('the result sent while the client was away is replayed on its GET', async () => {
    const { h, gates } = await start({ retryMs: 50 });
    const session = await openMcpSession(h.mcpUrl);
    const call = track(await session.request({ body: callTool('poll-2', 'poll', { name: 'later' }) }));
    await call.done;
    gates.open('later');
    await waitFor(() => h.router.sessions.stats().detached === 1, 3000, 'the call to finish');
    const resumed = track(await resumeStream(session, lastIdOf(call)));
    await resumed.done;
    expect(messagesOf(resumed.events).map(toolText)).toEqual(['later done']);
  });

  it('a tool ends the standalone stream with closeStandaloneSSEStream(); the client resumes it and misses nothing', async () => {
    const { h } = await start({ retryMs: 50 });
    const session = await openMcpSession(h.mcpUrl);
    const standalone = track(await session.listen());
    await standalone.until((events) => events.length === 1);
    const reply = await session.reply({ body: callTool(1, 'poll-standalone') });
    expect(messagesOf(reply.events).map(toolText)).toEqual(['closed']);
    await standalone.done;
    expect(standalone.retries).toEqual([50]);
    await waitFor(() => h.router.sessions.stats().detached === 1, 3000, 'the standalone stream to be seen gone');
    h.router.sessions.broadcast({ method: 'notifications/while-away' });
    const resumed = track(await resumeStream(session, lastIdOf(standalone)));
    await resumed.until((events) => messagesOf(events).length === 1);
    expect(messagesOf(resumed.events)).toEqual([{ jsonrpc: '2.0', method: 'notifications/while-away' }]);
    expect(resumed.closed).toBe(false);
  });

  it('is not offered to a 2025-06-18 client, whose stream carries the result', async () => {
    const { h } = await start();
    const session = await openMcpSession(h.mcpUrl, { protocolVersion: previousVersion });
    const reply = await session.reply({ body: callTool(1, 'poll', { name: 'old' }) });
    expect(messagesOf(reply.events).map(toolText)).toEqual(['no closeSSEStream']);
  });
});
