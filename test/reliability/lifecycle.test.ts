// Session lifecycle under faults: failing createServer, throwing tools, aborted POSTs, races with close, draining.
import net from 'node:net';
import http from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import express from 'express';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import type { McpSseError, ServerLike, SessionContext } from '../../lib/index.js';
import { buildServerV1, countingServer, startHarness, waitFor, type Harness, type HarnessOptions, type ServerCounts } from '../helpers/server.js';
import { handshake, isErrorEnvelope, openSse, postJson, sessionIdOf, type RawStream } from '../helpers/sse.js';
import { expectHandlesBackTo, handleCounts, trackLibTimers } from './leaks.js';

let harness: Harness | undefined;
let handlesBefore: Record<string, number>;
let libTimers: ReturnType<typeof trackLibTimers>;
const cleanups: (() => unknown)[] = [];

beforeEach(() => {
  handlesBefore = handleCounts();
  libTimers = trackLibTimers();
});

afterEach(async () => {
  try {
    for (const cleanup of cleanups.splice(0)) await cleanup();
    await harness?.close();
    harness = undefined;
    // Nothing the package started outlives it: no timers (unref'd ones included), no sockets, no listeners.
    await waitFor(() => libTimers.pending().length === 0, 2000, `lib timers to end: ${libTimers.pending().join('; ')}`);
    await expectHandlesBackTo(handlesBefore);
  } finally {
    libTimers.stop();
  }
});

/** A harness whose sessions' servers count close() and onclose; `decorate` may change each server. */
async function start(options: HarnessOptions & { decorate?: (server: ReturnType<typeof buildServerV1>) => void } = {}) {
  const { decorate, ...rest } = options;
  const errors: { error: McpSseError; sessionId: string | undefined }[] = [];
  const servers = new Map<string, ServerCounts>();
  harness = await startHarness({
    keepAliveMs: 0,
    onError: (error, context) => errors.push({ error, sessionId: context.sessionId }),
    createServer: (session: SessionContext) => {
      const server = countingServer(session, servers);
      decorate?.(server);
      return server;
    },
    ...rest,
  });
  return { harness, errors, servers };
}

function track(stream: RawStream): RawStream {
  cleanups.push(() => stream.destroy());
  return stream;
}

async function connectClient(h: Harness): Promise<Client> {
  const client = new Client({ name: 'lifecycle', version: '1.0.0' });
  await client.connect(new SSEClientTransport(new URL(h.sseUrl)));
  cleanups.push(() => client.close());
  return client;
}

async function expectServes(h: Harness): Promise<void> {
  const client = await connectClient(h);
  const result = await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
  expect((result.content as { text: string }[])[0]!.text).toBe('3');
  await client.close();
}

describe('createServer failures', () => {
  const failing: [string, (session: SessionContext) => ServerLike | Promise<ServerLike>][] = [
    [
      'throws',
      () => {
        throw new Error('boom');
      },
    ],
    [
      'rejects',
      async () => {
        throw new Error('boom');
      },
    ],
    ['returns undefined', () => undefined as unknown as ServerLike],
    ['returns a plain object', () => ({}) as ServerLike],
    ['returns a number', () => 42 as unknown as ServerLike],
    ['resolves to null', async () => null as unknown as ServerLike],
    [
      'returns a server whose connect() rejects',
      () => ({
        connect: async () => {
          throw new Error('connect failed');
        },
      }),
    ],
  ];

  it.each(failing)('createServer %s → 500 envelope, no session, ERR_MCP_SSE_CREATE_SERVER', async (_name, createServer) => {
    const errors: McpSseError[] = [];
    harness = await startHarness({ createServer, onError: (e) => errors.push(e) });
    const stream = await openSse(harness.sseUrl);
    expect(stream.status).toBe(500);
    const body = JSON.parse(stream.text) as unknown;
    expect(isErrorEnvelope(body)).toBe(true);
    expect(body).toMatchObject({ id: null, error: { code: -32603, data: { reason: 'create_server_failed' } } });
    expect(harness.router.sessions.size).toBe(0);
    expect(harness.router.sessions.stats()).toMatchObject({ active: 0, detached: 0 });
    expect(errors.map((e) => e.code)).toEqual(['ERR_MCP_SSE_CREATE_SERVER']);
    expect(errors[0]!.cause).toBeInstanceOf(Error);
  });
});

