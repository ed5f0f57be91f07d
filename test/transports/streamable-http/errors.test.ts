// The Streamable HTTP error table: every refusal as a JSON-RPC envelope with its status, the order of refusals where
// two apply, and the session rules around them (principals, caps, idle expiry, drain, CORS), over a real server.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { apiKeyStrategy } from '../../../lib/index.js';
import { buildServerV1, countingServer, waitFor, type ServerCounts } from '../../helpers/server.js';
import type { RawStream } from '../../helpers/sse.js';
import { cleanup, expectEnvelope, harnessWith } from '../../auth/helpers.js';
import type { HarnessOptions } from '../../helpers/server.js';
import {
  Gates,
  callTool,
  initializeRequest,
  lastIdOf,
  mcpReply,
  mcpRequest,
  messagesOf,
  openMcpSession,
  pausingServer,
  rpc,
  untilLogged,
  type McpReply,
  type McpRequest,
} from '../../helpers/streamable.js';

const streams: RawStream[] = [];
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.destroy();
  await cleanup();
});

function track(stream: RawStream): RawStream {
  streams.push(stream);
  return stream;
}

const keys = { 'sk-test-alice-000000000000': 'alice', 'sk-test-bob-11111111111111': 'bob' };
const alice = { 'X-API-Key': 'sk-test-alice-000000000000' };
const bob = { 'X-API-Key': 'sk-test-bob-11111111111111' };
const auth = { strategies: [apiKeyStrategy({ keys })] };
const unknownSession = '00000000-0000-4000-8000-000000000000';

async function start(options: HarnessOptions = {}) {
  const gates = new Gates();
  const h = await harnessWith({ createServer: (session) => pausingServer(session, gates), ...options });
  return { h, gates };
}

/** Asserts an error envelope (via the shared checker) and, for the Streamable endpoint, its JSON-RPC code. */
function expectRefused(reply: McpReply, status: number, reason: string, id: string | number | null = null, code?: number) {
  const body = expectEnvelope(reply, status, reason, id);
  if (code !== undefined) expect(body.error.code).toBe(code);
  return body;
}

const send = (url: string, request: McpRequest) => mcpReply(url, request);

describe('406, 415 and 413: what the request carries', () => {
  it('406 for a POST whose Accept does not list both types, and a GET without text/event-stream', async () => {
    const { h } = await start();
    for (const accept of [null, 'application/json', 'text/event-stream', '*/*', 'text/html']) {
      expectRefused(await send(h.mcpUrl, { accept, body: initializeRequest() }), 406, 'not_acceptable');
    }
    const session = await openMcpSession(h.mcpUrl);
    expectRefused(await session.reply({ method: 'GET', accept: 'application/json' }), 406, 'not_acceptable');
    expectRefused(await session.reply({ method: 'GET', accept: null }), 406, 'not_acceptable');
    // Nothing was opened by the refused initializes.
    expect(h.router.sessions.size).toBe(1);
  });

  it('415 for a body that is not JSON', async () => {
    const { h } = await start();
    for (const contentType of [null, 'text/plain', 'application/x-www-form-urlencoded', 'application/jsonx']) {
      expectRefused(await send(h.mcpUrl, { contentType, body: initializeRequest() }), 415, 'unsupported_media_type');
    }
    expect(h.router.sessions.size).toBe(0);
  });

  it('413 above maxMessageSize, on a new and on an existing session', async () => {
    const { h } = await start({ maxMessageSize: '1kb' });
    const big = callTool(1, 'echo', { text: 'x'.repeat(2048) });
    expectRefused(await send(h.mcpUrl, { body: big }), 413, 'message_too_large');
    const session = await openMcpSession(h.mcpUrl);
    expectRefused(await session.reply({ body: big }), 413, 'message_too_large');
    expect(h.router.sessions.stats().messagesIn).toBe(2);
  });

  it('400 parse error and invalid request, echoing the id when the body parsed', async () => {
    const { h } = await start();
    const session = await openMcpSession(h.mcpUrl);
    expectRefused(await session.reply({ body: '{"jsonrpc":"2.0","id":1,' }), 400, 'parse_error', null, -32700);
    expectRefused(await session.reply({ body: { jsonrpc: '1.0', id: 9, method: 'ping' } }), 400, 'invalid_request', 9, -32600);
    expectRefused(await session.reply({ body: [] }), 400, 'invalid_request', null, -32600);
  });
});

