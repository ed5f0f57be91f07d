// Arbitrary requests to the Streamable HTTP endpoint (bodies, Accept, Content-Type, Mcp-Session-Id,
// MCP-Protocol-Version, Last-Event-ID, methods) never crash the server: every answer is a 2xx or a JSON-RPC error
// envelope with a 4xx, no session leaks, the event loop stays responsive and real clients are still served.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { McpSseError } from '../../../lib/index.js';
import { startHarness, waitFor, type Harness, type HarnessOptions } from '../../helpers/server.js';
import { expectHandlesBackTo, handleCounts, trackLibTimers } from '../../reliability/leaks.js';
import { isErrorEnvelope, openSse, sessionIdOf, type RawStream } from '../../helpers/sse.js';
import { expectedId, fuzzBody, fuzzContentType, validMessage } from '../../helpers/fuzz.js';
import { acceptBoth, lastIdOf, mcpRequest, openMcpSession, replyOf, rpc, type McpRequest, type RawSession } from '../../helpers/streamable.js';

const maxMessageSize = 16 * 1024;
/** Statuses this configuration (no auth, guards, limits or caps) may answer with. */
const allowedStatuses = new Set([200, 202, 400, 404, 406, 409, 413, 415]);
/** Errors the package may report while fuzzed: servers rejecting junk, and resumes of events no longer buffered. */
const expectedErrorCodes = new Set(['ERR_MCP_SSE_MESSAGE_HANDLER', 'ERR_MCP_SSE_RESUME_GAP']);

let harness: Harness | undefined;
let histogram: IntervalHistogram | undefined;
const streams: RawStream[] = [];
let handlesBefore: Record<string, number>;
let libTimers: ReturnType<typeof trackLibTimers>;
beforeEach(() => {
  handlesBefore = handleCounts();
  libTimers = trackLibTimers();
});
afterEach(async () => {
  try {
    histogram?.disable();
    histogram = undefined;
    for (const stream of streams.splice(0)) stream.destroy();
    await harness?.close();
    harness = undefined;
    // Every session the fuzzing opened is gone with its timers; no socket outlives the server.
    await waitFor(() => libTimers.pending().length === 0, 2000, `lib timers to end: ${libTimers.pending().join('; ')}`);
    await expectHandlesBackTo(handlesBefore);
  } finally {
    libTimers.stop();
  }
});

// ---- arbitraries ----

/** Header values Node will send: tab, printable ASCII and Latin-1, possibly with spaces around. */
const headerValue = fc.string({
  unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff }), fc.constant(9)).map((c) => String.fromCharCode(c)),
  maxLength: 40,
});

const accept = fc.oneof(
  { weight: 6, arbitrary: fc.constant<string | null>(acceptBoth) },
  {
    weight: 3,
    arbitrary: fc.constantFrom<string | null>(
      'text/event-stream, application/json',
      'application/json;q=0.9, text/event-stream',
      'application/json',
      'text/event-stream',
      '*/*',
      '',
      null,
    ),
  },
  { weight: 1, arbitrary: headerValue },
);

type SessionKind = 'live' | 'absent' | 'empty' | 'garbage' | 'closed' | 'unknown' | 'legacy';
const session = fc.record({
  kind: fc.constantFrom<SessionKind>('live', 'live', 'live', 'live', 'absent', 'absent', 'empty', 'garbage', 'closed', 'unknown', 'legacy'),
  garbage: headerValue,
});

const protocolVersion = fc.oneof(
  { weight: 4, arbitrary: fc.constant<string | undefined>(undefined) },
  { weight: 3, arbitrary: fc.constantFrom<string | undefined>('2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05') },
  { weight: 1, arbitrary: headerValue },
);

