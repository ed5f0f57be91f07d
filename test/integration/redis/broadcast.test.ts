// Broadcasts (lib/redis/broadcast.ts) against a real redis-server: every other instance gets each one once, the
// sender never gets its own back, and a broadcast that cannot leave is reported.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/server.js';
import { redisPerFile, startParts } from './parts.js';

const redis = redisPerFile();
const { open } = redis;

describe('Broadcasts', () => {
  it('reaches every other instance once and is not echoed back to the sender', async () => {
    const prefix = `bc-${randomUUID().slice(0, 8)}`;
    const [a, b, c] = await Promise.all(['A', 'B', 'C'].map((instanceId) => startParts(redis.url, { prefix, instanceId })));
    open.push(a!, b!, c!);
    a!.broadcasts.publish('{"method":"x"}');
    a!.broadcasts.publish('{"method":"y"}');
    await waitFor(() => b!.node.broadcasts.length === 2 && c!.node.broadcasts.length === 2, 3000, 'the broadcasts');
    expect(b!.node.broadcasts).toEqual(['{"method":"x"}', '{"method":"y"}']);
    await waitFor(() => a!.counters.broadcastsSent === 2, 3000, 'the count');
    expect(a!.node.broadcasts).toEqual([]);
    expect(c!.counters.broadcastsReceived).toBe(2);
  });

  it('reports a broadcast that reached only this instance while Redis is down', async () => {
    const a = await startParts(redis.url, { prefix: `bc-${randomUUID().slice(0, 8)}`, instanceId: 'A' });
    open.push(a);
    await redis.server.stop();
    await waitFor(() => !a.links.ready && a.links.commands === undefined, 5000, 'the outage');
    a.broadcasts.publish('{"method":"x"}');
    expect(a.node.errors.map((e) => e.message)).toContain(
      'a broadcast reached only this instance: not connected to Redis, so other instances did not get it.',
    );
  });
});
