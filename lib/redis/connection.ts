// RedisLinks: the bus's two Redis connections (commands, subscriber), whether they are up, and one report per outage.
import type { RedisOptions } from 'ioredis';
import { Redis } from './ioredis.js';
import { log as rootLog } from '../log.js';
import type { ResolvedRedisOptions } from './options.js';

const log = rootLog.extend('redis');

export type Link = 'commands' | 'subscriber';

const commandOptions: RedisOptions = {
  // Fail at once while Redis is down (the POST answers 503) instead of queueing until it is back.
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  // A forward that timed out must not be replayed after a reconnect.
  autoResendUnfulfilledCommands: false,
  retryStrategy: (times) => Math.min(times * 200, 1000),
  connectTimeout: 5000,
};

const subscriberOptions: RedisOptions = {
  lazyConnect: false,
  enableOfflineQueue: true,
  maxRetriesPerRequest: null,
  // The links subscribe on every `ready`, so they know when they are listening again.
  autoResubscribe: false,
  retryStrategy: (times) => Math.min(times * 200, 1000),
  connectTimeout: 5000,
};

/** What the links tell the bus. */
export interface LinkEvents {
  /** The commands connection is ready (again); `afterOutage` when it had been lost. */
  commandsReady(afterOutage: boolean): void;
  /** A message on one of the subscribed channels. */
  message(channel: string, message: string): void;
  /** A problem worth the router's `onError`. */
  report(error: Error): void;
}

/**
 * Opens (or borrows) the commands connection and duplicates a subscriber, subscribes to `channels` on every
 * `ready`, and reports each outage once per connection; the retries that follow stay quiet until it is back.
 */
export class RedisLinks {
  readonly cmd: Redis;
  readonly sub: Redis;
  readonly #ownsCmd: boolean;
  readonly #events: LinkEvents;
  readonly #channels: string[];
  // biome-ignore lint/suspicious/noExplicitAny: ioredis types its event listeners with any[] arguments.
  readonly #cmdListeners: [string, (...args: any[]) => void][];
  readonly #down: Record<Link, boolean> = { commands: false, subscriber: false };
  #subscribed = false;
  #closed = false;
  /** Who waits for the links to be ready the first time (an instance just started). */
  #firstReady: (() => void)[] | undefined = [];

