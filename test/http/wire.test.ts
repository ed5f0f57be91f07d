// The exact bytes on the wire and every row of DESIGN.md's error table, over a real HTTP server.
import { afterEach, describe, expect, it } from 'vitest';
import express from 'express';
import { startHarness, type Harness, type HarnessOptions } from '../helpers/server.js';
import { openStream, post, type RawStream } from '../helpers/stream.js';

let harness: Harness | undefined;
const streams: RawStream[] = [];
afterEach(async () => {
  for (const s of streams.splice(0)) s.close();
  await harness?.close();
  harness = undefined;
});

async function start(options: HarnessOptions = {}): Promise<Harness> {
  harness = await startHarness(options);
  return harness;
}
async function open(url: string, headers?: Record<string, string>): Promise<RawStream> {
  const s = await openStream(url, headers);
  streams.push(s);
  return s;
}

const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

describe('GET {ssePath}', () => {
  it('sends the fixed headers, a retry hint, then the endpoint event with the mount prefix', async () => {
    const h = await start({ mountPath: '/tenants/acme/mcp' });
    const s = await open(h.sseUrl);
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toBe('text/event-stream');
    expect(s.headers['cache-control']).toBe('no-cache, no-transform');
    expect(s.headers['connection']).toBe('keep-alive');
    expect(s.headers['x-accel-buffering']).toBe('no');
    const [frames] = await s.until(
      /^retry: 5000\n\nevent: endpoint\nid: [A-Za-z0-9_-]{22}\.0\ndata: \/tenants\/acme\/mcp\/messages\?sessionId=[0-9a-f-]{36}\n\n$/,
    );
    expect(frames).toBeDefined();
    expect(h.router.sessions.size).toBe(1);
  });

  it('keeps the opening query and merges sessionId into it', async () => {
    const h = await start();
    const s = await open(`${h.sseUrl}?tenant=acme&sessionId=forged`);
    const [, data] = await s.until(/data: (\S+)\n\n/);
    const url = new URL(data!, h.baseUrl);
    expect(url.pathname).toBe('/mcp/messages');
    expect(url.searchParams.get('tenant')).toBe('acme');
    expect(url.searchParams.getAll('sessionId')).toHaveLength(1);
    expect(url.searchParams.get('sessionId')).not.toBe('forged');
  });

  it('uses publicBaseUrl, keeping its own query, when given', async () => {
    const h = await start({ publicBaseUrl: 'https://api.example.com/public/mcp?region=eu' });
    const s = await open(h.sseUrl);
    await s.until(/data: https:\/\/api\.example\.com\/public\/mcp\/messages\?region=eu&sessionId=[0-9a-f-]{36}\n/);
  });

  it('adds the configured extra headers', async () => {
    const h = await start({ headers: { 'X-Served-By': 'mcp' } });
    const s = await open(h.sseUrl);
    expect(s.headers['x-served-by']).toBe('mcp');
  });

  it('writes message events with opaque ids and single-line JSON data', async () => {
    const h = await start();
    const s = await open(h.sseUrl);
    const sessionId = await s.sessionId();
    const reply = await post(`${h.baseUrl}/mcp/messages?sessionId=${sessionId}`, initialize);
    expect(reply.status).toBe(202);
    const [, id, data] = await s.until(/event: message\nid: (\S+)\ndata: (.+)\n\n/);
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}\.1$/);
    expect(id).not.toContain(sessionId);
    expect(JSON.parse(data!)).toMatchObject({ jsonrpc: '2.0', id: 1, result: { protocolVersion: '2024-11-05' } });
  });

  it('sends keep-alive comments after keepAliveMs of silence', async () => {
    const h = await start({ keepAliveMs: 40 });
    const s = await open(h.sseUrl);
    await s.until(/: ping \d{4}-\d\d-\d\dT[\d:.]+Z\n\n/, 2000);
  });

  it('is not cut by the server timeout or an app that sets socket timeouts', async () => {
    const h = await start({ keepAliveMs: 0 });
    h.server.timeout = 50;
    const s = await open(h.sseUrl);
    await s.sessionId();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(s.res.destroyed).toBe(false);
    expect(h.router.sessions.size).toBe(1);
  });

  it('answers HEAD with 405', async () => {
    const h = await start();
    const response = await fetch(h.sseUrl, { method: 'HEAD' });
    expect(response.status).toBe(405);
    expect(h.router.sessions.size).toBe(0);
  });
});

