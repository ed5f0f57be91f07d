// RedisSessionBus: the SessionBus for several processes, with a session directory in Redis and pub/sub between instances.
import { Redis, type RedisOptions } from 'ioredis';
import type { BusNode, BusSession, Delivery, DeliveryResult, SessionBus } from '../bus.js';
import { log as rootLog } from '../log.js';
import type { ResolvedRedisOptions } from './options.js';
import {
  broadcastChannel, decodeBroadcast, decodeEntry, decodeInstanceMessage, encodeAck, encodeBroadcast, encodeDeliver,
  encodeEntry, instanceChannel, sessionKey, type DeliverMessage, type DirectoryEntry,
} from './protocol.js';

const log = rootLog.extend('redis');

/** Counters of one bus since it was attached. */
export interface RedisBusStats {
  /** Sessions of this instance registered in the directory. */
  sessions: number;
  /** POSTs this instance forwarded to another instance and that the owner accepted. */
  forwarded: number;
  /** Forwarded POSTs that got no `accepted` (404, 403 or 503 for the client). */
  forwardRefused: number;
  /** Deliveries from other instances this instance handed to its own sessions. */
  received: number;
  /** Broadcasts published for other instances. */
  broadcastsSent: number;
  /** Broadcasts from other instances written to this instance's sessions. */
  broadcastsReceived: number;
  /** True while both Redis connections are up and this instance is listening on its channels. */
  connected: boolean;
}

type Link = 'commands' | 'subscriber';
type Lookup = DirectoryEntry | 'unknown' | 'unavailable';
interface Pending {
  resolve: (result: DeliveryResult) => void;
  timer: NodeJS.Timeout;
}

const TIMED_OUT = Symbol('timed out');
/** Owner lookups are cached this long at most, so a burst of POSTs costs one directory read. */
const OWNER_CACHE_MS = 1000;
const OWNER_CACHE_SIZE = 10_000;
/** Sessions closed while Redis was down whose entries are deleted once it is back (the rest just expire). */
const PENDING_DELETES_MAX = 10_000;

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
  // The bus subscribes itself on every `ready`, so it knows when it is listening again.
  autoResubscribe: false,
  retryStrategy: (times) => Math.min(times * 200, 1000),
  connectTimeout: 5000,
};

/**
 * Keeps a directory `sessionId → { instance, principal }` in Redis with a TTL this instance refreshes, forwards
 * POSTs for sessions of other instances over pub/sub and waits for the owner's acknowledgement, and relays
 * broadcasts. Create one per router with `redisSessionBus()`.
 */
export class RedisSessionBus implements SessionBus {
  /** This instance's id in the directory. */
  readonly instanceId: string;
  readonly #o: ResolvedRedisOptions;
  readonly #refreshEveryMs: number;
  #node: BusNode | undefined;
  #cmd: Redis | undefined;
  #sub: Redis | undefined;
  #ownsCmd = false;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  #cmdListeners: [string, (...args: any[]) => void][] = [];
  /** This instance's sessions: id → encoded directory entry. */
  readonly #sessions = new Map<string, string>();
  readonly #pendingDeletes = new Set<string>();
  readonly #pending = new Map<string, Pending>();
  /** Per session, the forward whose PUBLISH the next one waits for, so POST order is publish order. */
  readonly #tails = new Map<string, Promise<void>>();
  readonly #owners = new Map<string, { entry: DirectoryEntry; until: number }>();
  #nextId = 0;
  #subscribed = false;
  readonly #down: Record<Link, boolean> = { commands: false, subscriber: false };
  /** Until then a directory miss answers 503: after an outage, other instances may not have re-registered yet. */
  #graceUntil = 0;
  #refresh: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #stats = { forwarded: 0, forwardRefused: 0, received: 0, broadcastsSent: 0, broadcastsReceived: 0 };

  /** @internal Use `redisSessionBus()`. */
  constructor(options: ResolvedRedisOptions) {
    this.#o = options;
    this.instanceId = options.instanceId;
    this.#refreshEveryMs = Math.max(100, Math.floor(options.directoryTtlMs / 3));
  }