type EventIdKind = 'none' | 'live-last' | 'live-first' | 'foreign' | 'mangled' | 'garbage';
const lastEventId = fc.record({
  kind: fc.constantFrom<EventIdKind>('none', 'none', 'none', 'live-last', 'live-first', 'foreign', 'mangled', 'garbage'),
  suffix: fc.oneof(
    fc.nat({ max: 1_000_000 }).map(String),
    fc.tuple(fc.nat({ max: 50 }), fc.nat({ max: 10_000 })).map(([s, n]) => `${s}.${n}`),
    headerValue,
  ),
  garbage: headerValue,
});

const method = fc.constantFrom('POST', 'POST', 'POST', 'POST', 'POST', 'POST', 'GET', 'GET', 'DELETE');

const anyRequest = fc.record({
  method,
  accept,
  contentType: fuzzContentType,
  session,
  protocolVersion,
  lastEventId,
  body: fuzzBody(maxMessageSize),
});
type FuzzedRequest = typeof anyRequest extends fc.Arbitrary<infer T> ? T : never;

/** A POST of well-formed messages to the live session with the right headers, so the accepting paths run often. */
const wellFormedPost: fc.Arbitrary<FuzzedRequest> = fc.record({
  method: fc.constant('POST'),
  accept: fc.constant(acceptBoth),
  contentType: fc.constant('application/json'),
  session: fc.record({ kind: fc.constant<SessionKind>('live'), garbage: fc.constant('') }),
  protocolVersion: fc.constantFrom<string | undefined>(undefined, '2025-11-25', '2025-06-18'),
  lastEventId: fc.record({ kind: fc.constant<EventIdKind>('none'), suffix: fc.constant(''), garbage: fc.constant('') }),
  body: fc.array(validMessage, { minLength: 1, maxLength: 3 }).map((batch) => Buffer.from(JSON.stringify(batch.length === 1 ? batch[0] : batch))),
});

const fuzzedRequest = fc.oneof({ weight: 3, arbitrary: anyRequest }, { weight: 1, arbitrary: wellFormedPost });

// ---- the fuzzed world ----

interface World {
  h: Harness;
  errors: McpSseError[];
  live: RawSession;
  closedId: string;
  legacyId: string;
  /** An event id of another Streamable session, which must never resume anything here. */
  foreignEventId: string;
  /** Event ids seen on the live session's streams, oldest first. */
  liveEventIds: string[];
  /** Sessions opened by fuzzed initialize requests. */
  opened: Set<string>;
  statuses: Map<number, number>;
}

async function fuzzWorld(options: HarnessOptions = {}): Promise<World> {
  const errors: McpSseError[] = [];
  harness = await startHarness({ maxMessageSize, keepAliveMs: 0, onError: (error) => errors.push(error), ...options });
  const h = harness;
  const live = await openMcpSession(h.mcpUrl);
  // A session that existed and closed: its id must be a clean 404.
  const closed = await openMcpSession(h.mcpUrl);
  await h.router.sessions.close(closed.sessionId);
  // An HTTP+SSE session: unknown on this endpoint.
  const legacy = await openSse(h.sseUrl);
  streams.push(legacy);
  // Another Streamable session with an event id of its own.
  const foreign = await openMcpSession(h.mcpUrl);
  return {
    h,
    errors,
    live,
    closedId: closed.sessionId,
    legacyId: sessionIdOf(legacy.endpoint!),
    foreignEventId: await standaloneEventId(h, foreign),
    liveEventIds: [await standaloneEventId(h, live)],
    opened: new Set([foreign.sessionId]),
    statuses: new Map(),
  };
}

/** The id of an event on the session's standalone stream (which is let go again). */
async function standaloneEventId(h: Harness, session: RawSession): Promise<string> {
  const stream = await session.listen();
  h.router.sessions.broadcast({ method: 'notifications/fuzz' }, (transport) => transport.sessionId === session.sessionId);
  await stream.until((events) => events.some((e) => e.event === 'message'));
  stream.destroy();
  await waitFor(() => h.router.sessions.stats().byTransport['streamable-http'].active === 0, 3000, 'the stream to be seen gone');
  return lastIdOf(stream);
}

