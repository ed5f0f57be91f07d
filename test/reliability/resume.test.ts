// Resumable streams: a real EventSource reconnects after a cut TCP connection and misses nothing; edge cases of resume.
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EventSource } from 'eventsource';
import fc from 'fast-check';
import { apiKeyStrategy, type McpSseError, type SessionContext } from '../../lib/index.js';
import { countingServer, startHarness, waitFor, type Harness, type HarnessOptions, type ServerCounts } from '../helpers/server.js';
import { handshake, isErrorEnvelope, killableFetch, messageOf, openSse, postJson, sessionIdOf, type RawStream } from '../helpers/sse.js';

let harness: Harness | undefined;
const cleanups: (() => void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  await harness?.close();
  harness = undefined;
});

function track<T extends { destroy(): void } | { close(): void }>(thing: T): T {
  cleanups.push(() => ('destroy' in thing ? thing.destroy() : thing.close()));
  return thing;
}

/** A harness that records onError and counts each session server's close() and onclose. */
async function start(options: HarnessOptions = {}) {
  const errors: { error: McpSseError; sessionId: string | undefined }[] = [];
  const servers = new Map<string, ServerCounts>();
  harness = await startHarness({
    keepAliveMs: 0,
    retryMs: 20,
    onError: (error, context) => errors.push({ error, sessionId: context.sessionId }),
    createServer: (session: SessionContext) => {
      return countingServer(session, servers);
    },
    ...options,
  });
  return { harness, errors, servers };
}

const numbered = (messages: Record<string, unknown>[]) =>
  messages.filter((m) => m.method === 'notifications/test').map((m) => (m.params as { n: number }).n);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Sends `notifications/test` with n = 1..count from the server, a few per tick, like a busy server would. */
function pump(h: Harness, sessionId: string, count: number, afterSend?: (n: number) => void): { readonly sent: number; done: Promise<void> } {
  const transport = h.router.sessions.get(sessionId)!;
  const state = { sent: 0, done: Promise.resolve() };
  state.done = new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      try {
        for (let i = 0; i < 3 && state.sent < count; i++) {
          void transport.sendNotification('notifications/test', { n: ++state.sent });
          afterSend?.(state.sent);
        }
      } catch (error) {
        clearInterval(timer);
        reject(error as Error);
      }
      if (state.sent >= count) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
    cleanups.push(() => clearInterval(timer));
  });
  return state;
}

/** Tracks `es`, records its endpoint and message events, and waits for the first endpoint event. */
async function listen(es: EventSource) {
  track(es);
  const endpoints: string[] = [];
  const messages: Record<string, unknown>[] = [];
  es.addEventListener('endpoint', (e) => endpoints.push(e.data));
  es.addEventListener('message', (e) => messages.push(JSON.parse(e.data) as Record<string, unknown>));
  await waitFor(() => endpoints.length === 1, 5000, 'endpoint event');
  return { es, endpoints, messages };
}