describe('the session a request names', () => {
  it('400 without Mcp-Session-Id on a non-initialize POST, a GET and a DELETE', async () => {
    const { h } = await start();
    expectRefused(await send(h.mcpUrl, { body: rpc(7, 'ping') }), 400, 'missing_session_id', 7);
    expectRefused(await send(h.mcpUrl, { body: { jsonrpc: '2.0', method: 'notifications/initialized' } }), 400, 'missing_session_id');
    expectRefused(await send(h.mcpUrl, { sessionId: '', body: rpc('e', 'ping') }), 400, 'missing_session_id', 'e');
    expectRefused(await send(h.mcpUrl, { method: 'GET' }), 400, 'missing_session_id');
    expectRefused(await send(h.mcpUrl, { method: 'DELETE' }), 400, 'missing_session_id');
  });

  it('400 for initialize batched with other messages, opening nothing', async () => {
    const createServer = vi.fn((session) => pausingServer(session, new Gates()));
    const { h } = await start({ createServer });
    const batch = [initializeRequest(), rpc(2, 'ping')];
    expectRefused(await send(h.mcpUrl, { body: batch }), 400, 'invalid_request', null, -32600);
    expectRefused(
      await send(h.mcpUrl, { body: [initializeRequest(), { jsonrpc: '2.0', method: 'notifications/initialized' }] }),
      400,
      'invalid_request',
    );
    expect(createServer).not.toHaveBeenCalled();
    expect(h.router.sessions.size).toBe(0);
  });

  it('400 for a second initialize on a session, which keeps working', async () => {
    const { h } = await start();
    const session = await openMcpSession(h.mcpUrl);
    expectRefused(await session.reply({ body: initializeRequest(undefined, 'again') }), 400, 'already_initialized', 'again', -32600);
    expect(h.router.sessions.size).toBe(1);
    expect((await session.reply({ body: rpc(1, 'ping') })).json).toEqual([{ jsonrpc: '2.0', id: 1, result: {} }]);
  });

  it('404 (-32001) for an unknown or deleted session, on every method', async () => {
    const { h } = await start();
    expectRefused(await send(h.mcpUrl, { sessionId: unknownSession, body: rpc('u', 'ping') }), 404, 'session_not_found', 'u', -32001);
    expectRefused(
      await send(h.mcpUrl, { sessionId: unknownSession, body: { jsonrpc: '2.0', method: 'notifications/initialized' } }),
      404,
      'session_not_found',
      null,
      -32001,
    );
    expectRefused(await send(h.mcpUrl, { sessionId: unknownSession, method: 'GET' }), 404, 'session_not_found', null, -32001);
    expectRefused(await send(h.mcpUrl, { sessionId: unknownSession, method: 'DELETE' }), 404, 'session_not_found', null, -32001);
    const session = await openMcpSession(h.mcpUrl);
    expect((await session.reply({ method: 'DELETE' })).status).toBe(200);
    expectRefused(await session.reply({ body: rpc(3, 'ping') }), 404, 'session_not_found', 3, -32001);
    // A session closed from the server side is as gone.
    const other = await openMcpSession(h.mcpUrl);
    await h.router.sessions.close(other.sessionId);
    expectRefused(await other.reply({ body: rpc(4, 'ping') }), 404, 'session_not_found', 4, -32001);
  });

  it('409 for a second standalone GET while one is open; the first keeps its events', async () => {
    const { h } = await start();
    const session = await openMcpSession(h.mcpUrl);
    const first = track(await session.listen());
    expect(first.status).toBe(200);
    expectRefused(await session.reply({ method: 'GET' }), 409, 'stream_attached');
    // Resuming the open stream by its id is the same conflict.
    h.router.sessions.broadcast({ method: 'notifications/a' });
    await first.until((events) => messagesOf(events).length === 1);
    expectRefused(await session.reply({ method: 'GET', lastEventId: lastIdOf(first) }), 409, 'stream_attached');
    h.router.sessions.broadcast({ method: 'notifications/b' });
    await first.until((events) => messagesOf(events).length === 2);
    expect(first.closed).toBe(false);
  });

  it('400 for an unsupported MCP-Protocol-Version; an absent one is fine', async () => {
    const { h } = await start();
    const session = await openMcpSession(h.mcpUrl);
    const refused = expectRefused(
      await session.reply({ body: rpc(5, 'ping'), protocolVersion: '1999-01-01' }),
      400,
      'unsupported_protocol_version',
      5,
    );
    expect(refused.error.message).toContain('1999-01-01');
    expectRefused(await session.reply({ method: 'GET', protocolVersion: 'garbage' }), 400, 'unsupported_protocol_version');
    expectRefused(await session.reply({ method: 'DELETE', protocolVersion: '' }), 400, 'unsupported_protocol_version');
    const absent = await mcpReply(h.mcpUrl, { sessionId: session.sessionId, body: rpc(6, 'ping') });
    expect(absent.status).toBe(200);
    // No priming event: a request without the header speaks 2025-03-26.
    expect(absent.events.map((e) => e.event)).toEqual(['message']);
    // The same rule on GET: a standalone stream opened without the header gets no priming event either.
    const listen = await mcpRequest(h.mcpUrl, { method: 'GET', sessionId: session.sessionId });
    expect(listen.status).toBe(200);
    h.router.sessions.broadcast({ method: 'notifications/resources/list_changed' });
    await listen.until((events) => events.length > 0, 5000, 'the broadcast');
    expect(listen.events[0]!.event).toBe('message');
    listen.destroy();
    expect(h.router.sessions.size).toBe(1);
  });

  it('primes streams only for date versions from 2025-11-25 on, never for a made-up version such as "9999"', async () => {
    const { h } = await start();
    for (const [version, primed] of [
      ['9999', false],
      ['2025-11-25-beta', false],
      ['2025-11-25', true],
      ['2025-06-18', false],
    ] as const) {
      const init = await mcpReply(h.mcpUrl, { body: initializeRequest(version) });
      expect(init.status).toBe(200);
      expect(init.events[0]!.event === undefined && init.events[0]!.data === '', `priming for ${version}`).toBe(primed);
    }
  });
});