function sessionIdFor(world: World, request: FuzzedRequest): string | undefined {
  // Deleting the live session would end the run's subject; a DELETE aims at a closed one instead.
  const kind = request.method === 'DELETE' && request.session.kind === 'live' ? 'closed' : request.session.kind;
  switch (kind) {
    case 'live':
      return world.live.sessionId;
    case 'absent':
      return undefined;
    case 'empty':
      return '';
    case 'garbage':
      return request.session.garbage;
    case 'closed':
      return world.closedId;
    case 'unknown':
      return '00000000-0000-4000-8000-000000000000';
    case 'legacy':
      return world.legacyId;
  }
}

function lastEventIdFor(world: World, request: FuzzedRequest): string | undefined {
  const key = world.liveEventIds[0]!.split('.')[0]!;
  switch (request.lastEventId.kind) {
    case 'none':
      return undefined;
    case 'live-last':
      return world.liveEventIds.at(-1);
    case 'live-first':
      return world.liveEventIds[0];
    case 'foreign':
      return world.foreignEventId;
    case 'mangled':
      return `${key}.${request.lastEventId.suffix}`;
    case 'garbage':
      return request.lastEventId.garbage;
  }
}

/** Sends one fuzzed request and checks its answer; returns when the answer is complete (or its stream was seen open). */
async function exercise(world: World, request: FuzzedRequest, jsonResponse: boolean): Promise<void> {
  const sessionId = sessionIdFor(world, request);
  const asked: McpRequest = { method: request.method, accept: request.accept };
  if (sessionId !== undefined) asked.sessionId = sessionId;
  if (request.protocolVersion !== undefined) asked.protocolVersion = request.protocolVersion;
  if (request.method === 'POST') {
    asked.body = request.body;
    asked.contentType = request.contentType ?? null;
  } else {
    const id = lastEventIdFor(world, request);
    if (id !== undefined) asked.lastEventId = id;
  }
  const stream = await mcpRequest(world.h.mcpUrl, asked);
  world.statuses.set(stream.status, (world.statuses.get(stream.status) ?? 0) + 1);
  const type = String(stream.headers['content-type'] ?? '');
  const context = () => `${request.method} session=${String(sessionId)} → ${stream.status} ${stream.text.slice(0, 300)}`;

  if (stream.status === 200 && type.startsWith('text/event-stream')) {
    expect(request.method, context()).not.toBe('DELETE');
    expect(jsonResponse && request.method === 'POST', context()).toBe(false);
    if (request.method === 'GET') {
      // A standalone or resumed stream: seen open, then let go (the next GET may meet a 409 until the server sees it go).
      streams.push(stream);
      stream.destroy();
      return;
    }
    // A POST stream ends after its last response.
    const reply = await replyOf(stream);
    for (const event of reply.events) {
      expect(event.id, context()).toBeDefined();
      if (event.event === 'message') expect(JSON.parse(event.data), context()).toMatchObject({ jsonrpc: '2.0' });
    }
    noteSession(world, reply.headers['mcp-session-id'], sessionId);
    if (sessionId === world.live.sessionId) {
      for (const event of reply.events) if (event.id !== undefined) world.liveEventIds.push(event.id);
    }
    return;
  }

  const reply = await replyOf(stream);
  if (stream.status === 200) {
    expect(jsonResponse && request.method === 'POST', context()).toBe(true);
    expect(type, context()).toMatch(/^application\/json/);
    const body = reply.json as Record<string, unknown> | Record<string, unknown>[];
    for (const message of Array.isArray(body) ? body : [body]) expect(message, context()).toMatchObject({ jsonrpc: '2.0' });
    noteSession(world, reply.headers['mcp-session-id'], sessionId);
    return;
  }
  if (stream.status === 202) {
    expect(request.method, context()).toBe('POST');
    expect(sessionId, context()).toBe(world.live.sessionId);
    expect(reply.text).toBe(''); // the spec: a 202 carries no body
    return;
  }
  expect(allowedStatuses, context()).toContain(stream.status);
  expect(type, context()).toMatch(/^application\/json/);
  const envelope = reply.json;
  expect(isErrorEnvelope(envelope), context()).toBe(true);
  if (!isErrorEnvelope(envelope)) return;
  if (stream.status === 404) expect(envelope.error.code, context()).toBe(-32001);
  const id = request.method === 'POST' ? expectedId(request.body, stream.status) : null;
  if (id !== undefined) expect(envelope.id, context()).toEqual(id);
}

