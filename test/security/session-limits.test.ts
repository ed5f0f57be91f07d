// maxSessionsPerUser (429) and maxSessions (503): caps per principal and per instance, and eviction of a
// principal's own dead stream.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { apiKeyStrategy } from '../../lib/index.js';
import { buildServerV1 } from '../helpers/server.js';
import { cleanup, connectClient, expectStreamRefused, harnessWith, openStream, whoami } from '../auth/helpers.js';

afterEach(cleanup);

const keys = { 'sk-test-alice-000000000000': 'alice', 'sk-test-bob-11111111111111': 'bob' };
const alice = { 'X-API-Key': 'sk-test-alice-000000000000' };
const bob = { 'X-API-Key': 'sk-test-bob-11111111111111' };
const auth = { strategies: [apiKeyStrategy({ keys })] };

describe('maxSessionsPerUser', () => {
  it('refuses a principal over the cap with 429 and a clear message; other principals are unaffected', async () => {
    const createServer = vi.fn(buildServerV1);
    const harness = await harnessWith({ auth, maxSessionsPerUser: 2, createServer });
    expect((await openStream(harness.sseUrl, alice)).status).toBe(200);
    expect((await openStream(harness.sseUrl, alice)).status).toBe(200);
    const third = await openStream(harness.sseUrl, alice);
    const body = expectStreamRefused(third, 429, 'too_many_sessions');
    expect(body.error.message).toMatch(/maxSessionsPerUser is 2/);
    expect(createServer).toHaveBeenCalledTimes(2);

    const client = await connectClient(harness.sseUrl, bob);
    expect((await whoami(client)).clientId).toBe('bob');
    expect(harness.router.sessions.size).toBe(3);
  });

  it("evicts the principal's own detached session first when resumeWindowMs > 0", async () => {
    const harness = await harnessWith({ auth, maxSessionsPerUser: 1, resumeWindowMs: 30_000 });
    const first = await openStream(harness.sseUrl, alice);
    expect(first.status).toBe(200);
    const other = await openStream(harness.sseUrl, bob);
    expect(other.status).toBe(200);
    first.close();
    await expect.poll(() => harness.router.sessions.stats().detached).toBe(1);

    // Bob's live session is not a candidate; Alice's own dead stream makes room for her.
    const second = await openStream(harness.sseUrl, alice);
    expect(second.status).toBe(200);
    expect(second.sessionId).not.toBe(first.sessionId);
    expect(harness.router.sessions.get(first.sessionId)).toBeUndefined();
    expect(harness.router.sessions.get(other.sessionId)).toBeDefined();
    expect(harness.router.sessions.stats()).toMatchObject({ active: 2, detached: 0 });

    // A live session is never evicted: a third stream of Alice is refused.
    expectStreamRefused(await openStream(harness.sseUrl, alice), 429, 'too_many_sessions');
  });

  it('lets a real SDK client reconnect after dropping its stream', async () => {
    const harness = await harnessWith({ auth, maxSessionsPerUser: 1 });
    const first = await connectClient(harness.sseUrl, alice);
    await first.close();
    await expect.poll(() => harness.router.sessions.stats().detached).toBe(1);
    const second = await connectClient(harness.sseUrl, alice);
    expect((await whoami(second)).clientId).toBe('alice');
    expect(harness.router.sessions.size).toBe(1);
  });
});

describe('maxSessions', () => {
  it('answers 503 with Retry-After once the instance is full, for any principal', async () => {
    const createServer = vi.fn(buildServerV1);
    const harness = await harnessWith({ auth, maxSessions: 1, createServer });
    expect((await openStream(harness.sseUrl, alice)).status).toBe(200);
    for (const who of [alice, bob]) {
      const refused = await openStream(harness.sseUrl, who);
      expectStreamRefused(refused, 503, 'server_full');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    expect(createServer).toHaveBeenCalledTimes(1);
    expect(harness.router.sessions.size).toBe(1);
  });

  it('frees the slot of a detached session for a newcomer', async () => {
    const harness = await harnessWith({ maxSessions: 1 });
    const first = await openStream(harness.sseUrl);
    first.close();
    await expect.poll(() => harness.router.sessions.stats().detached).toBe(1);
    expect((await openStream(harness.sseUrl)).status).toBe(200);
    expect(harness.router.sessions.size).toBe(1);
  });
});