  constructor(options: Pick<ResolvedRedisOptions, 'redis' | 'url' | 'prefix' | 'instanceId'>, channels: string[], events: LinkEvents) {
    const { redis, url, prefix, instanceId } = options;
    const name = `${prefix}:${instanceId}`;
    this.#events = events;
    this.#channels = channels;
    this.#ownsCmd = redis === undefined;
    this.cmd = redis ?? new Redis(url, { ...commandOptions, connectionName: `${name}:commands` });
    this.sub =
      redis === undefined
        ? new Redis(url, { ...subscriberOptions, connectionName: `${name}:subscriber` })
        : redis.duplicate({ ...subscriberOptions, connectionName: `${name}:subscriber` });

    this.#cmdListeners = [
      ['ready', () => this.#commandsReady()],
      ['close', () => this.#lost('commands')],
      ['error', (error: Error) => this.#lost('commands', error)],
    ];
    for (const [event, listener] of this.#cmdListeners) this.cmd.on(event, listener);
    if (this.cmd.status === 'ready') this.#commandsReady();
    // A given client created with lazyConnect would otherwise wait for a first command the bus never sends.
    else if (this.cmd.status === 'wait') this.cmd.connect().catch(noop);

    this.sub.on('ready', () => this.#subscriberReady());
    this.sub.on('close', () => {
      this.#subscribed = false;
      this.#lost('subscriber');
    });
    this.sub.on('error', (error: Error) => this.#lost('subscriber', error));
    this.sub.on('message', (channel: string, message: string) => {
      if (!this.#closed) this.#events.message(channel, message);
    });
  }

  /** True while commands can run and this instance listens on its channels. */
  get ready(): boolean {
    return !this.#closed && this.cmd.status === 'ready' && this.#subscribed;
  }

  /**
   * Resolves once the links are ready for the first time (at once afterwards), or after `timeoutMs`: a request
   * reaching an instance that has just started waits for its connections instead of failing.
   */
  whenFirstReady(timeoutMs: number): Promise<void> {
    const waiters = this.#firstReady;
    if (waiters === undefined) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** The commands connection, while it is ready (also while the bus closes, for its last clean-up). */
  get commands(): Redis | undefined {
    return this.cmd.status === 'ready' ? this.cmd : undefined;
  }

  /** Publishes when connected; resolves to the number of receivers, or `undefined` when not sent (never rejects). */
  publish(channel: string, message: string, what: string): Promise<number | undefined> {
    const cmd = this.commands;
    if (cmd === undefined) return Promise.resolve(undefined);
    return cmd.publish(channel, message).catch((error: Error) => {
      this.problem('commands', what, error);
      return undefined;
    });
  }

  /** Reports a failed command, unless its connection is already known to be down. */
  problem(link: Link, what: string, error: Error): void {
    if (this.#closed || this.#down[link]) return;
    this.#events.report(new Error(`${what}: ${error.message}`, { cause: error }));
  }

  /** From now on: not ready, no messages, no reports; commands still run until `close()`. */
  quiet(): void {
    this.#closed = true;
  }

  /** Quits the subscriber, and the commands connection when the links opened it (a given client stays open). */
  async close(): Promise<void> {
    this.#closed = true;
    if (!this.#ownsCmd) for (const [event, listener] of this.#cmdListeners) this.cmd.off(event, listener);
    await Promise.all([quit(this.sub), this.#ownsCmd ? quit(this.cmd) : undefined]);
  }

  #commandsReady(): void {
    if (this.#closed) return;
    const afterOutage = this.#down.commands;
    if (afterOutage) this.#down.commands = false;
    this.#events.commandsReady(afterOutage);
    this.#checkFirstReady();
  }

  #subscriberReady(): void {
    if (this.#closed) return;
    this.sub.subscribe(...this.#channels).then(
      () => {
        if (this.#closed) return;
        this.#subscribed = true;
        this.#checkFirstReady();
        if (this.#down.subscriber) {
          this.#down.subscriber = false;
          log('subscriber connection to Redis is back');
        }
      },
      (error: Error) => this.problem('subscriber', 'could not subscribe to its channels (retrying on the next reconnect)', error),
    );
  }

  #checkFirstReady(): void {
    const waiters = this.#firstReady;
    if (waiters === undefined || !this.ready) return;
    this.#firstReady = undefined;
    for (const resolve of waiters) resolve();
  }

  #lost(link: Link, error?: Error): void {
    if (this.#closed || this.#down[link]) return;
    this.#down[link] = true;
    const conn = (link === 'commands' ? this.cmd : this.sub).options;
    const where = conn.path ? conn.path : `${conn.host ?? '?'}:${conn.port ?? '?'}`;
    const what =
      error === undefined
        ? `the ${link} connection to Redis at ${where} was lost. `
        : `the ${link} connection cannot reach Redis at ${where} (${error.message}). `;
    this.#events.report(
      new Error(
        what +
          'POSTs for sessions held by other instances answer 503 and broadcasts stay on this instance until it is back; ' +
          'sessions of this instance keep working. Retrying in the background.',
        { cause: error },
      ),
    );
  }
}

export function noop(): void {}

export const TIMED_OUT = Symbol('timed out');

/** The promise's value, or `TIMED_OUT` after `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Quits gracefully when connected, else drops the connection (a QUIT would wait for a reconnect). */
async function quit(connection: Redis): Promise<void> {
  if (connection.status === 'end') return;
  if (connection.status === 'ready') {
    const result = await withTimeout(connection.quit().catch(noop), 1000);
    if (result !== TIMED_OUT) return;
  }
  connection.disconnect();
}
