// Arbitrary POST /messages requests never crash the server and always get a 202 or a well-formed error envelope.
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import express from 'express';
import fc from 'fast-check';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import type { McpSseError } from '../../lib/index.js';
import { startHarness, waitFor, type Harness, type HarnessOptions } from '../helpers/server.js';
import { isErrorEnvelope, openSse, post, postJson, responseFor, sessionIdOf, type RawStream } from '../helpers/sse.js';

const maxMessageSize = 16 * 1024;
/** Statuses of the DESIGN error table this configuration can produce (no auth, no rate limit, no caps). */
const allowedStatuses = new Set([400, 404, 413, 415]);
/** Reasons those statuses carry. */
const allowedReasons = new Set(['missing_session_id', 'parse_error', 'invalid_request', 'nesting_too_deep', 'batch_too_large', 'session_not_found', 'message_too_large', 'unsupported_media_type']);

let harness: Harness | undefined;
let stream: RawStream | undefined;
/** A small keep-alive pool so hundreds of runs do not open hundreds of connections. */
let agent: http.Agent;

afterEach(async () => {
  stream?.destroy();
  stream = undefined;
  await harness?.close();
  harness = undefined;
  agent?.destroy();
});

// ---- arbitraries ----

const jsonrpcField = fc.constantFrom<unknown>('2.0', '2.0', '2.0', '1.0', 2, null, '');
const idField = fc.oneof(fc.integer(), fc.string({ maxLength: 10 }), fc.constant(null), fc.double(), fc.boolean(), fc.constant({}), fc.constant([1]));
const methodField = fc.oneof(
  fc.constantFrom('ping', 'tools/list', 'tools/call', 'initialize', 'notifications/initialized', 'notifications/cancelled', 'resources/list', ''),
  fc.string({ maxLength: 20 }),
  fc.integer(),
);
const paramsField = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant({ name: 'echo', arguments: { text: 'x' } }), fc.constant({ name: 'nope', arguments: {} }));
/** Objects that look like JSON-RPC messages, each field possibly wrong or missing. */
const nearValid = fc.record(
  {
    jsonrpc: jsonrpcField,
    id: idField,
    method: methodField,
    params: paramsField,
    result: fc.jsonValue({ maxDepth: 2 }),
    error: fc.oneof(fc.record({ code: fc.integer(), message: fc.string() }), fc.jsonValue({ maxDepth: 2 })),
  },
  { requiredKeys: [] },
);
/** Mostly valid requests and notifications, so the 202 path (and the server behind it) gets exercised. */
const valid = fc.record(
  {
    jsonrpc: fc.constant('2.0'),
    id: fc.oneof(fc.integer(), fc.string({ maxLength: 10 })),
    method: fc.constantFrom('ping', 'tools/list', 'resources/list', 'notifications/cancelled', 'no/such/method'),
    params: fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  },
  { requiredKeys: ['jsonrpc', 'method'] },
);
const message = fc.oneof(nearValid, valid);

const hugeNumber = fc.oneof(
  fc.stringMatching(/^-?[1-9][0-9]{15,400}$/),
  fc.constantFrom('1e400', '-1e400', '1e-400', '123456789012345678901234567890.5e300', '0.00000000000000000000000001'),
);
const deep = fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.constantFrom('[', '{"a":')).map(([depth, open]) => {
  const close = open === '[' ? ']' : '}';
  return `{"jsonrpc":"2.0","id":7,"method":"ping","params":${open.repeat(depth)}1${close.repeat(depth)}}`;
});

