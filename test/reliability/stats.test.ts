// sessions.stats(): every counter moves exactly as the traffic says, and nothing else moves.
import { afterEach, describe, expect, it } from 'vitest';
import { apiKeyStrategy, type SessionStats } from '../../lib/index.js';
import { sseSession, startHarness, waitFor, type Harness } from '../helpers/server.js';
import { openSse, post, postJson, responseFor, sessionIdOf, type RawStream } from '../helpers/sse.js';
import { openStalledStream } from './slow-consumer.js';

let harness: Harness | undefined;
const streams: RawStream[] = [];

afterEach(async () => {
  for (const stream of streams.splice(0)) stream.destroy();
  await harness?.close();
  harness = undefined;
});

const alice = { 'X-API-Key': 'key-alice-0123456789' };
const bob = { 'X-API-Key': 'key-bob-0123456789ab' };

describe('sessions.stats()', () => {
  it('counts sessions, messages, bytes, cuts, auth failures and rate limiting', async () => {
    harness = await startHarness({
      keepAliveMs: 0,
      maxBufferedBytes: 256 * 1024,
      auth: { strategies: [apiKeyStrategy({ keys: { 'key-alice-0123456789': 'alice', 'key-bob-0123456789ab': 'bob' } })] },
      rateLimit: { messages: { windowMs: 60_000, limit: 3 } },
    });
    const h = harness;
    const expected: SessionStats = {
      active: 0,
      detached: 0,
      byTransport: { sse: { active: 0, detached: 0 }, 'streamable-http': { active: 0, detached: 0 } },
      opened: 0,
      closed: 0,
      resumed: 0,
      messagesIn: 0,
      messagesOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      slowConsumerCuts: 0,
      authFailures: 0,
      rateLimited: 0,
      statelessRequests: 0,
      listening: 0,
    };
    /** Every stream's bytes as the clients received them: what bytesOut must add up to. */
    const received = () => streams.reduce((sum, s) => sum + s.bytes, 0);
    const check = async (changes: Partial<SessionStats>) => {
      Object.assign(expected, changes);
      // Every session here is an HTTP+SSE one.
      expected.byTransport = { sse: { active: expected.active, detached: expected.detached }, 'streamable-http': { active: 0, detached: 0 } };
      await waitFor(() => received() === h.router.sessions.stats().bytesOut, 5000, 'bytes to arrive');
      expect(h.router.sessions.stats()).toEqual({ ...expected, bytesOut: received() });
    };
    await check({});

    // Failed authentication, on both routes.
    expect((await openSse(h.sseUrl)).status).toBe(401);
    expect((await openSse(h.sseUrl, { headers: { 'X-API-Key': 'wrong' } })).status).toBe(401);
    expect((await postJson(`${h.baseUrl}/mcp/messages?sessionId=x`, { jsonrpc: '2.0', method: 'ping' })).status).toBe(401);
    await check({ authFailures: 3 });

    const a = await openSse(h.sseUrl, { headers: alice });
    streams.push(a);
    const url = new URL(a.endpoint!, h.baseUrl).href;
    await check({ opened: 1, active: 1 });

    // One request and a batch of two: three messages in, three responses out.
    const one = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
    const batch = JSON.stringify([
      { jsonrpc: '2.0', id: 2, method: 'ping' },
      { jsonrpc: '2.0', id: 3, method: 'ping' },
    ]);
    expect((await post(url, one, { headers: alice })).status).toBe(202);
    expect((await post(url, batch, { headers: alice })).status).toBe(202);
    for (const id of [1, 2, 3]) await responseFor(a, id);
    await check({ messagesIn: 3, bytesIn: Buffer.byteLength(one) + Buffer.byteLength(batch), messagesOut: 3 });

    // Refused bodies count nothing (this one also uses up alice's rate limit of 3).
    expect((await post(url, '{not json', { headers: alice })).status).toBe(400);
    await check({});

    // Server-side sends: notifications count as messages; custom events and pings only as bytes.
    const transport = sseSession(h.router, sessionIdOf(a.endpoint!));
    await transport.sendNotification('notifications/test', { n: 1 });
    await transport.sendEvent({ event: 'custom', data: 'x' });
    expect(transport.ping()).toBe(true);
    await a.until((events) => events.some((e) => e.event === 'custom'));
    await check({ messagesOut: 4 });

    // A second principal; a broadcast reaches both sessions.
    const b = await openSse(h.sseUrl, { headers: bob });
    streams.push(b);
    expect(h.router.sessions.broadcast({ method: 'notifications/resources/list_changed' })).toBe(2);
    await check({ opened: 2, active: 2, messagesOut: 6 });

    // Rate limiting: alice spent her 3 POSTs; the next two are refused with 429.
    for (let i = 0; i < 2; i++) expect((await post(url, one, { headers: alice })).status).toBe(429);
    await check({ rateLimited: 2 });

    // Bob posting into alice's session is refused (403) without counting messages.
    expect((await post(url, one, { headers: bob })).status).toBe(403);
    await check({});

    // Detach and resume.
    const lastSeen = a.events.at(-1)!.id!;
    a.destroy();
    await waitFor(() => h.router.sessions.stats().detached === 1, 5000, 'detach');
    await check({ active: 1, detached: 1 });
    const resumed = await openSse(h.sseUrl, { headers: alice, lastEventId: lastSeen });
    streams.push(resumed);
    await check({ active: 2, detached: 0, resumed: 1 });

    // Closing a session.
    expect(await h.router.sessions.close(sessionIdOf(b.endpoint!))).toBe(true);
    await check({ active: 1, closed: 1 });

    // A stalled reader gets cut once.
    const stalled = await openStalledStream(h.sseUrl, bob);
    try {
      const slow = h.router.sessions.get(stalled.sessionId)!;
      const pad = 'x'.repeat(64 * 1024);
      for (let i = 0; i < 1000 && h.router.sessions.stats().slowConsumerCuts === 0; i++) {
        await slow.sendNotification('notifications/blob', { pad });
        if (i % 8 === 7) await new Promise((resolve) => setImmediate(resolve));
      }
      await waitFor(() => h.router.sessions.stats().detached === 1, 5000, 'the cut stream to detach');
      const stats = h.router.sessions.stats();
      expect(stats).toMatchObject({ slowConsumerCuts: 1, opened: 3, active: 1, detached: 1, closed: 1 });
      expect(stats.messagesOut).toBeGreaterThan(expected.messagesOut + 4);
      expect(stats.bytesOut).toBeGreaterThan(received() + 256 * 1024);
    } finally {
      stalled.socket.destroy();
    }
  });
});