describe('a real EventSource resumes after the connection is cut', () => {
  it('client-side TCP cuts: every message exactly once and in order, same session', async () => {
    const { harness: h, servers } = await start({ replayBufferSize: 2000 });
    const killable = killableFetch();
    const { endpoints, messages } = await listen(new EventSource(h.sseUrl, { fetch: killable.fetch }));
    const sessionId = sessionIdOf(endpoints[0]!);
    const postUrl = new URL(endpoints[0]!, h.baseUrl).href;

    // The MCP handshake, by hand, over the EventSource's stream.
    expect(
      (
        await postJson(postUrl, {
          jsonrpc: '2.0',
          id: 'init',
          method: 'initialize',
          params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'es', version: '1' } },
        })
      ).status,
    ).toBe(202);
    await waitFor(() => messages.some((m) => m.id === 'init'), 5000, 'initialize result');
    expect((await postJson(postUrl, { jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);

    // The connection is cut right after the server wrote a notification, in the same tick: the frames written
    // just before are still in flight (unread by the client) and must come back through the replay buffer.
    const total = 600;
    const cutAt = [100, 300, 450];
    const inFlightAtCut: number[] = [];
    const pumping = pump(h, sessionId, total, (n) => {
      // A cut waits for the stream to be back if the previous one has not reconnected yet.
      if (inFlightAtCut.length < cutAt.length && n >= cutAt[inFlightAtCut.length]! && killable.cut() === 1) {
        inFlightAtCut.push(n - numbered(messages).length);
      }
    });
    await pumping.done;
    await waitFor(() => numbered(messages).length >= total, 10_000, 'all notifications');
    await waitFor(() => h.router.sessions.stats().resumed === 3, 5000, 'three resumes');
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(numbered(messages)).toEqual(range(1, total));
    // At every cut at least the notification just written was still unread by the client.
    expect(inFlightAtCut).toHaveLength(3);
    for (const inFlight of inFlightAtCut) expect(inFlight).toBeGreaterThanOrEqual(1);
    // One endpoint event per connection, always the same session.
    expect(endpoints).toHaveLength(4);
    expect(new Set(endpoints.map(sessionIdOf))).toEqual(new Set([sessionId]));
    // EventSource sent Last-Event-ID on each reconnect, and only then.
    expect(killable.requests.map((r) => r['last-event-id'] !== undefined)).toEqual([false, true, true, true]);
    const stats = h.router.sessions.stats();
    expect(stats).toMatchObject({ resumed: 3, opened: 1, closed: 0, active: 1, detached: 0 });
    expect(h.router.sessions.size).toBe(1);
    expect(servers.get(sessionId)).toEqual({ close: 0, onclose: 0 });
    // The session still answers requests after all that.
    expect((await postJson(postUrl, { jsonrpc: '2.0', id: 'after', method: 'tools/list' })).status).toBe(202);
    await waitFor(() => messages.some((m) => m.id === 'after'), 5000, 'tools/list result');
  });

  it('server-side TCP cuts: the client reconnects and misses nothing', async () => {
    const streamSockets: Socket[] = [];
    const { harness: h } = await start({
      replayBufferSize: 1000,
      before: (app) =>
        app.use((req, _res, next) => {
          if (req.method === 'GET' && req.path.endsWith('/sse')) streamSockets.push(req.socket);
          next();
        }),
    });
    const { endpoints, messages } = await listen(new EventSource(h.sseUrl));
    const sessionId = sessionIdOf(endpoints[0]!);
    const pumping = pump(h, sessionId, 300);
    await waitFor(() => numbered(messages).length >= 100, 10_000, '100 notifications');
    streamSockets.at(-1)!.destroy();
    await pumping.done;
    await waitFor(() => numbered(messages).length >= 300, 10_000, 'all notifications');
    expect(numbered(messages)).toEqual(range(1, 300));
    expect(endpoints.map(sessionIdOf)).toEqual([sessionId, sessionId]);
    expect(h.router.sessions.stats()).toMatchObject({ resumed: 1, opened: 1, active: 1 });
  });
});

describe('resuming by hand, as a browser would', () => {
  it('a GET with Last-Event-ID gets the same endpoint event first, then exactly the missed events, then live ones', async () => {
    const { harness: h } = await start();
    const first = track(await openSse(h.sseUrl));
    const postUrl = new URL(first.endpoint!, h.baseUrl).href;
    const sessionId = sessionIdOf(first.endpoint!);
    await handshake(first, postUrl);
    const transport = h.router.sessions.get(sessionId)!;
    for (let n = 1; n <= 5; n++) await transport.sendNotification('notifications/test', { n });
    await first.until((events) => events.filter((e) => e.event === 'message' && e.data.includes('notifications/test')).length === 5);
    const lastSeen = first.events.at(-1)!.id!;

    first.destroy();
    await waitFor(() => h.router.sessions.stats().detached === 1, 5000, 'detach');
    // While detached: server messages are buffered, and a POSTed request is processed; its reply waits too.
    for (let n = 6; n <= 10; n++) await transport.sendNotification('notifications/test', { n });
    const posted = await postJson(postUrl, {
      jsonrpc: '2.0',
      id: 'while-detached',
      method: 'tools/call',
      params: { name: 'echo', arguments: { text: 'kept' } },
    });
    expect(posted.status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 30));

    const second = track(await openSse(h.sseUrl, { lastEventId: lastSeen }));
    expect(second.status).toBe(200);
    expect(second.retries).toEqual([20]);
    // The endpoint event comes first, with the same URL and the id the client already had.
    expect(second.events[0]).toEqual({ event: 'endpoint', id: lastSeen, data: first.endpoint });
    await second.until((events) => events.some((e) => e.data.includes('while-detached')), 5000, 'replayed reply');
    const replayed = second.events.slice(1).map(messageOf);
    expect(numbered(replayed)).toEqual([6, 7, 8, 9, 10]);
    expect(replayed.at(-1)).toEqual({ jsonrpc: '2.0', id: 'while-detached', result: { content: [{ type: 'text', text: 'kept' }] } });
    expect(replayed).toHaveLength(6);
    // Ids keep counting from where the first stream stopped.
    const seq = (id: string) => Number(id.split('.').at(-1));
    expect(second.events.slice(1).map((e) => seq(e.id!))).toEqual(range(seq(lastSeen) + 1, seq(lastSeen) + 6));

    await transport.sendNotification('notifications/test', { n: 11 });
    await second.until((events) => numbered(events.slice(1).map(messageOf)).includes(11), 5000, 'live event');
    expect(numbered(second.events.slice(1).map(messageOf))).toEqual([6, 7, 8, 9, 10, 11]);
    expect(h.router.sessions.stats()).toMatchObject({ resumed: 1, active: 1, detached: 0 });
  });
});