/** Request bodies as bytes, with what JSON value they hold when they parse (for the id echo check). */
const body: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 512 }).map((bytes) => Buffer.from(bytes)) },
  { weight: 2, arbitrary: fc.json({ maxDepth: 4 }).map((s) => Buffer.from(s)) },
  { weight: 4, arbitrary: message.map((m) => Buffer.from(JSON.stringify(m))) },
  { weight: 3, arbitrary: fc.array(message, { maxLength: 6 }).map((b) => Buffer.from(JSON.stringify(b))) },
  { weight: 1, arbitrary: hugeNumber.map((n) => Buffer.from(`{"jsonrpc":"2.0","id":${n},"method":"ping"}`)) },
  { weight: 1, arbitrary: deep.map((s) => Buffer.from(s)) },
  // Truncated and corrupted valid messages.
  { weight: 2, arbitrary: fc.tuple(message, fc.nat()).map(([m, cut]) => { const s = JSON.stringify(m); return Buffer.from(s.slice(0, cut % (s.length + 1))); }) },
  { weight: 1, arbitrary: fc.tuple(valid, fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([m, junk]) => Buffer.concat([Buffer.from(JSON.stringify(m)), Buffer.from(junk)])) },
  // Over maxMessageSize, as a valid message and as junk.
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 * maxMessageSize }).map((n) => Buffer.from(`{"jsonrpc":"2.0","method":"ping","params":{"pad":"${'x'.repeat(maxMessageSize + n)}"}}`)) },
);

const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/vnd.api+json') },
  { weight: 2, arbitrary: fc.constantFrom<string | undefined>(undefined, '', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', 'json') },
  { weight: 1, arbitrary: fc.stringMatching(/^[\x20-\x7e]{0,40}$/).map((s) => s.trim()) },
);

type QueryKind = 'valid' | 'absent' | 'empty' | 'garbage' | 'duplicate' | 'closed';
const query = fc.record({
  kind: fc.constantFrom<QueryKind>('valid', 'valid', 'valid', 'absent', 'empty', 'garbage', 'duplicate', 'closed'),
  garbage: fc.string({ unit: 'binary', maxLength: 40 }),
  extra: fc.option(fc.webQueryParameters(), { nil: undefined }),
});

const isId = (v: unknown): v is string | number => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));

/** The id the envelope must echo, when the body parses to a single object; `undefined` when it is not determined. */
function expectedId(bytes: Buffer, status: number): string | number | null | undefined {
  if (status === 413 || status === 415) return null;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return null;
  }
  if (Array.isArray(value)) return value.length === 0 ? null : undefined;
  if (typeof value !== 'object' || value === null) return null;
  const id = (value as Record<string, unknown>).id;
  return isId(id) ? id : null;
}

async function fuzzHarness(options: HarnessOptions = {}) {
  const errors: McpSseError[] = [];
  agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  // resumeWindowMs 0: a client that leaves takes its session along, so any leftover session is a leak.
  harness = await startHarness({ maxMessageSize, keepAliveMs: 0, resumeWindowMs: 0, onError: (e) => errors.push(e), ...options });
  stream = await openSse(harness.sseUrl);
  const liveId = sessionIdOf(stream.endpoint!);
  // A session that existed and closed: its id must be a clean 404.
  const gone = await openSse(harness.sseUrl);
  const closedId = sessionIdOf(gone.endpoint!);
  await harness.router.sessions.close(closedId);
  gone.destroy();
  return { errors, liveId, closedId, messagesUrl: new URL(stream.endpoint!, harness.baseUrl) };
}

function urlFor(base: URL, q: { kind: QueryKind; garbage: string; extra: string | undefined }, liveId: string, closedId: string): string {
  const url = new URL(base.pathname, base);
  const params = new URLSearchParams(q.extra ?? '');
  params.delete('sessionId');
  if (q.kind === 'valid') params.set('sessionId', liveId);
  if (q.kind === 'empty') params.set('sessionId', '');
  if (q.kind === 'garbage') params.set('sessionId', q.garbage);
  if (q.kind === 'closed') params.set('sessionId', closedId);
  if (q.kind === 'duplicate') {
    params.append('sessionId', liveId);
    params.append('sessionId', liveId);
  }
  url.search = params.toString();
  return url.href;
}

/** The fuzzed session still answers a well-formed request on its stream. */
async function expectSessionAnswers(messagesUrl: URL): Promise<void> {
  expect(stream!.closed).toBe(false);
  const res = await postJson(messagesUrl.href, { jsonrpc: '2.0', id: 'probe-after-fuzz', method: 'ping' });
  expect(res.status).toBe(202);
  expect(await responseFor(stream!, 'probe-after-fuzz')).toEqual({ jsonrpc: '2.0', id: 'probe-after-fuzz', result: {} });
}

