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
import { expectedId, fuzzBody, fuzzContentType, fuzzMessage } from '../helpers/fuzz.js';

const maxMessageSize = 16 * 1024;
/** Statuses of the DESIGN error table this configuration can produce (no auth, no rate limit, no caps). */
const allowedStatuses = new Set([400, 404, 413, 415]);
/** Reasons those statuses carry. */
const allowedReasons = new Set([
  'missing_session_id',
  'parse_error',
  'invalid_request',
  'nesting_too_deep',
  'batch_too_large',
  'session_not_found',
  'message_too_large',
  'unsupported_media_type',
]);

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

const body = fuzzBody(maxMessageSize);
const contentType = fuzzContentType;
const message = fuzzMessage;

type QueryKind = 'valid' | 'absent' | 'empty' | 'garbage' | 'duplicate' | 'closed';
const query = fc.record({
  kind: fc.constantFrom<QueryKind>('valid', 'valid', 'valid', 'absent', 'empty', 'garbage', 'duplicate', 'closed'),
  garbage: fc.string({ unit: 'binary', maxLength: 40 }),
  extra: fc.option(fc.webQueryParameters(), { nil: undefined }),
});

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
      fc
        .json({ maxDepth: 3 })
        .filter((s) => /^[[{]/.test(s))
        .map((s) => Buffer.from(s)),
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