describe('opening a session', () => {
  it('500 create_server_failed, echoing the initialize id, when createServer() throws; nothing leaks', async () => {
    const errors: string[] = [];
    const h = await harnessWith({
      createServer: () => {
        throw new Error('no server today');
      },
      onError: (error) => errors.push(error.code),
    });
    const refused = await send(h.mcpUrl, { body: initializeRequest(undefined, 'boom') });
    expectRefused(refused, 500, 'create_server_failed', 'boom', -32603);
    expect(refused.text).not.toContain('no server today');
    expect(errors).toEqual(['ERR_MCP_SSE_CREATE_SERVER']);
    expect(h.router.sessions.size).toBe(0);
  });

  it('keeps the two transports apart: a session id of one is unknown on the other', async () => {
    const { h } = await start();
    const streamable = await openMcpSession(h.mcpUrl);
    const legacy = track(await mcpRequest(h.sseUrl, { method: 'GET' }));
    await legacy.until((events) => events.some((e) => e.event === 'endpoint'));
    const endpoint = legacy.events.find((e) => e.event === 'endpoint')!.data;
    const legacyId = new URL(endpoint, h.baseUrl).searchParams.get('sessionId')!;

    expectRefused(await send(h.mcpUrl, { sessionId: legacyId, body: rpc(1, 'ping') }), 404, 'session_not_found', 1, -32001);
    expectRefused(await send(h.mcpUrl, { sessionId: legacyId, method: 'GET' }), 404, 'session_not_found', null, -32001);
    // A POST to the legacy route naming a Streamable session would run requests whose responses go nowhere.
    const wrongRoute = await send(`${h.baseUrl}/mcp/messages?sessionId=${streamable.sessionId}`, {
      accept: null,
      body: callTool(2, 'add', { a: 1, b: 1 }),
    });
    expectRefused(wrongRoute, 404, 'session_not_found', 2);
    expect(h.router.sessions.stats().messagesIn).toBe(2);
  });
});

