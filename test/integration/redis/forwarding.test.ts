// Forwarder (lib/redis/forwarding.ts) against a real redis-server: acknowledged deliveries, refusals, timeouts,
// order, and a forward abandoned before it was published.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeEntry } from '../../../lib/redis/protocol.js';
import { adminClient, type Parts, redisPerFile, startParts, until } from './parts.js';

const redis = redisPerFile();
const { open } = redis;

async function pair(forwardTimeoutMs = 2000): Promise<{ a: Parts; b: Parts; prefix: string }> {
  const prefix = `fwd-${randomUUID().slice(0, 8)}`;
  const a = await startParts(redis.url, { prefix, instanceId: 'A', forwardTimeoutMs });
  const b = await startParts(redis.url, { prefix, instanceId: 'B', forwardTimeoutMs });
  open.push(a, b);
  return { a, b, prefix };
}

/** A directory entry for `sessionId` naming `instanceId`, written directly. */
const entry = (prefix: string, sessionId: string, instanceId: string, principalId?: string) =>
  redis.admin.set(`${prefix}:session:${sessionId}`, encodeEntry({ instanceId, principalId }), 'PX', 10_000);

const delivery = (n: number, principalId?: string) => ({
  messages: [{ jsonrpc: '2.0' as const, method: 'notifications/test/seq', params: { n } }],
  principalId,
  authInfo: undefined,
});

describe('Forwarder', () => {
  it('delivers to the owner and resolves with its acknowledgement; refuses unknown sessions and other principals', async () => {
    const { a, b, prefix } = await pair();
    a.directory.opened({ sessionId: 's1', principalId: 'apikey:alice' });
    await until(async () => (await redis.admin.exists(`${prefix}:session:s1`)) === 1, 3000, 'the entry');
    expect(await b.forwarder.forward('s1', delivery(1, 'apikey:alice'))).toBe('accepted');
    expect(a.node.delivered).toEqual([{ sessionId: 's1', delivery: { ...delivery(1, 'apikey:alice') } }]);
    expect(await b.forwarder.forward('s1', delivery(2, 'apikey:bob'))).toBe('forbidden');
    expect(await b.forwarder.forward('nope', delivery(3))).toBe('unknown');
    a.node.result = 'unknown'; // closed on the owner meanwhile
    expect(await b.forwarder.forward('s1', delivery(4, 'apikey:alice'))).toBe('unknown');
    expect(b.counters).toMatchObject({ forwarded: 1, forwardRefused: 3 });
    expect(a.counters.received).toBe(1);
  });

  it('answers unavailable at once when nobody listens on the owner channel, and after forwardTimeoutMs when the owner is mute', async () => {
    const { b, prefix } = await pair(300);
    await entry(prefix, 'dead', 'ghost');
    expect(await b.forwarder.forward('dead', delivery(1))).toBe('unavailable');
    // Someone listens on the owner's channel but never acknowledges.
    const mute = adminClient(redis.url);
    open.push({ close: () => mute.disconnect() });
    await mute.subscribe(`${prefix}:instance:mute`);
    await entry(prefix, 'quiet', 'mute');
    const started = Date.now();
    expect(await b.forwarder.forward('quiet', delivery(1))).toBe('unavailable');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('publishes the messages of one session in the order they were sent, even when fired at once', async () => {
    const { a, b, prefix } = await pair();
    a.directory.opened({ sessionId: 's1', principalId: undefined });
    await until(async () => (await redis.admin.exists(`${prefix}:session:s1`)) === 1, 3000, 'the entry');
    const results = await Promise.all(Array.from({ length: 100 }, (_, n) => b.forwarder.forward('s1', delivery(n))));
    expect(results.every((r) => r === 'accepted')).toBe(true);
    expect(a.node.delivered.map((d) => (d.delivery.messages[0]!.params as { n: number }).n)).toEqual(Array.from({ length: 100 }, (_, n) => n));
  });

  it('publishes nothing for a send abandoned before its turn, and close() ends every wait with unavailable', async () => {
    const { a, b, prefix } = await pair(10_000);
    a.directory.opened({ sessionId: 's1', principalId: undefined });
    await until(async () => (await redis.admin.exists(`${prefix}:session:s1`)) === 1, 3000, 'the entry');
    let encoded = 0;
    const result = await b.forwarder.send(
      's1',
      undefined,
      () => `${++encoded}`,
      () => true,
    );
    expect(result).toBe('unavailable');
    expect(encoded).toBe(0);
    // A mute owner: the wait is ended by close().
    const mute = adminClient(redis.url);
    open.push({ close: () => mute.disconnect() });
    await mute.subscribe(`${prefix}:instance:mute`);
    await entry(prefix, 'quiet', 'mute');
    const heard = new Promise<void>((resolve) => mute.once('message', () => resolve()));
    const waiting = b.forwarder.forward('quiet', delivery(1));
    await heard;
    b.forwarder.close();
    expect(await waiting).toBe('unavailable');
  });
});