/** A 2xx answer naming a session other than the one asked for opened a new one (a fuzzed initialize). */
function noteSession(world: World, answered: string | undefined, asked: string | undefined): void {
  if (answered === undefined || answered === asked) return;
  expect(asked, `session ${answered} opened by a request that named ${String(asked)}`).toBeUndefined();
  world.opened.add(answered);
}

/** After the run: nothing leaked, the live session still serves, and a real client works. */
async function expectStillServing(world: World): Promise<void> {
  const { h, live, opened } = world;
  expect(world.errors.filter((error) => !expectedErrorCodes.has(error.code)).map((error) => `${error.code}: ${error.message}`)).toEqual([]);
  // The live session, the legacy one, and whatever fuzzed initializes opened: nothing else.
  const ids = new Set([...h.router.sessions].map((transport) => transport.sessionId));
  expect(ids).toEqual(new Set([live.sessionId, world.legacyId, ...opened]));
  for (const id of opened) expect((await mcpRequestReply(h.mcpUrl, { method: 'DELETE', sessionId: id })).status).toBe(200);
  expect(h.router.sessions.size).toBe(2);

  const ping = await live.reply({ body: rpc('probe-after-fuzz', 'ping') });
  expect(ping.status).toBe(200);
  // The standalone slot is free again once the server has seen the fuzzed GETs go.
  await waitFor(() => h.router.sessions.stats().byTransport['streamable-http'].active === 0, 10_000, 'fuzzed GET streams to be seen gone');
  const standalone = await live.listen();
  streams.push(standalone);
  expect(standalone.status).toBe(200);

  const client = new Client({ name: 'after-fuzz', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(h.mcpUrl));
  await client.connect(transport);
  try {
    const result = await client.callTool({ name: 'add', arguments: { a: 40, b: 2 } });
    expect((result.content as { text: string }[])[0]!.text).toBe('42');
    // The SDK client's close() sends no DELETE; ending the session is a separate call.
    await transport.terminateSession();
  } finally {
    await client.close();
  }
  await waitFor(() => h.router.sessions.size === 2, 3000, 'the real client session to close');
}

async function mcpRequestReply(url: string, request: McpRequest) {
  return replyOf(await mcpRequest(url, request));
}

/** The event loop's worst delay during the run must stay far below a second: no request blocks it. */
function watchEventLoop(): IntervalHistogram {
  histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  return histogram;
}

describe('the Streamable HTTP endpoint under fuzzing', () => {
  it('answers 2xx or a JSON-RPC error envelope with a 4xx, never a 5xx, and leaks nothing', async () => {
    const world = await fuzzWorld();
    const loop = watchEventLoop();
    await fc.assert(
      fc.asyncProperty(fuzzedRequest, (request) => exercise(world, request, false)),
      { numRuns: 300 },
    );
    loop.disable();
    for (const status of [200, 202, 400, 404, 406, 413, 415]) expect(world.statuses.get(status) ?? 0, `status ${status} seen`).toBeGreaterThan(0);
    // A liveness bound, not a performance target: a blocked loop would show as seconds.
    expect(loop.max / 1e6).toBeLessThan(1000);
    await expectStillServing(world);
  });

  it('with jsonResponse: true, answers application/json or an envelope, and leaks nothing', async () => {
    const world = await fuzzWorld({ jsonResponse: true });
    await fc.assert(
      fc.asyncProperty(fuzzedRequest, (request) => exercise(world, request, true)),
      { numRuns: 150 },
    );
    expect(world.statuses.get(200) ?? 0).toBeGreaterThan(0);
    await expectStillServing(world);
  });
});