describe('Last-Event-ID', () => {
  it('400 for an id this session never wrote, whatever its shape, never reported as a resume gap', async () => {
    const errors: string[] = [];
    const { h } = await start({ onError: (error) => errors.push(error.code) });
    const session = await openMcpSession(h.mcpUrl);
    const stream = track(await session.request({ body: rpc(1, 'ping') }));
    await stream.done;
    const [key] = lastIdOf(stream).split('.');
    for (const id of [
      'nope',
      '1',
      `${key}`,
      `${key}.x`,
      `${key}.-1`,
      `${key}.1.2.3`,
      `${key}.99.1`,
      `${key}.999`,
      `${'A'.repeat(22)}.1.1`,
      `${key}.01`,
      `${key}.1e3`,
    ]) {
      expectRefused(await session.reply({ method: 'GET', lastEventId: id }), 400, 'unknown_event_id', null);
    }
    // Nothing was ever buffered for these ids: telling the operator to raise replayBufferSize would mislead.
    expect(errors).not.toContain('ERR_MCP_SSE_RESUME_GAP');
    // The session is still there and the standalone stream was never taken.
    expect(track(await session.listen()).status).toBe(200);
  });

  it("never replays another session's events: its ids are unknown here", async () => {
    const { h, gates } = await start();
    const victim = await openMcpSession(h.mcpUrl);
    const attacker = await openMcpSession(h.mcpUrl);
    // The victim has events waiting in its buffer on both kinds of stream.
    const standalone = track(await victim.listen());
    h.router.sessions.broadcast({ method: 'notifications/resources/list_changed' }, (t) => t.sessionId === victim.sessionId);
    await standalone.until((events) => messagesOf(events).length === 1);
    const call = track(await victim.request({ body: callTool('secret', 'steps', { name: 'secret', count: 1 }) }));
    await untilLogged(call, 'secret 1');
    const ids = [lastIdOf(standalone), lastIdOf(call), call.events[0]!.id!, standalone.events[0]!.id!];
    standalone.destroy();
    call.destroy();
    gates.open('secret 1');
    await waitFor(() => h.router.sessions.stats().detached === 2, 3000, 'both sessions idle');

    for (const id of ids) {
      const refused = await attacker.reply({ method: 'GET', lastEventId: id });
      expectRefused(refused, 400, 'unknown_event_id');
      expect(refused.text).not.toContain('secret');
    }
    // The victim itself can still resume them.
    const resumed = track(await victim.listen(ids[1]!));
    expect(resumed.status).toBe(200);
    await resumed.done;
    expect(messagesOf(resumed.events).map((m) => m.id)).toEqual(['secret']);
  });

  it('400 when the events after the id are no longer buffered (never a silent loss)', async () => {
    const errors: string[] = [];
    const { h } = await start({ replayBufferSize: 2, onError: (error) => errors.push(error.code) });
    const session = await openMcpSession(h.mcpUrl);
    const stream = track(await session.listen());
    h.router.sessions.broadcast({ method: 'notifications/a' });
    await stream.until((events) => messagesOf(events).length === 1);
    const lastSeen = lastIdOf(stream);
    stream.destroy();
    await waitFor(() => h.router.sessions.stats().detached === 1, 3000, 'the stream seen gone');
    for (const method of ['notifications/b', 'notifications/c', 'notifications/d']) h.router.sessions.broadcast({ method });
    expectRefused(await session.reply({ method: 'GET', lastEventId: lastSeen }), 400, 'unknown_event_id');
    expect(errors).toContain('ERR_MCP_SSE_RESUME_GAP');
  });
});

describe('principals (auth.endpoints.mcp)', () => {
  it("403 for another principal's POST, GET, resume and DELETE, echoing the id; the owner is unaffected", async () => {
    const { h } = await start({ auth });
    const session = await openMcpSession(h.mcpUrl, { headers: alice });
    expect(h.router.sessions.get(session.sessionId)?.user?.id).toBe('alice');
    expect(h.router.sessions.get(session.sessionId)?.principalId).toBe('headerapikey:alice');
    expectRefused(await session.reply({ headers: bob, body: rpc('steal', 'ping') }), 403, 'forbidden_session', 'steal');
    expectRefused(await session.reply({ headers: bob, body: { jsonrpc: '2.0', method: 'notifications/initialized' } }), 403, 'forbidden_session');
    expectRefused(await session.reply({ headers: bob, method: 'GET' }), 403, 'forbidden_session');
    expectRefused(await session.reply({ headers: bob, method: 'DELETE' }), 403, 'forbidden_session');
    const stream = track(await session.request({ body: rpc(1, 'ping') }));
    await stream.done;
    expectRefused(await session.reply({ headers: bob, method: 'GET', lastEventId: lastIdOf(stream) }), 403, 'forbidden_session');
    expect(h.router.sessions.size).toBe(1);
    expect((await session.reply({ body: rpc(2, 'ping') })).json).toEqual([{ jsonrpc: '2.0', id: 2, result: {} }]);
  });

  it('401 with WWW-Authenticate without credentials, on every method; nothing created', async () => {
    const createServer = vi.fn(buildServerV1);
    const h = await harnessWith({ auth, createServer });
    const refused = expectRefused(await send(h.mcpUrl, { body: initializeRequest() }), 401, 'missing_credentials');
    expect(refused.error.message).toBeTruthy();
    for (const request of [
      { body: initializeRequest(), headers: { 'X-API-Key': 'sk-wrong' } },
      { method: 'GET', sessionId: unknownSession },
      { method: 'DELETE', sessionId: unknownSession },
    ]) {
      const reply = await send(h.mcpUrl, request);
      expect(reply.status).toBe(401);
      expect(reply.headers['www-authenticate']).toBe('ApiKey header="X-API-Key"');
    }
    expect(createServer).not.toHaveBeenCalled();
    expect(h.router.sessions.stats().authFailures).toBe(4);
  });

  it('asks for no credentials when auth.endpoints.mcp is false, and binds the session to no one', async () => {
    const { h } = await start({ auth: { ...auth, endpoints: { mcp: false } } });
    const session = await openMcpSession(h.mcpUrl);
    expect(h.router.sessions.get(session.sessionId)?.user).toBeUndefined();
    expect((await session.reply({ body: rpc(1, 'ping') })).status).toBe(200);
    // The legacy routes keep their guard.
    expect((await mcpReply(h.sseUrl, { method: 'GET' })).status).toBe(401);
  });
});