describe('faults while serving', () => {
  it('a throwing tool gives the client an error result and the session carries on', async () => {
    const { harness: h } = await start();
    const client = await connectClient(h);
    const failed = await client.callTool({ name: 'fail', arguments: {} });
    expect(failed.isError).toBe(true);
    expect(JSON.stringify(failed.content)).toContain('tool failed on purpose');
    const ok = await client.callTool({ name: 'echo', arguments: { text: 'still here' } });
    expect((ok.content as { text: string }[])[0]!.text).toBe('still here');
    expect(h.router.sessions.stats()).toMatchObject({ active: 1, closed: 0 });
  });

  it.each([
    ['raw body, Content-Length', false],
    ['behind express.json(), Content-Length', true],
  ] as const)('a client aborting mid-POST (%s) crashes nothing', async (_name, json) => {
    const { harness: h, errors } = await start(json ? { before: (app) => app.use(express.json()) } : {});
    const stream = track(await openSse(h.sseUrl));
    const path = new URL(stream.endpoint!, h.baseUrl);
    const url = new URL(h.baseUrl);
    for (const chunked of [false, true]) {
      const socket = net.connect(Number(url.port), url.hostname);
      socket.on('error', () => {});
      await new Promise((resolve) => socket.once('connect', resolve));
      const length = chunked ? 'Transfer-Encoding: chunked' : 'Content-Length: 1000';
      socket.write(`POST ${path.pathname}${path.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\n${length}\r\n\r\n`);
      socket.write(chunked ? '10\r\n{"jsonrpc":"2.0",\r\n' : '{"jsonrpc":"2.0","id":1,');
      await new Promise((resolve) => setTimeout(resolve, 30));
      socket.destroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(errors).toEqual([]);
    expect(h.router.sessions.size).toBe(1);
    expect(stream.closed).toBe(false);
    // The session and the server still work.
    const res = await postJson(path.href, { jsonrpc: '2.0', id: 'after-abort', method: 'ping' });
    expect(res.status).toBe(202);
    await expectServes(h);
  });

  it("POSTs racing a session's close get 202 or 404, never 5xx, and leave no half-open session", async () => {
    const { harness: h, servers } = await start();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    cleanups.push(() => agent.destroy());
    const statuses = new Map<number, number>();
    for (let round = 0; round < 15; round++) {
      const stream = track(await openSse(h.sseUrl));
      const sessionId = sessionIdOf(stream.endpoint!);
      const url = new URL(stream.endpoint!, h.baseUrl).href;
      const posts = Array.from({ length: 24 }, async (_, i) => {
        await new Promise((resolve) => setTimeout(resolve, i % 8));
        const message = i % 2 === 0 ? { jsonrpc: '2.0', id: i, method: 'tools/list' } : { jsonrpc: '2.0', method: 'notifications/initialized' };
        return postJson(url, message, { agent });
      });
      const closing = new Promise((resolve) => setTimeout(resolve, round % 5)).then(() => h.router.sessions.close(sessionId));
      const results = await Promise.all(posts);
      expect(await closing).toBe(true);
      for (const res of results) {
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect([202, 404]).toContain(res.status);
        if (res.status === 404) expect(isErrorEnvelope(res.json())).toBe(true);
      }
      await stream.done;
      expect(h.router.sessions.get(sessionId)).toBeUndefined();
      expect(servers.get(sessionId)).toEqual({ close: 1, onclose: 1 });
    }
    // The race really happened both ways.
    expect(statuses.get(202)).toBeGreaterThan(0);
    expect(statuses.get(404)).toBeGreaterThan(0);
    expect(h.router.sessions.size).toBe(0);
    expect(h.router.sessions.stats()).toMatchObject({ active: 0, detached: 0, opened: 15, closed: 15 });
  });

  it('with resumeWindowMs 0 a client disconnect closes the session at once: server closed, onclose once', async () => {
    const { harness: h, servers } = await start({ resumeWindowMs: 0 });
    const stream = await openSse(h.sseUrl);
    const sessionId = sessionIdOf(stream.endpoint!);
    await handshake(stream, new URL(stream.endpoint!, h.baseUrl).href);
    stream.destroy();
    await waitFor(() => h.router.sessions.size === 0, 5000, 'session to close');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(servers.get(sessionId)).toEqual({ close: 1, onclose: 1 });
    expect(h.router.sessions.stats()).toMatchObject({ active: 0, detached: 0, opened: 1, closed: 1, resumed: 0 });
    // A real SDK client, the same way.
    const client = await connectClient(h);
    await client.listTools();
    await client.close();
    await waitFor(() => h.router.sessions.size === 0, 5000, 'SDK session to close');
    expect([...servers.values()].every((c) => c.close === 1 && c.onclose === 1)).toBe(true);
  });
});

describe('slow createServer', () => {
  const slowly = (ms: number) => async (session: SessionContext) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return buildServerV1(session);
  };

  it('a client that leaves while its server is being created leaves no session behind', async () => {
    const created: string[] = [];
    harness = await startHarness({
      keepAliveMs: 0,
      createServer: async (session) => {
        const server = await slowly(100)(session);
        created.push(session.sessionId!);
        server.server.onclose = () => created.push('onclose');
        return server;
      },
    });
    const req = http.get(harness.sseUrl, { agent: false });
    req.on('error', () => {});
    await new Promise((resolve) => setTimeout(resolve, 20));
    req.destroy();
    await waitFor(() => created.length === 2, 5000, 'the server to be created and closed');
    await waitFor(() => harness!.router.sessions.size === 0, 5000, 'the session to be dropped');
    expect(created[1]).toBe('onclose');
    expect(harness.router.sessions.stats()).toMatchObject({ opened: 1, closed: 1, active: 0, detached: 0 });
    await expectServes(harness);
  });

  it.each([
    ['router.close()', (h: Harness) => h.router.close({ timeoutMs: 2000 })],
    ['sessions.closeAll()', (h: Harness) => h.router.sessions.closeAll()],
  ] as const)('%s while a server is being created answers that GET with 503 and still closes the server', async (_name, closeAll) => {
    const errors: McpSseError[] = [];
    let closed = 0;
    harness = await startHarness({
      keepAliveMs: 0,
      onError: (e) => errors.push(e),
      createServer: async (session) => {
        const server = await slowly(100)(session);
        server.server.onclose = () => closed++;
        return server;
      },
    });
    const opening = openSse(harness.sseUrl);
    await waitFor(() => harness!.router.sessions.size === 1, 5000, 'the session to be registered');
    await closeAll(harness);
    const stream = await opening;
    expect(stream.status).toBe(503);
    expect(JSON.parse(stream.text)).toMatchObject({ error: { data: { reason: 'shutting_down' } } });
    expect(harness.router.sessions.size).toBe(0);
    expect(closed).toBe(1);
    expect(errors).toEqual([]);
  });
});