describe('resume edge cases', () => {
  it('resuming a stream that is still attached is refused with 409, and the live stream is untouched', async () => {
    const { harness: h } = await start();
    const live = track(await openSse(h.sseUrl));
    const refused = await openSse(h.sseUrl, { lastEventId: live.events.at(-1)!.id! });
    expect(refused.status).toBe(409);
    const body = JSON.parse(refused.text) as unknown;
    expect(isErrorEnvelope(body)).toBe(true);
    expect(body).toMatchObject({ id: null, error: { data: { reason: 'stream_attached' } } });
    const transport = h.router.sessions.get(sessionIdOf(live.endpoint!))!;
    await transport.sendNotification('notifications/test', { n: 1 });
    await live.until((events) => events.length === 2, 5000, 'event on the live stream');
    expect(h.router.sessions.size).toBe(1);
  });

  it('two resumes racing with the same Last-Event-ID: exactly one attaches, the other gets 409', async () => {
    const { harness: h } = await start();
    const first = await openSse(h.sseUrl);
    const lastSeen = first.events.at(-1)!.id!;
    first.destroy();
    await waitFor(() => h.router.sessions.stats().detached === 1, 5000, 'detach');
    const [a, b] = await Promise.all([openSse(h.sseUrl, { lastEventId: lastSeen }), openSse(h.sseUrl, { lastEventId: lastSeen })]);
    track(a);
    track(b);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const winner = a.status === 200 ? a : b;
    expect(winner.endpoint).toBe(first.endpoint);
    expect(h.router.sessions.stats()).toMatchObject({ resumed: 1, active: 1, detached: 0, opened: 1 });
  });

  it('a resume while the router drains gets 503 and the detached session closes', async () => {
    const { harness: h, servers } = await start();
    const first = await openSse(h.sseUrl);
    const sessionId = sessionIdOf(first.endpoint!);
    const lastSeen = first.events.at(-1)!.id!;
    first.destroy();
    await waitFor(() => h.router.sessions.stats().detached === 1, 5000, 'detach');
    await h.router.close({ timeoutMs: 2000 });
    const late = await openSse(h.sseUrl, { lastEventId: lastSeen });
    expect(late.status).toBe(503);
    expect(late.headers['retry-after']).toBeDefined();
    expect(h.router.sessions.size).toBe(0);
    expect(servers.get(sessionId)).toEqual({ close: 1, onclose: 1 });
  });

  it('resuming right after the endpoint event (nothing sent yet) replays nothing and keeps the session', async () => {
    const { harness: h } = await start();
    const first = await openSse(h.sseUrl);
    const onlyId = first.events[0]!.id!;
    expect(first.events.map((e) => e.event)).toEqual(['endpoint']);
    first.destroy();
    await waitFor(() => h.router.sessions.stats().detached === 1, 5000, 'detach');
    const again = track(await openSse(h.sseUrl, { lastEventId: onlyId }));
    expect(again.events).toEqual([{ event: 'endpoint', id: onlyId, data: first.endpoint }]);
    const transport = h.router.sessions.get(sessionIdOf(first.endpoint!))!;
    await transport.sendNotification('notifications/test', { n: 1 });
    await again.until((events) => events.length === 2);
    expect(numbered([messageOf(again.events[1]!)])).toEqual([1]);
  });

  it('the initialize answer is replayed until the client says it is initialized, then it leaves the buffer', async () => {
    const { harness: h, errors } = await start();
    const first = await openSse(h.sseUrl);
    const endpointId = first.events[0]!.id!;
    const postUrl = new URL(first.endpoint!, h.baseUrl).href;
    const sessionId = sessionIdOf(first.endpoint!);
    const init = {
      jsonrpc: '2.0',
      id: 'init',
      method: 'initialize',
      params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    };
    expect((await postJson(postUrl, init)).status).toBe(202);
    await first.until((events) => events.some((e) => e.data.includes('"init"')), 5000, 'initialize answer');
    const answerId = first.events.at(-1)!.id!;

    // Not yet acknowledged: a client that lost the answer gets it again.
    first.destroy();
    await waitFor(() => h.router.sessions.stats().detached === 1, 5000, 'detach');
    const second = await openSse(h.sseUrl, { lastEventId: endpointId });
    await second.until((events) => events.some((e) => e.data.includes('"init"')), 5000, 'replayed answer');
    expect(second.events.map((e) => e.id)).toEqual([endpointId, answerId]);

    // notifications/initialized proves the client has it: a resume from the answer on replays what came after only.
    expect((await postJson(postUrl, { jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);
    const transport = h.router.sessions.get(sessionId)!;
    await transport.sendNotification('notifications/test', { n: 1 });
    await second.until((events) => events.length === 3);
    second.destroy();
    await waitFor(() => h.router.sessions.stats().detached === 1, 5000, 'detach');
    const third = track(await openSse(h.sseUrl, { lastEventId: answerId }));
    await third.until((events) => events.length === 2);
    expect(sessionIdOf(third.endpoint!)).toBe(sessionId);
    expect(numbered([messageOf(third.events[1]!)])).toEqual([1]);
    expect(errors).toEqual([]);

    // A resume from before the answer can no longer be served from this session: a gap, as for any lost event.
    third.destroy();
    await waitFor(() => h.router.sessions.stats().detached === 1, 5000, 'detach');
    const fourth = track(await openSse(h.sseUrl, { lastEventId: endpointId }));
    expect(sessionIdOf(fourth.endpoint!)).not.toBe(sessionId);
    expect(errors.map((e) => [e.error.code, e.sessionId])).toEqual([['ERR_MCP_SSE_RESUME_GAP', sessionId]]);
  });

  it("resuming another principal's session is refused with 403; the owner still resumes", async () => {
    const { harness: h } = await start({
      auth: { strategies: [apiKeyStrategy({ keys: { 'key-alice-0123456789': 'alice', 'key-bob-0123456789ab': 'bob' } })] },
    });
    const alice = { 'X-API-Key': 'key-alice-0123456789' };
    const first = await openSse(h.sseUrl, { headers: alice });
    const lastSeen = first.events.at(-1)!.id!;
    first.destroy();
    await waitFor(() => h.router.sessions.stats().detached === 1, 5000, 'detach');

    const bob = await openSse(h.sseUrl, { headers: { 'X-API-Key': 'key-bob-0123456789ab' }, lastEventId: lastSeen });
    expect(bob.status).toBe(403);
    expect(JSON.parse(bob.text)).toMatchObject({ jsonrpc: '2.0', id: null, error: { data: { reason: 'forbidden_session' } } });
    const anonymous = await openSse(h.sseUrl, { lastEventId: lastSeen });
    expect(anonymous.status).toBe(401);

    const again = track(await openSse(h.sseUrl, { headers: alice, lastEventId: lastSeen }));
    expect(again.status).toBe(200);
    expect(again.endpoint).toBe(first.endpoint);
    expect(h.router.sessions.stats()).toMatchObject({ resumed: 1, opened: 1, active: 1 });
  });

  it('an unknown, garbage or expired Last-Event-ID opens a fresh session and reports a resume gap', async () => {
    const { harness: h, errors, servers } = await start({ resumeWindowMs: 200 });
    const old = await openSse(h.sseUrl);
    const oldId = sessionIdOf(old.endpoint!);
    const oldLast = old.events.at(-1)!.id!;
    old.destroy();
    // Past the window the old session is gone; its id is now "expired".
    await waitFor(() => h.router.sessions.size === 0, 5000, 'expiry');
    expect(servers.get(oldId)).toEqual({ close: 1, onclose: 1 });

    const ids = [oldLast, 'garbage', 'no-dot-here', 'AAAAAAAAAAAAAAAAAAAAAA.1', `${oldLast.split('.')[0]}.-1`, '.5', 'x.1e3', '\u00e9t\u00e9.2'];
    const fresh = new Set<string>();
    for (const lastEventId of ids) {
      const stream = track(await openSse(h.sseUrl, { lastEventId }));
      expect(stream.status).toBe(200);
      const sessionId = sessionIdOf(stream.endpoint!);
      expect(sessionId).not.toBe(oldId);
      fresh.add(sessionId);
    }
    expect(fresh.size).toBe(ids.length);
    const gaps = errors.filter((e) => e.error.code === 'ERR_MCP_SSE_RESUME_GAP');
    expect(gaps).toHaveLength(ids.length);
    expect(errors).toHaveLength(ids.length);
    expect(h.router.sessions.stats()).toMatchObject({ resumed: 0, active: ids.length });
  });

  it('a Last-Event-ID older than the replay buffer opens a fresh session, reports the gap and closes the old one', async () => {
    const { harness: h, errors, servers } = await start({ replayBufferSize: 4 });
    const first = await openSse(h.sseUrl);
    const oldId = sessionIdOf(first.endpoint!);
    const transport = h.router.sessions.get(oldId)!;
    await transport.sendNotification('notifications/test', { n: 1 });
    await first.until((events) => events.length === 2);
    const stale = first.events.at(-1)!.id!;
    first.destroy();
    await waitFor(() => h.router.sessions.stats().detached === 1, 5000, 'detach');
    for (let n = 2; n <= 10; n++) await transport.sendNotification('notifications/test', { n });

    const second = track(await openSse(h.sseUrl, { lastEventId: stale }));
    expect(second.status).toBe(200);
    const newId = sessionIdOf(second.endpoint!);
    expect(newId).not.toBe(oldId);
    // The fresh stream starts clean: no replayed events from the old session.
    expect(second.events.map((e) => e.event)).toEqual(['endpoint']);
    expect(errors.map((e) => [e.error.code, e.sessionId])).toEqual([['ERR_MCP_SSE_RESUME_GAP', oldId]]);
    await waitFor(() => h.router.sessions.get(oldId) === undefined, 5000, 'old session closed');
    expect(servers.get(oldId)).toEqual({ close: 1, onclose: 1 });
    expect(h.router.sessions.size).toBe(1);

    // A Last-Event-ID from the future is no better.
    const future = `${stale.split('.')[0]}.999`;
    const third = track(await openSse(h.sseUrl, { lastEventId: future }));
    expect(sessionIdOf(third.endpoint!)).not.toBe(newId);
  });

  it('past resumeWindowMs the session closes: onclose once, registry entry gone, POSTs get 404', async () => {
    const { harness: h, servers } = await start({ resumeWindowMs: 200 });
    const stream = await openSse(h.sseUrl);
    const sessionId = sessionIdOf(stream.endpoint!);
    const postUrl = new URL(stream.endpoint!, h.baseUrl).href;
    await handshake(stream, postUrl);
    stream.destroy();
    await waitFor(() => h.router.sessions.stats().detached === 1, 5000, 'detach');
    const detachedAt = Date.now();
    // Inside the window, POSTs are accepted.
    expect((await postJson(postUrl, { jsonrpc: '2.0', id: 1, method: 'ping' })).status).toBe(202);
    await waitFor(() => h.router.sessions.size === 0, 5000, 'expiry');
    expect(Date.now() - detachedAt).toBeGreaterThanOrEqual(150);
    expect(servers.get(sessionId)).toEqual({ close: 1, onclose: 1 });
    expect(h.router.sessions.get(sessionId)).toBeUndefined();
    expect(h.router.sessions.stats()).toMatchObject({ active: 0, detached: 0, opened: 1, closed: 1 });
    const late = await postJson(postUrl, { jsonrpc: '2.0', id: 2, method: 'ping' });
    expect(late.status).toBe(404);
    expect(late.json()).toMatchObject({ id: 2, error: { data: { reason: 'session_not_found' } } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(servers.get(sessionId)).toEqual({ close: 1, onclose: 1 });
  });
});

describe('Last-Event-ID fuzzing', () => {
  it('any Last-Event-ID resumes exactly when it names a buffered event, else opens a fresh session and reports a gap', async () => {
    const { harness: h, errors } = await start({ replayBufferSize: 8 });
    /** A detached session that sent n = 1..20; its buffer holds the events after seq 12. */
    const target = { sessionId: '', key: '' };
    const makeTarget = async () => {
      const stream = await openSse(h.sseUrl);
      target.sessionId = sessionIdOf(stream.endpoint!);
      const transport = h.router.sessions.get(target.sessionId)!;
      target.key = transport.streamKey;
      for (let n = 1; n <= 20; n++) await transport.sendNotification('notifications/test', { n });
      await stream.until((events) => events.length === 21);
      stream.destroy();
      await waitFor(() => h.router.sessions.stats().active === 0, 5000, 'detach');
    };

    const headerSafe = fc
      .string({ unit: fc.constantFrom(...'abcXYZ019.-_ :/+=%\u00e9\t'.split('')), minLength: 1, maxLength: 40 })
      .filter((s) => s.trim() === s && s !== '');
    const seq = fc.oneof(fc.nat({ max: 30 }).map(String), fc.constantFrom('-1', '1e3', '0x10', '1.5', '9007199254740993', '', '00012', '+13', 'x'));
    const input = fc.oneof(
      fc.record({ kind: fc.constant('target' as const), seq }),
      fc.record({ kind: fc.constant('other' as const), id: headerSafe }),
      fc.record({ kind: fc.constant('other-key' as const), id: fc.tuple(headerSafe, seq).map(([k, n]) => `${k}.${n}`) }),
    );
    /** The outcome the DESIGN promises: resume iff the id names this session and everything after it is buffered. */
    const expectedResumeAfter = (id: string): number | undefined => {
      const dot = id.lastIndexOf('.');
      if (dot <= 0 || id.slice(0, dot) !== target.key) return undefined;
      // Only the decimal form the server writes names an event ('0x10', '1e1', '+13', '00012', '' do not).
      const digits = id.slice(dot + 1);
      const n = Number(digits);
      return /^\d+$/.test(digits) && String(n) === digits && n >= 12 && n <= 20 ? n : undefined;
    };
    const outcomes = { resumed: 0, fresh: 0 };
    await makeTarget();
    await fc.assert(
      fc.asyncProperty(input, async (run) => {
        if (h.router.sessions.get(target.sessionId) === undefined) await makeTarget();
        const id = run.kind === 'target' ? `${target.key}.${run.seq}` : run.id;
        const errorsBefore = errors.length;
        const stream = await openSse(h.sseUrl, { lastEventId: id });
        try {
          expect(stream.status).toBe(200);
          const after = expectedResumeAfter(id);
          if (after !== undefined) {
            outcomes.resumed++;
            expect(sessionIdOf(stream.endpoint!)).toBe(target.sessionId);
            expect(stream.events[0]!.id).toBe(id);
            await stream.until((events) => events.length === 1 + 20 - after, 5000, 'replay');
            expect(numbered(stream.events.slice(1).map(messageOf))).toEqual(range(after + 1, 20));
            expect(errors.length).toBe(errorsBefore);
          } else {
            outcomes.fresh++;
            expect(sessionIdOf(stream.endpoint!)).not.toBe(target.sessionId);
            expect(stream.events.map((e) => e.event)).toEqual(['endpoint']);
            expect(errors.slice(errorsBefore).map((e) => e.error.code)).toEqual(['ERR_MCP_SSE_RESUME_GAP']);
          }
        } finally {
          stream.destroy();
          await waitFor(() => h.router.sessions.stats().active === 0, 5000, 'the stream to drop');
        }
      }),
      // fast-check's integers lean small, so a run may draw no resumable id at all: these two always run first.
      { numRuns: 120, examples: [[{ kind: 'target', seq: '15' }], [{ kind: 'other', id: 'not-an-event-id' }]] },
    );
    expect(outcomes.resumed).toBeGreaterThan(0);
    expect(outcomes.fresh).toBeGreaterThan(0);
  });
});

describe('event ids', () => {
  it('neither contain nor derive from the session id, and carry at least 128 random bits', async () => {
    const { harness: h } = await start();
    const streams: RawStream[] = [];
    for (let i = 0; i < 20; i++) streams.push(track(await openSse(h.sseUrl)));
    const prefixes = new Set<string>();
    for (const stream of streams) {
      const sessionId = sessionIdOf(stream.endpoint!);
      const transport = h.router.sessions.get(sessionId)!;
      await transport.sendNotification('notifications/test', { n: 1 });
      await stream.until((events) => events.length === 2);
      for (const { id } of stream.events) {
        const [prefix, seq] = [id!.slice(0, id!.lastIndexOf('.')), id!.slice(id!.lastIndexOf('.') + 1)];
        expect(seq).toMatch(/^\d+$/);
        expect(prefix).toBe(transport.streamKey);
        // ≥ 128 bits: 22+ base64url characters (6 bits each).
        expect(prefix).toMatch(/^[A-Za-z0-9_-]{22,}$/);
        const compact = sessionId.replace(/-/g, '');
        for (const [a, b] of [
          [id!, sessionId],
          [sessionId, prefix],
          [id!, compact],
          [Buffer.from(prefix, 'base64url').toString('hex'), compact],
        ] as const) {
          expect(a.includes(b)).toBe(false);
          expect(b.includes(a)).toBe(false);
        }
        // Not even an 8-character run of the session id shows up in the prefix.
        for (let i = 0; i + 8 <= compact.length; i++) expect(prefix.toLowerCase()).not.toContain(compact.slice(i, i + 8));
      }
      prefixes.add(transport.streamKey);
    }
    expect(prefixes.size).toBe(streams.length);
  });
});