describe('guards in front of the endpoint', () => {
  it('403 for a foreign Host or Origin, before auth and before anything is created', async () => {
    const createServer = vi.fn(buildServerV1);
    const h = await harnessWith({ auth, createServer, allowedHosts: ['127.0.0.1'], allowedOrigins: ['https://app.example.com'] });
    expectRefused(await send(h.mcpUrl, { headers: { Host: 'attacker.example' }, body: initializeRequest() }), 403, 'host_not_allowed');
    expectRefused(await send(h.mcpUrl, { headers: { ...alice, Host: 'attacker.example' }, body: initializeRequest() }), 403, 'host_not_allowed');
    expectRefused(await send(h.mcpUrl, { headers: { Origin: 'https://evil.example' }, body: initializeRequest() }), 403, 'origin_not_allowed');
    expectRefused(
      await send(h.mcpUrl, { method: 'GET', headers: { Origin: 'https://evil.example' }, sessionId: unknownSession }),
      403,
      'origin_not_allowed',
    );
    expect(h.router.sessions.stats().authFailures).toBe(0);
    expect(createServer).not.toHaveBeenCalled();
    const allowed = await openMcpSession(h.mcpUrl, { headers: { ...alice, Origin: 'https://app.example.com' } });
    expect(allowed.sessionId).toBeTruthy();
  });

  it('405 with Allow for PUT, PATCH and HEAD (before auth, like the legacy routes)', async () => {
    const h = await harnessWith({ auth });
    for (const method of ['PUT', 'PATCH']) {
      const reply = await send(h.mcpUrl, { method, body: rpc(1, 'ping') });
      expectRefused(reply, 405, 'method_not_allowed');
      expect(reply.headers.allow).toBe('GET, POST, DELETE');
    }
    const head = await send(h.mcpUrl, { method: 'HEAD' });
    expect(head.status).toBe(405);
    expect(head.headers.allow).toBe('GET, POST, DELETE');
    expect(head.text).toBe('');
    expect(h.router.sessions.size).toBe(0);
  });

  it('429 from rateLimit.mcp, keyed per principal; unauthenticated requests get 401, never 429', async () => {
    const { h } = await start({ auth, rateLimit: { mcp: { windowMs: 60_000, limit: 3 } } });
    const session = await openMcpSession(h.mcpUrl, { headers: alice });
    // initialize and notifications/initialized used two of Alice's three.
    expect((await session.reply({ body: rpc(1, 'ping') })).status).toBe(200);
    const limited = await session.reply({ body: rpc(2, 'ping') });
    expectRefused(limited, 429, 'rate_limited');
    expect(limited.headers['ratelimit-policy']).toBe('3;w=60');
    // The limit comes before the Accept check (order: rate limit, then method and Accept/Content-Type).
    expectRefused(await session.reply({ body: rpc(3, 'ping'), accept: 'text/html' }), 429, 'rate_limited');
    for (let i = 0; i < 4; i++) expect((await send(h.mcpUrl, { body: initializeRequest() })).status).toBe(401);
    // Same IP, another principal: its own budget.
    const bobSession = await openMcpSession(h.mcpUrl, { headers: bob });
    expect((await bobSession.reply({ body: rpc(1, 'ping') })).status).toBe(200);
    expect(h.router.sessions.stats().rateLimited).toBe(2);
  });

  it('503 shutting_down for a new initialize after router.close(); the request checks still come first', async () => {
    const { h } = await start();
    const session = await openMcpSession(h.mcpUrl);
    await h.router.close();
    const refused = await send(h.mcpUrl, { body: initializeRequest(undefined, 'late') });
    expectRefused(refused, 503, 'shutting_down', 'late');
    expect(refused.headers['retry-after']).toBe('5');
    expectRefused(await send(h.mcpUrl, { accept: 'application/json', body: initializeRequest() }), 406, 'not_acceptable');
    expectRefused(await session.reply({ body: rpc(1, 'ping') }), 404, 'session_not_found', 1, -32001);
    expect(h.router.sessions.size).toBe(0);
  });
});

