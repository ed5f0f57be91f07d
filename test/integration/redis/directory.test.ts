// SessionDirectory (lib/redis/directory.ts) against a real redis-server: entries with a TTL, lookups, refresh,
// the grace window after an outage, and clean-up on close.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/server.js';
import { type Parts, redisPerFile, startParts, until } from './parts.js';

const redis = redisPerFile();
const { open } = redis;

async function pair(directoryTtlMs = 3000): Promise<{ a: Parts; b: Parts; prefix: string }> {
  const prefix = `dir-${randomUUID().slice(0, 8)}`;
  const a = await startParts(redis.url, { prefix, instanceId: 'A', directoryTtlMs });
  const b = await startParts(redis.url, { prefix, instanceId: 'B', directoryTtlMs });
  open.push(a, b);
  return { a, b, prefix };
}

describe('SessionDirectory', () => {
  it('registers a session with its principal and TTL, finds it from another instance, and deletes it when it closes', async () => {
    const { a, b, prefix } = await pair();
    a.directory.opened({ sessionId: 's1', principalId: 'apikey:alice' });
    await waitFor(() => a.directory.size === 1, 1000, 'the entry');
    const key = `${prefix}:session:s1`;
    await until(async () => (await redis.admin.exists(key)) === 1, 3000, 'the entry');
    expect(await redis.admin.pttl(key)).toBeGreaterThan(2000);
    expect(await b.directory.lookup('s1')).toEqual({ instanceId: 'A', principalId: 'apikey:alice', envelopes: true });
    expect(await b.directory.lookup('nope')).toBe('unknown');
    a.directory.closed('s1');
    await until(async () => (await redis.admin.exists(key)) === 0, 3000, 'the entry to go');
    // The lookup is cached for at most a second; forget() drops it.
    b.directory.forget('s1');
    expect(await b.directory.lookup('s1')).toBe('unknown');
  });

  it('refresh() extends every entry, and an entry of a dead instance expires', async () => {
    const { a, prefix } = await pair(600);
    a.directory.opened({ sessionId: 's1', principalId: undefined });
    const key = `${prefix}:session:s1`;
    await until(async () => (await redis.admin.exists(key)) === 1, 3000, 'the entry');
    await redis.admin.pexpire(key, 50);
    a.directory.refresh();
    await until(async () => (await redis.admin.pttl(key)) >= 300, 3000, 'the refresh');
    await a.close();
    open.splice(open.indexOf(a), 1);
    expect(await redis.admin.exists(key)).toBe(0);
  });

  it('after Redis restarted empty: a miss answers unavailable (not unknown) until entries are back, and they come back', async () => {
    const { a, b, prefix } = await pair(900);
    a.directory.opened({ sessionId: 's1', principalId: undefined });
    await until(async () => (await redis.admin.exists(`${prefix}:session:s1`)) === 1, 3000, 'the entry');
    await redis.server.stop();
    expect(await b.directory.lookup('other')).toBe('unavailable');
    await redis.server.start();
    await waitFor(() => b.resyncs.includes(true) && b.links.ready, 10_000, 'B back');
    expect(await b.directory.lookup('never-was')).toBe('unavailable');
    await waitFor(() => a.resyncs.includes(true), 10_000, 'A back');
    await until(async () => (await redis.admin.exists(`${prefix}:session:s1`)) === 1, 5000, 'the entry to be re-registered');
    b.directory.forget('s1');
    expect(await b.directory.lookup('s1')).toEqual({ instanceId: 'A', principalId: undefined, envelopes: true });
  });
});
