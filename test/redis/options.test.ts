// redisSessionBus() options: defaults and TypeErrors naming the option, at creation time (no Redis needed).
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { resolveRedisOptions, type RedisSessionBusOptions } from '../../lib/redis/options.js';
import { redisSessionBus } from '../../lib/redis/index.js';

describe('resolveRedisOptions', () => {
  it('applies the documented defaults', () => {
    const o = resolveRedisOptions();
    expect(o).toMatchObject({ redis: undefined, url: 'redis://127.0.0.1:6379', prefix: 'mcp-sse', directoryTtlMs: 15_000, forwardTimeoutMs: 5_000 });
    expect(o.instanceId).toMatch(/^\S+:\d+:[0-9a-f]{8}$/);
    expect(resolveRedisOptions().instanceId).not.toBe(o.instanceId);
  });

  it('treats undefined like an option not given', () => {
    expect(resolveRedisOptions({ prefix: undefined, directoryTtlMs: undefined }).prefix).toBe('mcp-sse');
  });

  it.each<[string, unknown, RegExp]>([
    ['unknown key', { ttl: 5 }, /Unknown option "ttl".*Known options: redis, url/],
    ['redis and url', { redis: new Redis({ lazyConnect: true }), url: 'redis://x' }, /"redis" and "url".*not both/],
    ['redis not a client', { redis: { host: 'x' } }, /Option "redis" must be an ioredis client.*an object/],
    ['url not a Redis URL', { url: 'http://x' }, /Option "url" must be a Redis URL.*"http:\/\/x"/],
    ['url not a string', { url: 6379 }, /Option "url" must be a Redis URL.*6379/],
    ['empty prefix', { prefix: '' }, /Option "prefix" must be a non-empty string/],
    ['prefix with spaces', { prefix: 'a b' }, /Option "prefix".*"a b"/],
    ['ttl too small', { directoryTtlMs: 10 }, /Option "directoryTtlMs" must be an integer >= 500.*10/],
    ['ttl not an integer', { directoryTtlMs: 1500.5 }, /Option "directoryTtlMs"/],
    ['forward timeout zero', { forwardTimeoutMs: 0 }, /Option "forwardTimeoutMs" must be an integer >= 1.*0/],
    ['instance id with whitespace', { instanceId: 'a\nb' }, /Option "instanceId" must be a non-empty string without whitespace/],
    ['not an object', 'redis://x', /takes an options object.*"redis:\/\/x"/],
  ])('rejects %s with a TypeError naming it', (_name, options, message) => {
    expect(() => resolveRedisOptions(options as RedisSessionBusOptions)).toThrow(TypeError);
    expect(() => resolveRedisOptions(options as RedisSessionBusOptions)).toThrow(message);
  });

  it('validates in redisSessionBus() itself, before anything connects', () => {
    expect(() => redisSessionBus({ directoryTtlMs: -1 })).toThrow(/directoryTtlMs/);
  });

  it('opens no connection until a router attaches it', async () => {
    const bus = redisSessionBus({ url: 'redis://127.0.0.1:1' });
    expect(bus.stats()).toEqual({
      sessions: 0,
      forwarded: 0,
      forwardRefused: 0,
      received: 0,
      broadcastsSent: 0,
      broadcastsReceived: 0,
      relaysOpen: 0,
      connected: false,
    });
    expect(await bus.forward('x', { messages: [], principalId: undefined, authInfo: undefined })).toBe('unavailable');
    await bus.close();
  });
});
