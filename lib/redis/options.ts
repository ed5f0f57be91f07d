// Options of redisSessionBus(): the public interface, its defaults, and validation at creation time.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { describeValue, intAtLeast } from '../validate.js';
import { optionError } from '../errors.js';

export interface RedisSessionBusOptions {
  /**
   * An ioredis client to run commands on. The bus never quits it; it makes its own subscriber connection with
   * `redis.duplicate()` and quits only that. Give it `enableOfflineQueue: false` and `maxRetriesPerRequest: 0`
   * (the settings the bus uses for connections it creates) so commands fail fast while Redis is down.
   * Defaults to a connection the bus opens to `url`. Do not pass both `redis` and `url`.
   */
  redis?: Redis;
  /** Redis URL for connections the bus opens itself (commands and subscriber). Defaults to `'redis://127.0.0.1:6379'`. */
  url?: string;
  /** Prefix of every key and channel the bus uses, so several deployments can share one Redis. Defaults to `'mcp-sse'`. */
  prefix?: string;
  /**
   * Lifetime of a session's directory entry. This instance refreshes its entries every third of it, so when the
   * instance dies without cleaning up (SIGKILL, power loss), other instances answer `404` for its sessions once
   * this has passed. Defaults to `15000` ms.
   */
  directoryTtlMs?: number;
  /**
   * How long a POST forwarded to another instance waits for that instance to acknowledge it before answering
   * `503`. Defaults to `5000` ms.
   */
  forwardTimeoutMs?: number;
  /** This instance's id in the directory; must be unique per process. Defaults to `<hostname>:<pid>:<random>`. */
  instanceId?: string;
  /**
   * Durable sessions: Redis keeps what rebuilding each session takes (its `initialize`, state requests and event
   * frames), so a session outlives its instance (crash, SIGKILL, rolling deploy) and any instance adopts it.
   * `false` ties sessions to their instance: they end with it. Defaults to `true`.
   */
  durable?: boolean;
}

/** The options with every default applied. */
export interface ResolvedRedisOptions {
  redis: Redis | undefined;
  url: string;
  prefix: string;
  directoryTtlMs: number;
  forwardTimeoutMs: number;
  instanceId: string;
  durable: boolean;
}

const knownKeys = new Set(['redis', 'url', 'prefix', 'directoryTtlMs', 'forwardTimeoutMs', 'instanceId', 'durable']);

/** Applies defaults and validates; throws a `TypeError` naming the option, its value and what was expected. */
export function resolveRedisOptions(options: RedisSessionBusOptions = {}): ResolvedRedisOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw optionError(`redisSessionBus() takes an options object like { url, prefix }, got ${describeValue(options)}.`);
  }
  for (const key of Object.keys(options)) {
    if (!knownKeys.has(key)) throw optionError(`Unknown option "${key}" of redisSessionBus(). Known options: ${[...knownKeys].join(', ')}.`);
  }
  const { redis, url } = options;
  if (redis !== undefined && url !== undefined) {
    throw optionError('Options "redis" and "url" of redisSessionBus() exclude each other: pass an ioredis client or a URL, not both.');
  }
  if (redis !== undefined) {
    const client = redis as unknown as Record<string, unknown>;
    if (typeof client !== 'object' || client === null || typeof client.duplicate !== 'function' || typeof client.publish !== 'function') {
      throw optionError(`Option "redis" must be an ioredis client (new Redis(…)), got ${describeValue(redis)}.`);
    }
  }
  if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url))) {
    throw optionError(`Option "url" must be a Redis URL like "redis://127.0.0.1:6379", got ${describeValue(url)}.`);
  }
  const prefix = options.prefix ?? 'mcp-sse';
  if (typeof prefix !== 'string' || prefix === '' || /\s/.test(prefix)) {
    throw optionError(`Option "prefix" must be a non-empty string without whitespace, got ${describeValue(prefix)}.`);
  }
  const instanceId = options.instanceId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  if (typeof instanceId !== 'string' || instanceId === '' || /[\s]/.test(instanceId)) {
    throw optionError(`Option "instanceId" must be a non-empty string without whitespace, got ${describeValue(instanceId)}.`);
  }
  const durable = options.durable ?? true;
  if (typeof durable !== 'boolean') throw optionError(`Option "durable" must be true or false, got ${describeValue(durable)}.`);
  return {
    durable,
    redis,
    url: url ?? 'redis://127.0.0.1:6379',
    prefix,
    directoryTtlMs: intAtLeast('directoryTtlMs', options.directoryTtlMs, 15_000, 500),
    forwardTimeoutMs: intAtLeast('forwardTimeoutMs', options.forwardTimeoutMs, 5_000, 1),
    instanceId,
  };
}
