// RedisLinks (lib/redis/connection.ts) against a real redis-server: listening, publishing, one report per outage, quitting.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RedisLinks } from '../../../lib/redis/connection.js';
import { waitFor } from '../../helpers/server.js';
import { redisPerFile } from './parts.js';

const redis = redisPerFile();
const { open } = redis;

function start(options: { redis?: Redis } = {}) {
  const prefix = `links-${randomUUID().slice(0, 8)}`;
  const seen = { messages: [] as string[], errors: [] as Error[], ready: [] as boolean[] };
  const links = new RedisLinks({ redis: options.redis, url: redis.url, prefix, instanceId: 'A' }, [`${prefix}:a`, `${prefix}:b`], {
    commandsReady: (afterOutage) => void seen.ready.push(afterOutage),
    message: (channel, message) => void seen.messages.push(`${channel.slice(prefix.length + 1)} ${message}`),
    report: (error) => void seen.errors.push(error),
  });
  open.push(links);
  return { links, prefix, seen };
}

describe('RedisLinks', () => {
  it('subscribes to its channels, hands their messages on, and publishes with the number of receivers', async () => {
    const { links, prefix, seen } = start();
    await waitFor(() => links.ready, 5000, 'ready');
    expect(seen.ready).toEqual([false]);
    expect(await redis.admin.publish(`${prefix}:a`, 'one')).toBe(1);
    expect(await links.publish(`${prefix}:b`, 'two', 'test')).toBe(1);
    expect(await links.publish(`${prefix}:nobody`, 'three', 'test')).toBe(0);
    await waitFor(() => seen.messages.length === 2, 5000, 'the messages');
    expect(seen.messages).toEqual(['a one', 'b two']);
    expect(seen.errors).toEqual([]);
  });

  it('reports an outage once per connection, is not ready meanwhile, and listens again once Redis is back', async () => {
    const { links, prefix, seen } = start();
    await waitFor(() => links.ready, 5000, 'ready');
    await redis.server.stop();
    await waitFor(() => seen.errors.length === 2, 5000, 'both connections to report');
    expect(links.ready).toBe(false);
    expect(await links.publish(`${prefix}:a`, 'lost', 'test')).toBeUndefined();
    expect(seen.errors.map((e) => e.message.split(' connection')[0])).toEqual(expect.arrayContaining(['the commands', 'the subscriber']));
    await redis.server.start();
    await waitFor(() => links.ready, 10_000, 'ready again');
    expect(seen.ready).toEqual([false, true]);
    expect(seen.errors).toHaveLength(2);
    expect(await redis.admin.publish(`${prefix}:a`, 'back')).toBe(1);
    await waitFor(() => seen.messages.includes('a back'), 5000, 'a message after the outage');
  });

  it('quits the connections it opened, and only the subscriber of a given client', async () => {
    const named = async (prefix: string) =>
      ((await redis.admin.client('LIST')) as string).split('\n').filter((line) => line.includes(`name=${prefix}:`)).length;
    const own = start();
    await waitFor(() => own.links.ready, 5000, 'ready');
    expect(await named(own.prefix)).toBe(2);
    await own.links.close();
    await waitFor(() => own.links.cmd.status === 'end' && own.links.sub.status === 'end', 5000, 'both to end');

    const given = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    open.push({ close: () => given.disconnect() });
    const borrowed = start({ redis: given });
    await waitFor(() => borrowed.links.ready, 5000, 'ready');
    await borrowed.links.close();
    await waitFor(() => borrowed.links.sub.status === 'end', 5000, 'the subscriber to end');
    expect(given.status).toBe('ready');
    expect(borrowed.seen.errors).toEqual([]);
  });
});