describe('router.close()', () => {
  it('drains: open streams get a retry: hint and end, new GETs get 503, every server closes, it resolves', async () => {
    const { harness: h, servers } = await start({ retryMs: 1234 });
    const streams: RawStream[] = [];
    for (let i = 0; i < 3; i++) {
      const stream = track(await openSse(h.sseUrl));
      await handshake(stream, new URL(stream.endpoint!, h.baseUrl).href);
      streams.push(stream);
    }
    const detachedStream = await openSse(h.sseUrl);
    detachedStream.destroy();
    await waitFor(() => h.router.sessions.stats().detached === 1, 5000, 'detach');

    const started = Date.now();
    await h.router.close({ timeoutMs: 5000 });
    expect(Date.now() - started).toBeLessThan(2000);
    for (const stream of streams) {
      await stream.done;
      // Opening hint, then the drain hint at the very end of the stream.
      expect(stream.retries).toEqual([1234, 1234]);
      expect(stream.text.endsWith('retry: 1234\n\n')).toBe(true);
    }
    expect(h.router.sessions.size).toBe(0);
    expect(servers.size).toBe(4);
    for (const counts of servers.values()) expect(counts).toEqual({ close: 1, onclose: 1 });

    const refused = await openSse(h.sseUrl);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    expect(JSON.parse(refused.text)).toMatchObject({ id: null, error: { data: { reason: 'shutting_down' } } });
  });

  it("resolves at the deadline when a server's close() hangs, refusing new streams meanwhile", async () => {
    let hang = true;
    const { harness: h, servers } = await start({
      decorate: (server) => {
        const close = server.close.bind(server);
        server.close = () => (hang ? new Promise<void>(() => {}) : close());
      },
    });
    const stream = track(await openSse(h.sseUrl));
    const closing = h.router.close({ timeoutMs: 300 });
    const started = Date.now();
    await stream.done;
    const refused = await openSse(h.sseUrl);
    expect(refused.status).toBe(503);
    await closing;
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(1500);
    expect(servers.size).toBe(1);
    // Release the hung server so the session can finish; the router holds no timer for it either way.
    hang = false;
    cleanups.push(() => h.router.sessions.closeAll());
  });
});