describe('order of refusals where two apply', () => {
  it('Accept, then Content-Type, then size, then the body, then the session header', async () => {
    const { h } = await start({ maxMessageSize: 64 });
    const big = rpc(1, 'ping', { pad: 'x'.repeat(200) });
    expectRefused(await send(h.mcpUrl, { accept: 'text/html', contentType: 'text/plain', body: big }), 406, 'not_acceptable');
    expectRefused(await send(h.mcpUrl, { contentType: 'text/plain', body: big }), 415, 'unsupported_media_type');
    expectRefused(await send(h.mcpUrl, { body: big }), 413, 'message_too_large');
    expectRefused(await send(h.mcpUrl, { body: '{"jsonrpc":' }), 400, 'parse_error', null, -32700);
    expectRefused(await send(h.mcpUrl, { body: { jsonrpc: '2.0', id: 2 } }), 400, 'invalid_request', 2, -32600);
    expectRefused(await send(h.mcpUrl, { body: rpc(3, 'ping'), protocolVersion: 'garbage' }), 400, 'missing_session_id', 3);
  });

  it('session lookup (404, 403) before the protocol version, the version before the session rules (409, re-initialize)', async () => {
    const { h } = await start({ auth });
    expectRefused(
      await send(h.mcpUrl, { headers: alice, sessionId: unknownSession, body: rpc(1, 'ping'), protocolVersion: 'garbage' }),
      404,
      'session_not_found',
      1,
    );
    const session = await openMcpSession(h.mcpUrl, { headers: alice });
    expectRefused(await session.reply({ headers: bob, body: rpc(2, 'ping'), protocolVersion: 'garbage' }), 403, 'forbidden_session', 2);
    expectRefused(await session.reply({ body: initializeRequest(undefined, 3), protocolVersion: 'garbage' }), 400, 'unsupported_protocol_version', 3);
    track(await session.listen());
    expectRefused(await session.reply({ method: 'GET', protocolVersion: 'garbage' }), 400, 'unsupported_protocol_version');
    // No credentials and an unknown session: authentication comes first.
    expectRefused(await send(h.mcpUrl, { sessionId: unknownSession, body: rpc(4, 'ping') }), 401, 'missing_credentials');
  });
});