describe('POST {messagesPath} error table', () => {
  const envelope = (reason: string, code: number, id: unknown = null) => ({
    jsonrpc: '2.0',
    id,
    error: { code, message: expect.any(String), data: { reason } },
  });

  async function withSession(options: HarnessOptions = {}) {
    const h = await start(options);
    const s = await open(h.sseUrl);
    const sessionId = await s.sessionId();
    return { h, s, url: `${h.baseUrl}/mcp/messages?sessionId=${sessionId}` };
  }

  it('202 for a single message and for a batch', async () => {
    const { url, s } = await withSession();
    expect((await post(url, initialize)).status).toBe(202);
    const batch = [
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 'a', method: 'ping' },
      { jsonrpc: '2.0', id: 'b', method: 'tools/list' },
    ];
    const reply = await post(url, batch);
    expect(reply.status).toBe(202);
    expect(reply.text).toBe('Accepted');
    await s.until(/"id":"b"/);
    const replies = [...s.text().matchAll(/event: message\nid: \S+\ndata: (.+)\n\n/g)].map((m) => JSON.parse(m[1]!));
    expect(replies.find((r) => r.id === 'a')).toEqual({ jsonrpc: '2.0', id: 'a', result: {} });
    expect(replies.find((r) => r.id === 'b').result.tools.length).toBeGreaterThan(0);
  });

  it('400 when sessionId is missing, echoing the request id', async () => {
    const h = await start();
    const reply = await post(`${h.baseUrl}/mcp/messages`, { jsonrpc: '2.0', id: 7, method: 'ping' });
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual(envelope('missing_session_id', -32600, 7));
  });

  it('400 parse error (-32700) with a null id', async () => {
    const { url } = await withSession();
    const reply = await post(url, '{"jsonrpc":"2.0", "id": 1,');
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual(envelope('parse_error', -32700));
  });

  it('400 invalid request (-32600), echoing the id when there is one', async () => {
    const { url } = await withSession();
    expect((await post(url, { jsonrpc: '1.0', id: 9, method: 'ping' })).json).toEqual(envelope('invalid_request', -32600, 9));
    expect((await post(url, [])).json).toEqual(envelope('invalid_request', -32600));
    expect((await post(url, 42)).status).toBe(400);
    expect((await post(url, { jsonrpc: '2.0', id: 3 })).json).toEqual(envelope('invalid_request', -32600, 3));
    expect(
      (
        await post(url, [
          { jsonrpc: '2.0', method: 'ok' },
          { jsonrpc: '2.0', id: 'x', method: 5 },
        ])
      ).json,
    ).toEqual(envelope('invalid_request', -32600, 'x'));
  });

  it('404 for an unknown session', async () => {
    const h = await start();
    const reply = await post(`${h.baseUrl}/mcp/messages?sessionId=00000000-0000-0000-0000-000000000000`, { jsonrpc: '2.0', id: 'q', method: 'ping' });
    expect(reply.status).toBe(404);
    expect(reply.json).toEqual(envelope('session_not_found', -32000, 'q'));
  });

  it('405 for a POST to the SSE path and a GET to the messages path', async () => {
    const h = await start();
    const wrongPost = await post(h.sseUrl, initialize);
    expect(wrongPost.status).toBe(405);
    expect(wrongPost.headers.get('allow')).toBe('GET');
    expect(wrongPost.json).toEqual(envelope('method_not_allowed', -32000));
    const wrongGet = await fetch(`${h.baseUrl}/mcp/messages`);
    expect(wrongGet.status).toBe(405);
    expect(wrongGet.headers.get('allow')).toBe('POST');
  });

  it('413 above maxMessageSize, for raw bodies and bodies pre-parsed by express.json()', async () => {
    const big = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(2048) } } };
    const raw = await withSession({ maxMessageSize: '1kb' });
    const rawReply = await post(raw.url, big);
    expect(rawReply.status).toBe(413);
    expect(rawReply.json).toEqual(envelope('message_too_large', -32000));
    await harness!.close();
    harness = undefined;
    const parsed = await withSession({ maxMessageSize: 1024, before: (app) => app.use(express.json({ limit: '10mb' })) });
    const parsedReply = await post(parsed.url, big);
    expect(parsedReply.status).toBe(413);
    // express.json() parsed it, so the id is known.
    expect(parsedReply.json).toEqual(envelope('message_too_large', -32000, 1));
  });

  it('413 for a chunked body that grows past the limit', async () => {
    const { url } = await withSession({ maxMessageSize: 1024 });
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"jsonrpc":"2.0","method":"x","params":{"a":"'));
        controller.enqueue(new TextEncoder().encode('y'.repeat(4096)));
        controller.enqueue(new TextEncoder().encode('"}}'));
        controller.close();
      },
    });
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(413);
  });

  it('415 when the body is not JSON', async () => {
    const { url } = await withSession();
    const reply = await post(url, 'hello', { 'Content-Type': 'text/plain' });
    expect(reply.status).toBe(415);
    expect(reply.json).toEqual(envelope('unsupported_media_type', -32000));
    expect((await post(url, initialize, { 'Content-Type': 'application/json; charset=utf-8' })).status).toBe(202);
  });

  it('503 with Retry-After once maxSessions streams are open', async () => {
    const h = await start({ maxSessions: 1 });
    await (await open(h.sseUrl)).sessionId();
    const response = await fetch(h.sseUrl);
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(await response.json()).toEqual(envelope('server_full', -32000));
  });

  it('500 with an envelope and no session when createServer() fails', async () => {
    const errors: string[] = [];
    const h = await start({
      createServer: () => {
        throw new Error('database down');
      },
      onError: (error) => errors.push(error.code),
    });
    const response = await fetch(h.sseUrl);
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(JSON.parse(body)).toEqual(envelope('create_server_failed', -32603));
    expect(body).not.toContain('database down');
    expect(h.router.sessions.size).toBe(0);
    expect(errors).toEqual(['ERR_MCP_SSE_CREATE_SERVER']);
  });
});