async function serveRealClient(h: Harness): Promise<void> {
  const client = new Client({ name: 'after-fuzz', version: '1.0.0' });
  await client.connect(new SSEClientTransport(new URL(h.sseUrl)));
  try {
    const result = await client.callTool({ name: 'add', arguments: { a: 40, b: 2 } });
    expect((result.content as { text: string }[])[0]!.text).toBe('42');
  } finally {
    await client.close();
  }
}

describe('POST /messages under fuzzing', () => {
  it('answers 202 or a JSON-RPC error envelope with a table status, and keeps serving', async () => {
    const { errors, liveId, closedId, messagesUrl } = await fuzzHarness();
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(body, contentType, query, fc.boolean(), async (bytes, type, q, chunked) => {
        const url = urlFor(messagesUrl, q, liveId, closedId);
        const res = await post(url, bytes, { contentType: type, chunked, agent });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 202) {
          expect(res.text).toBe('Accepted');
          expect(q.kind).toBe('valid');
          return;
        }
        expect(allowedStatuses).toContain(res.status);
        expect(res.headers['content-type']).toMatch(/^application\/json/);
        const envelope = res.json();
        expect(isErrorEnvelope(envelope), res.text).toBe(true);
        if (!isErrorEnvelope(envelope)) return;
        expect(allowedReasons).toContain(envelope.error.data.reason);
        const id = expectedId(bytes, res.status);
        if (id !== undefined) expect(envelope.id).toEqual(id);
      }),
      { numRuns: 300 },
    );
    // Every status of the configuration's table showed up, plus the 202s.
    expect([...statuses.keys()].sort((a, b) => a - b)).toEqual([202, 400, 404, 413, 415]);
    expect(errors.filter((e) => e.code !== 'ERR_MCP_SSE_MESSAGE_HANDLER')).toEqual([]);
    // The fuzzed session is still alive and answering, no other session leaked.
    expect(harness!.router.sessions.size).toBe(1);
    await expectSessionAnswers(messagesUrl);
    await serveRealClient(harness!);
    await waitFor(() => harness!.router.sessions.size === 1, 5000, 'the real client session to close');
  });

  it('behind an app-level express.json(), parsed bodies get the same answers', async () => {
    const { errors, liveId, closedId, messagesUrl } = await fuzzHarness({ before: (app) => app.use(express.json({ limit: '1mb' })) });
    const jsonBody = fc.oneof(
      message.map((m) => Buffer.from(JSON.stringify(m))),
      fc.array(message, { maxLength: 6 }).map((b) => Buffer.from(JSON.stringify(b))),
      fc.json({ maxDepth: 3 }).filter((s) => /^[[{]/.test(s)).map((s) => Buffer.from(s)),
    );
    await fc.assert(
      fc.asyncProperty(jsonBody, query, async (bytes, q) => {
        const url = urlFor(messagesUrl, q, liveId, closedId);
        const res = await post(url, bytes, { contentType: 'application/json', agent });
        if (res.status === 202) {
          expect(q.kind).toBe('valid');
          return;
        }
        expect(allowedStatuses).toContain(res.status);
        const envelope = res.json();
        expect(isErrorEnvelope(envelope), res.text).toBe(true);
        const id = expectedId(bytes, res.status);
        if (id !== undefined) expect((envelope as { id: unknown }).id).toEqual(id);
      }),
      { numRuns: 150 },
    );
    expect(errors.filter((e) => e.code !== 'ERR_MCP_SSE_MESSAGE_HANDLER')).toEqual([]);
    expect(harness!.router.sessions.size).toBe(1);
    await expectSessionAnswers(messagesUrl);
    await serveRealClient(harness!);
    await waitFor(() => harness!.router.sessions.size === 1, 5000, 'the real client session to close');
  });
});