describe('caps: maxSessions and maxSessionsPerUser count both transports', () => {
  it('an idle Streamable session (nothing open, nothing in flight) is evicted for a new one, and then gets 404', async () => {
    const counts = new Map<string, ServerCounts>();
    const h = await harnessWith({ maxSessions: 1, createServer: (session) => countingServer(session, counts) });
    const idle = await openMcpSession(h.mcpUrl);
    expect(h.router.sessions.stats().detached).toBe(1);
    const fresh = await openMcpSession(h.mcpUrl);
    expect(h.router.sessions.size).toBe(1);
    expect(h.router.sessions.get(fresh.sessionId)).toBeDefined();
    expectRefused(await idle.reply({ body: rpc(1, 'ping') }), 404, 'session_not_found', 1, -32001);
    await waitFor(() => counts.get(idle.sessionId)?.onclose === 1, 3000, 'the evicted server to close');
  });

  it('a session with an open standalone stream or a request in flight is not evicted: 503 server_full', async () => {
    const { h, gates } = await start({ maxSessions: 1 });
    const listening = await openMcpSession(h.mcpUrl);
    const stream = track(await listening.listen());
    const full = await send(h.mcpUrl, { body: initializeRequest(undefined, 'x') });
    expectRefused(full, 503, 'server_full', 'x');
    expect(full.headers['retry-after']).toBe('5');
    stream.destroy();
    await waitFor(() => h.router.sessions.stats().detached === 1, 3000, 'the session to go idle');

    // Busy again, with a call in flight and its POST stream cut: still not a candidate.
    const call = track(await listening.request({ body: callTool('busy', 'steps', { name: 'busy', count: 1 }) }));
    await untilLogged(call, 'busy 1');
    call.destroy();
    await call.done;
    expectRefused(await send(h.mcpUrl, { body: initializeRequest() }), 503, 'server_full', 'init');
    gates.open('busy 1');
    await waitFor(() => h.router.sessions.stats().detached === 1, 3000, 'the call to finish');
    const fresh = await openMcpSession(h.mcpUrl);
    expect([...h.router.sessions].map((t) => t.sessionId)).toEqual([fresh.sessionId]);
  });

  it("maxSessionsPerUser: evicts only the principal's own idle session, else 429", async () => {
    const { h } = await start({ auth, maxSessionsPerUser: 1 });
    const aliceFirst = await openMcpSession(h.mcpUrl, { headers: alice });
    const bobs = await openMcpSession(h.mcpUrl, { headers: bob });
    const aliceSecond = await openMcpSession(h.mcpUrl, { headers: alice });
    expect(h.router.sessions.get(aliceFirst.sessionId)).toBeUndefined();
    expect(h.router.sessions.get(bobs.sessionId)).toBeDefined();
    track(await aliceSecond.listen());
    const refused = await send(h.mcpUrl, { headers: alice, body: initializeRequest(undefined, 'third') });
    expectRefused(refused, 429, 'too_many_sessions', 'third');
    expect(refused.json).toMatchObject({ error: { message: expect.stringContaining('maxSessionsPerUser is 1') } });
    expect(h.router.sessions.size).toBe(2);
  });

  it('an idle Streamable session makes room for an HTTP+SSE stream, and an attached stream is never evicted', async () => {
    const { h } = await start({ maxSessions: 1 });
    const idle = await openMcpSession(h.mcpUrl);
    const legacy = track(await mcpRequest(h.sseUrl, { method: 'GET' }));
    expect(legacy.status).toBe(200);
    expect(h.router.sessions.get(idle.sessionId)).toBeUndefined();
    expect(h.router.sessions.stats().byTransport.sse.active).toBe(1);
    expectRefused(await send(h.mcpUrl, { body: initializeRequest() }), 503, 'server_full', 'init');
  });
});

describe('sessionIdleMs', () => {
  it('closes a session with nothing open and nothing in flight, and its server', async () => {
    const counts = new Map<string, ServerCounts>();
    const h = await harnessWith({ sessionIdleMs: 100, createServer: (session) => countingServer(session, counts) });
    const session = await openMcpSession(h.mcpUrl);
    await waitFor(() => h.router.sessions.size === 0, 3000, 'the idle session to close');
    expect(counts.get(session.sessionId)).toEqual({ close: 1, onclose: 1 });
    expectRefused(await session.reply({ body: rpc(1, 'ping') }), 404, 'session_not_found', 1, -32001);
  });

  it('spares a session while its standalone stream is open or a request runs, and counts from when it went idle', async () => {
    const { h, gates } = await start({ sessionIdleMs: 100 });
    const session = await openMcpSession(h.mcpUrl);
    const stream = track(await session.listen());
    const call = track(await session.request({ body: callTool('long', 'steps', { name: 'long', count: 1 }) }));
    await untilLogged(call, 'long 1');
    stream.destroy();
    call.destroy();
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The call is still in flight: the session stays.
    expect(h.router.sessions.size).toBe(1);
    gates.open('long 1');
    await waitFor(() => h.router.sessions.size === 0, 3000, 'the session to close once idle');
  });

  it('stops counting a request the client cancelled, so a client that then vanishes does not pin its session', async () => {
    const { h, gates } = await start({ sessionIdleMs: 100 });
    const session = await openMcpSession(h.mcpUrl);
    const call = track(await session.request({ body: callTool('doomed', 'steps', { name: 'doomed', count: 1 }) }));
    await untilLogged(call, 'doomed 1');
    const cancel = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'doomed', reason: 'timed out' } };
    expect((await session.reply({ body: cancel })).status).toBe(202);
    // The tool finishes, but the SDK sends no response to a cancelled request.
    gates.open('doomed 1');
    // The client goes away without DELETE.
    call.destroy();
    await waitFor(() => h.router.sessions.size === 0, 3000, 'the session to expire');
  });

  it("answers a cancelled request's POST in jsonResponse mode instead of holding it forever", async () => {
    const { h, gates } = await start({ jsonResponse: true });
    const session = await openMcpSession(h.mcpUrl);
    // The head of a JSON answer comes with its body: nothing arrives before the request settles.
    const answer = session.request({ body: callTool('doomed', 'steps', { name: 'doomed', count: 1 }) });
    await gates.reached('doomed 1');
    const cancel = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'doomed' } };
    expect((await session.reply({ body: cancel })).status).toBe(202);
    gates.open('doomed 1');
    const call = track(await answer);
    await call.done;
    expect(call.status).toBe(200);
    expect(call.text).not.toContain('doomed done');
    await waitFor(() => h.router.sessions.stats().detached === 1, 3000, 'the session to go idle');
  });

  it('answers a jsonResponse POST still waiting when the router drains with 503 shutting_down, not 404', async () => {
    const { h, gates } = await start({ jsonResponse: true });
    const session = await openMcpSession(h.mcpUrl);
    const answer = session.request({ body: callTool('late', 'steps', { name: 'late', count: 1 }) });
    await gates.reached('late 1');
    const closing = h.router.close({ timeoutMs: 2000 });
    const call = track(await answer);
    await call.done;
    expect(call.status).toBe(503);
    expect(JSON.parse(call.text)).toMatchObject({ id: null, error: { data: { reason: 'shutting_down' } } });
    gates.open('late 1');
    await closing;
  });

  it('0 keeps idle sessions', async () => {
    const { h } = await start({ sessionIdleMs: 0 });
    const session = await openMcpSession(h.mcpUrl);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect((await session.reply({ body: rpc(1, 'ping') })).status).toBe(200);
  });
});