  /** Counters since the bus was attached, and whether it is connected now. */
  stats(): RedisBusStats {
    return { sessions: this.#sessions.size, ...this.#stats, connected: this.#ready };
  }

  attach(node: BusNode): void {
    if (this.#node !== undefined) {
      throw new Error('This Redis session bus is already attached to a router; create one redisSessionBus() per router.');
    }
    if (this.#closed) throw new Error('This Redis session bus was closed; create a new one.');
    this.#node = node;
    const { redis, url, prefix } = this.#o;
    const name = `${prefix}:${this.instanceId}`;
    this.#ownsCmd = redis === undefined;
    const cmd = redis ?? new Redis(url, { ...commandOptions, connectionName: `${name}:commands` });
    const sub = redis === undefined
      ? new Redis(url, { ...subscriberOptions, connectionName: `${name}:subscriber` })
      : redis.duplicate({ ...subscriberOptions, connectionName: `${name}:subscriber` });
    this.#cmd = cmd;
    this.#sub = sub;

    const onCmdReady = () => this.#onCommandsReady();
    const onCmdClose = () => this.#lost('commands');
    const onCmdError = (error: Error) => this.#lost('commands', error);
    this.#cmdListeners = [['ready', onCmdReady], ['close', onCmdClose], ['error', onCmdError]];
    for (const [event, listener] of this.#cmdListeners) cmd.on(event, listener);
    if (cmd.status === 'ready') this.#onCommandsReady();
    // A given client created with lazyConnect would otherwise wait for a first command the bus never sends.
    else if (cmd.status === 'wait') cmd.connect().catch(noop);

    sub.on('ready', () => this.#onSubscriberReady());
    sub.on('close', () => {
      this.#subscribed = false;
      this.#lost('subscriber');
    });
    sub.on('error', (error: Error) => this.#lost('subscriber', error));
    sub.on('message', (channel: string, message: string) => this.#onMessage(channel, message));

    this.#refresh = setInterval(() => this.#refreshDirectory(), this.#refreshEveryMs);
    this.#refresh.unref();
  }

  sessionOpened(session: BusSession): void {
    if (this.#closed) return;
    const value = encodeEntry({ instanceId: this.instanceId, principalId: session.principalId });
    this.#sessions.set(session.sessionId, value);
    this.#pendingDeletes.delete(session.sessionId);
    // While Redis is down the entry is written by the resync that follows the reconnect.
    if (this.#cmd?.status !== 'ready') return;
    this.#cmd.set(sessionKey(this.#o.prefix, session.sessionId), value, 'PX', this.#o.directoryTtlMs)
      .catch((error: Error) => this.#problem('commands', 'could not register a session in the directory (the next refresh retries)', error));
  }

  sessionClosed(sessionId: string): void {
    if (!this.#sessions.delete(sessionId) || this.#closed) return;
    const deleteLater = () => {
      if (this.#pendingDeletes.size < PENDING_DELETES_MAX) this.#pendingDeletes.add(sessionId);
    };
    if (this.#cmd?.status !== 'ready') return deleteLater();
    this.#cmd.del(sessionKey(this.#o.prefix, sessionId)).catch(deleteLater);
  }

  forward(sessionId: string, delivery: Delivery): Promise<DeliveryResult> {
    if (!this.#ready) {
      this.#stats.forwardRefused++;
      return Promise.resolve('unavailable');
    }
    // Each forward publishes only once the previous one for the same session has published: one command
    // connection and one subscriber connection keep that order, so the owner receives POSTs in order.
    const previous = this.#tails.get(sessionId);
    const sending = previous === undefined ? this.#send(sessionId, delivery) : previous.then(() => this.#send(sessionId, delivery));
    const tail = sending.then(noop, noop);
    this.#tails.set(sessionId, tail);
    void tail.then(() => {
      if (this.#tails.get(sessionId) === tail) this.#tails.delete(sessionId);
    });
    return sending.then((sent) => sent.outcome).then((result) => {
      if (result === 'accepted') this.#stats.forwarded++;
      else this.#stats.forwardRefused++;
      return result;
    });
  }

  publishBroadcast(json: string): void {
    if (this.#closed || this.#node === undefined) return;
    const cmd = this.#cmd;
    if (cmd?.status !== 'ready') {
      this.#report(new Error('a broadcast reached only this instance: not connected to Redis, so other instances did not get it.'));
      return;
    }
    cmd.publish(broadcastChannel(this.#o.prefix), encodeBroadcast(this.instanceId, json)).then(
      () => void this.#stats.broadcastsSent++,
      (error: Error) => this.#report(new Error(`a broadcast reached only this instance: publishing it failed (${error.message}).`, { cause: error })),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#refresh);
    for (const id of [...this.#pending.keys()]) this.#settle(id, 'unavailable');
    const cmd = this.#cmd;
    const sub = this.#sub;
    const keys = [...this.#sessions.keys(), ...this.#pendingDeletes].map((id) => sessionKey(this.#o.prefix, id));
    this.#sessions.clear();
    this.#pendingDeletes.clear();
    this.#owners.clear();
    if (cmd !== undefined && cmd.status === 'ready' && keys.length > 0) {
      const pipeline = cmd.pipeline();
      for (let i = 0; i < keys.length; i += 500) pipeline.del(...keys.slice(i, i + 500));
      await withTimeout(pipeline.exec().catch(noop), 1000);
    }
    if (cmd !== undefined && !this.#ownsCmd) {
      for (const [event, listener] of this.#cmdListeners) cmd.off(event, listener);
    }
    await Promise.all([sub && quit(sub), this.#ownsCmd && cmd ? quit(cmd) : undefined]);
  }

  // ---- internals ----

  get #ready(): boolean {
    return !this.#closed && this.#node !== undefined && this.#cmd?.status === 'ready' && this.#subscribed;
  }

  async #send(sessionId: string, delivery: Delivery): Promise<{ outcome: Promise<DeliveryResult> }> {
    const done = (result: DeliveryResult) => ({ outcome: Promise.resolve(result) });
    const owner = await this.#lookup(sessionId);
    if (typeof owner === 'string') return done(owner);
    // The router looked locally first; an entry naming this instance is a session that just closed here.
    if (owner.instanceId === this.instanceId) return done('unknown');
    if (owner.principalId !== undefined && delivery.principalId !== undefined && owner.principalId !== delivery.principalId) {
      return done('forbidden');
    }
    const cmd = this.#cmd;
    if (!this.#ready || cmd === undefined) return done('unavailable');

    const id = `${++this.#nextId}`;
    const acked = new Promise<DeliveryResult>((resolve) => {
      const timer = setTimeout(() => this.#settle(id, 'unavailable'), this.#o.forwardTimeoutMs);
      timer.unref();
      this.#pending.set(id, { resolve, timer });
    });
    const message = encodeDeliver(id, this.instanceId, sessionId, delivery);
    cmd.publish(instanceChannel(this.#o.prefix, owner.instanceId), message).then(
      (receivers) => {
        // Nobody listens on the owner's channel: it died (its entry expires within directoryTtlMs) or is reconnecting.
        if (receivers === 0) this.#settle(id, 'unavailable');
      },
      (error: Error) => {
        this.#settle(id, 'unavailable');
        this.#problem('commands', 'could not forward a message to the instance holding its session', error);
      },
    );
    // Bounded by forwardTimeoutMs even when the PUBLISH itself hangs (a given client with an offline queue).
    const outcome = acked.then((result) => {
      if (result !== 'accepted') this.#owners.delete(sessionId);
      return result;
    });
    return { outcome };
  }

  async #lookup(sessionId: string): Promise<Lookup> {
    const now = Date.now();
    const cached = this.#owners.get(sessionId);
    if (cached !== undefined && cached.until > now) return cached.entry;
    const cmd = this.#cmd;
    if (!this.#ready || cmd === undefined) return 'unavailable';
    let value: string | null | typeof TIMED_OUT;
    try {
      value = await withTimeout(cmd.get(sessionKey(this.#o.prefix, sessionId)), this.#o.forwardTimeoutMs);
    } catch (error) {
      this.#problem('commands', 'could not read the session directory', error as Error);
      return 'unavailable';
    }
    if (value === TIMED_OUT) return 'unavailable';
    if (value === null) return Date.now() < this.#graceUntil ? 'unavailable' : 'unknown';
    const entry = decodeEntry(value);
    if (entry === undefined) return 'unknown';
    if (this.#owners.size >= OWNER_CACHE_SIZE) this.#owners.delete(this.#owners.keys().next().value!);
    this.#owners.set(sessionId, { entry, until: now + Math.min(OWNER_CACHE_MS, this.#refreshEveryMs) });
    return entry;
  }

  #settle(id: string, result: DeliveryResult): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(result);
  }

  #onMessage(channel: string, message: string): void {
    if (this.#closed || this.#node === undefined) return;
    if (channel === broadcastChannel(this.#o.prefix)) {
      const broadcast = decodeBroadcast(message);
      if (broadcast === undefined || broadcast.from === this.instanceId) return;
      this.#stats.broadcastsReceived++;
      this.#node.broadcastLocal(broadcast.json);
      return;
    }
    const decoded = decodeInstanceMessage(message);
    if (decoded === undefined) {
      this.#report(new Error(`ignored a malformed message on ${channel}; do other programs publish there? Use another "prefix".`));
      return;
    }
    if (decoded.type === 'ack') this.#settle(decoded.id, decoded.result);
    else this.#deliverForwarded(decoded);
  }

  #deliverForwarded(message: DeliverMessage): void {
    let result: DeliveryResult;
    try {
      result = this.#node!.deliver(message.sessionId, message.delivery);
    } catch (error) {
      this.#report(new Error(`delivering a forwarded message failed: ${(error as Error).message}`, { cause: error }));
      result = 'unavailable';
    }
    if (result === 'accepted') this.#stats.received++;
    const cmd = this.#cmd;
    if (cmd?.status !== 'ready') return; // The sender times out and answers 503.
    cmd.publish(instanceChannel(this.#o.prefix, message.reply), encodeAck(message.id, result))
      .catch((error: Error) => this.#problem('commands', 'could not acknowledge a forwarded message', error));
  }

  #onCommandsReady(): void {
    if (this.#closed) return;
    if (this.#down.commands) {
      this.#down.commands = false;
      // Redis may have restarted empty: until every instance has re-registered, a directory miss is not a 404.
      this.#graceUntil = Date.now() + this.#refreshEveryMs + 1000;
      log('commands connection to Redis is back; re-registering %d sessions', this.#sessions.size);
    }
    this.#owners.clear();
    const cmd = this.#cmd!;
    if (this.#sessions.size === 0 && this.#pendingDeletes.size === 0) return;
    const pipeline = cmd.pipeline();
    for (const id of this.#pendingDeletes) pipeline.del(sessionKey(this.#o.prefix, id));
    this.#pendingDeletes.clear();
    this.#writeEntries(pipeline);
    pipeline.exec().catch((error: Error) => this.#problem('commands', 'could not re-register sessions after reconnecting (the next refresh retries)', error));
  }

  #onSubscriberReady(): void {
    if (this.#closed) return;
    const sub = this.#sub!;
    sub.subscribe(instanceChannel(this.#o.prefix, this.instanceId), broadcastChannel(this.#o.prefix)).then(
      () => {
        if (this.#closed) return;
        this.#subscribed = true;
        if (this.#down.subscriber) {
          this.#down.subscriber = false;
          log('subscriber connection to Redis is back');
        }
      },
      (error: Error) => this.#problem('subscriber', 'could not subscribe to its channels (retrying on the next reconnect)', error),
    );
  }

  #refreshDirectory(): void {
    const cmd = this.#cmd;
    if (this.#closed || cmd?.status !== 'ready' || this.#sessions.size === 0) return;
    const pipeline = cmd.pipeline();
    this.#writeEntries(pipeline);
    pipeline.exec().catch((error: Error) => this.#problem('commands', 'could not refresh the session directory', error));
  }

  #writeEntries(pipeline: ReturnType<Redis['pipeline']>): void {
    for (const [id, value] of this.#sessions) pipeline.set(sessionKey(this.#o.prefix, id), value, 'PX', this.#o.directoryTtlMs);
  }

  /** One report per outage and connection; the retries that follow stay quiet until it is back. */
  #lost(link: Link, error?: Error): void {
    if (this.#closed || this.#down[link]) return;
    this.#down[link] = true;
    const conn = (link === 'commands' ? this.#cmd : this.#sub)?.options;
    const where = conn?.path ? conn.path : `${conn?.host ?? '?'}:${conn?.port ?? '?'}`;
    const what = error === undefined
      ? `the ${link} connection to Redis at ${where} was lost. `
      : `the ${link} connection cannot reach Redis at ${where} (${error.message}). `;
    this.#report(new Error(
      what + 'POSTs for sessions held by other instances answer 503 and broadcasts stay on this instance until it is back; '
        + 'sessions of this instance keep working. Retrying in the background.',
      { cause: error },
    ));
  }

  #problem(link: Link, what: string, error: Error): void {
    if (this.#closed || this.#down[link]) return;
    this.#report(new Error(`${what}: ${error.message}`, { cause: error }));
  }

  #report(error: Error): void {
    log('%s', error.message);
    this.#node?.reportError(error);
  }
}

function noop(): void {}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
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