describe('CORS on the Streamable endpoint', () => {
  const origin = 'https://app.example.com';

  it("preflights allow the MCP headers and methods without auth, even with the user's own header lists", async () => {
    const { h } = await start({
      auth,
      cors: { origin: [origin], allowedHeaders: ['X-Custom'], exposedHeaders: 'X-Trace, X-Other' },
    });
    const preflight = await send(h.mcpUrl, {
      method: 'OPTIONS',
      accept: null,
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'DELETE',
        'Access-Control-Request-Headers': 'content-type,mcp-session-id,mcp-protocol-version,last-event-id,x-api-key,x-custom',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(origin);
    expect(preflight.headers['access-control-allow-methods']!.split(',')).toEqual(['GET', 'POST', 'DELETE']);
    const allowed = preflight.headers['access-control-allow-headers']!.toLowerCase().split(/\s*,\s*/);
    expect(allowed).toEqual(
      expect.arrayContaining(['mcp-session-id', 'mcp-protocol-version', 'last-event-id', 'content-type', 'x-api-key', 'x-custom']),
    );
    expect(h.router.sessions.stats().authFailures).toBe(0);

    const init = await send(h.mcpUrl, { headers: { ...alice, Origin: origin }, body: initializeRequest() });
    expect(init.status).toBe(200);
    expect(init.headers['access-control-allow-origin']).toBe(origin);
    const exposed = init.headers['access-control-expose-headers']!.toLowerCase().split(/\s*,\s*/);
    expect(exposed).toEqual(expect.arrayContaining(['mcp-session-id', 'x-trace', 'x-other']));
    // Refusals carry CORS headers too, so a browser client can read them.
    const refused = await send(h.mcpUrl, { headers: { Origin: origin }, body: initializeRequest() });
    expect(refused.status).toBe(401);
    expect(refused.headers['access-control-allow-origin']).toBe(origin);
    expect(refused.headers['access-control-expose-headers']!.toLowerCase()).toContain('www-authenticate');
  });

  it('sends no CORS headers when cors is not configured; a preflight gets 204 with Allow', async () => {
    const { h } = await start();
    const preflight = await send(h.mcpUrl, { method: 'OPTIONS', accept: null, headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.allow).toBe('GET, POST, DELETE, OPTIONS');
    expect(Object.keys(preflight.headers).filter((name) => name.startsWith('access-control-'))).toEqual([]);
    const init = await send(h.mcpUrl, { headers: { Origin: origin }, body: initializeRequest() });
    expect(Object.keys(init.headers).filter((name) => name.startsWith('access-control-'))).toEqual([]);
  });
});
