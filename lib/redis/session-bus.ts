// RedisSessionBus: the SessionBus for several processes, with a session directory in Redis and pub/sub between instances.
import type { RedisOptions } from 'ioredis';
import { Redis } from './ioredis.js';
import type { BusNode, BusSession, Delivery, DeliveryResult, RelayedRequest, RelayHandle, RelaySink, SessionBus } from '../bus.js';
import { log as rootLog } from '../log.js';
import type { ResolvedRedisOptions } from './options.js';
import {
  broadcastChannel,
  decodeBroadcast,
  decodeEntry,
  decodeInstanceMessage,
  encodeAck,
  encodeBroadcast,
  encodeCancel,
  encodeDeliver,
  encodeEntry,
  encodeRelay,
  encodeRelayAnswer,
  instanceChannel,
  sessionKey,
  type DeliverMessage,
  type DirectoryEntry,
  type RelayAnswer,
  type RelayMessage,
} from './protocol.js';

const log = rootLog.extend('redis');

/** Counters of one bus since it was attached. */
export interface RedisBusStats {
  /** Sessions of this instance registered in the directory. */
  sessions: number;
  /** POSTs (and relayed Streamable HTTP requests) this instance forwarded to another instance and that the owner accepted. */
  forwarded: number;
  /** Forwarded POSTs that got no `accepted` (404, 403 or 503 for the client). */
  forwardRefused: number;
  /** Deliveries and relayed requests from other instances this instance handed to its own sessions. */
  received: number;
  /** Relayed Streamable HTTP answers streaming now: to clients of this instance, and from sessions of this one. */
  relaysOpen: number;
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
  // biome-ignore lint/suspicious/noExplicitAny: ioredis types its event listeners with any[] arguments.
  #cmdListeners: [string, (...args: any[]) => void][] = [];
  /** This instance's sessions: id → encoded directory entry. */
  readonly #sessions = new Map<string, string>();
  readonly #pendingDeletes = new Set<string>();
  readonly #pending = new Map<string, Pending>();
  /** Per session, the forward whose PUBLISH the next one waits for, so POST order is publish order. */
  readonly #tails = new Map<string, Promise<void>>();
  readonly #owners = new Map<string, { entry: DirectoryEntry; until: number }>();
  /** Answers streaming from other instances to clients of this one: correlation id → where they go, and from whom. */
  readonly #relays = new Map<string, { sink: RelaySink; owner: string }>();
  /** Answers this instance streams for other instances' clients: `<instance> <id>` → how to stop them. */
  readonly #served = new Map<string, RelayHandle | undefined>();
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
    return { sessions: this.#sessions.size, ...this.#stats, relaysOpen: this.#relays.size + this.#served.size, connected: this.#ready };
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
    const sub =
      redis === undefined
        ? new Redis(url, { ...subscriberOptions, connectionName: `${name}:subscriber` })
        : redis.duplicate({ ...subscriberOptions, connectionName: `${name}:subscriber` });
    this.#cmd = cmd;
    this.#sub = sub;

    const onCmdReady = () => this.#onCommandsReady();
    const onCmdClose = () => this.#lost('commands');
    const onCmdError = (error: Error) => this.#lost('commands', error);
    this.#cmdListeners = [
      ['ready', onCmdReady],
      ['close', onCmdClose],
      ['error', onCmdError],
    ];
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
    this.#cmd
      .set(sessionKey(this.#o.prefix, session.sessionId), value, 'PX', this.#o.directoryTtlMs)
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
    return this.#ordered(sessionId, delivery.principalId, (id) => encodeDeliver(id, this.instanceId, sessionId, delivery));
  }

  async relay(sessionId: string, request: RelayedRequest, sink: RelaySink): Promise<{ result: DeliveryResult; handle?: RelayHandle }> {
    let relayId: string | undefined;
    let owner = '';
    const result = await this.#ordered(sessionId, request.principalId, (id, ownerId) => {
      // Registered before the request is published: the owner may answer before its acknowledgement arrives.
      relayId = id;
      owner = ownerId;
      this.#relays.set(id, { sink, owner });
      return encodeRelay(id, this.instanceId, sessionId, request);
    });
    if (relayId === undefined) return { result };
    const id = relayId;
    if (result !== 'accepted') {
      this.#relays.delete(id);
      return { result };
    }
    const cancel = () => {
      if (!this.#relays.delete(id) || this.#cmd?.status !== 'ready') return;
      this.#cmd.publish(instanceChannel(this.#o.prefix, owner), encodeCancel(id, this.instanceId)).catch(noop);
    };
    return { result, handle: { cancel } };
  }

  /**
   * Publishes a message for the owner of `sessionId` and waits for its acknowledgement. Each one publishes only once
   * the previous one for the same session has: one command connection and one subscriber connection keep that
   * order, so the owner receives a session's requests in the order this instance received them.
   */
  #ordered(sessionId: string, principalId: string | undefined, encode: (id: string, owner: string) => string): Promise<DeliveryResult> {
    if (!this.#ready) {
      this.#stats.forwardRefused++;
      return Promise.resolve('unavailable');
    }
    const previous = this.#tails.get(sessionId);
    const send = () => this.#send(sessionId, principalId, encode);
    const sending = previous === undefined ? send() : previous.then(send);
    const tail = sending.then(noop, noop);
    this.#tails.set(sessionId, tail);
    void tail.then(() => {
      if (this.#tails.get(sessionId) === tail) this.#tails.delete(sessionId);
    });
    return sending
      .then((sent) => sent.outcome)
      .then((result) => {
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
    // Relayed streams end; their clients resume (or retry) through another instance.
    for (const { sink } of this.#relays.values()) sink.end();
    this.#relays.clear();
    for (const handle of [...this.#served.values()]) handle?.cancel();
    this.#served.clear();
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

  async #send(
    sessionId: string,
    principalId: string | undefined,
    encode: (id: string, owner: string) => string,
  ): Promise<{ outcome: Promise<DeliveryResult> }> {
    const done = (result: DeliveryResult) => ({ outcome: Promise.resolve(result) });
    const owner = await this.#lookup(sessionId);
    if (typeof owner === 'string') return done(owner);
    // The router looked locally first; an entry naming this instance is a session that just closed here.
    if (owner.instanceId === this.instanceId) return done('unknown');
    if (owner.principalId !== undefined && principalId !== undefined && owner.principalId !== principalId) {
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
    const message = encode(id, owner.instanceId);
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
    switch (decoded.type) {
      case 'ack':
        return this.#settle(decoded.id, decoded.result);
      case 'deliver':
        return this.#deliverForwarded(decoded);
      case 'relay':
        return this.#serveRelayed(decoded);
      case 'cancel':
        return void this.#served.get(`${decoded.from} ${decoded.id}`)?.cancel();
      default:
        return this.#relayAnswer(decoded);
    }
  }

  /** A piece of an answer from a session's owner, for a client of this instance. */
  #relayAnswer(answer: RelayAnswer): void {
    const relay = this.#relays.get(answer.id);
    if (relay === undefined) return;
    if (answer.type === 'head') relay.sink.head(answer.status, answer.headers);
    else if (answer.type === 'chunk') relay.sink.write(answer.data);
    else {
      this.#relays.delete(answer.id);
      relay.sink.end(answer.data);
    }
  }

  /** Serves a request relayed by another instance for a session of this one, streaming the answer back. */
  #serveRelayed(message: RelayMessage): void {
    const channel = instanceChannel(this.#o.prefix, message.reply);
    const key = `${message.reply} ${message.id}`;
    const publish = (answer: RelayAnswer) => {
      if (this.#cmd?.status !== 'ready') return;
      this.#cmd
        .publish(channel, encodeRelayAnswer(answer))
        .catch((error: Error) => this.#problem('commands', 'could not stream an answer back to the instance holding its client', error));
    };
    // Present before serving, so that an answer ending at once is forgotten at once.
    this.#served.set(key, undefined);
    let outcome: ReturnType<BusNode['serve']>;
    try {
      outcome = this.#node!.serve(message.sessionId, message.request, {
        head: (status, headers) => publish({ type: 'head', id: message.id, status, headers }),
        write: (data) => publish({ type: 'chunk', id: message.id, data }),
        end: (data) => {
          if (!this.#served.delete(key)) return;
          publish(data === undefined ? { type: 'end', id: message.id } : { type: 'end', id: message.id, data });
        },
      });
    } catch (error) {
      this.#report(new Error(`serving a relayed request failed: ${(error as Error).message}`, { cause: error }));
      outcome = { result: 'unavailable' };
    }
    if (outcome.result !== 'accepted') this.#served.delete(key);
    else if (this.#served.has(key)) this.#served.set(key, outcome.handle);
    if (outcome.result === 'accepted') this.#stats.received++;
    this.#cmd?.publish(channel, encodeAck(message.id, outcome.result)).catch(noop);
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
    cmd
      .publish(instanceChannel(this.#o.prefix, message.reply), encodeAck(message.id, result))
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
    pipeline
      .exec()
      .catch((error: Error) => this.#problem('commands', 'could not re-register sessions after reconnecting (the next refresh retries)', error));
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
    if (this.#closed || cmd?.status !== 'ready') return;
    this.#endOrphanedRelays(cmd);
    if (this.#sessions.size === 0) return;
    const pipeline = cmd.pipeline();
    this.#writeEntries(pipeline);
    pipeline.exec().catch((error: Error) => this.#problem('commands', 'could not refresh the session directory', error));
  }

  /** Ends the relayed streams of owners that no longer listen (they died): their clients resume or start over. */
  #endOrphanedRelays(cmd: Redis): void {
    const owners = [...new Set([...this.#relays.values()].map((relay) => relay.owner))];
    if (owners.length === 0) return;
    const channels = owners.map((owner) => instanceChannel(this.#o.prefix, owner));
    (cmd.call('PUBSUB', 'NUMSUB', ...channels) as Promise<(string | number)[]>).then((reply) => {
      const gone = new Set(owners.filter((_, i) => Number(reply[i * 2 + 1]) === 0));
      if (gone.size === 0) return;
      for (const [id, relay] of this.#relays) {
        if (!gone.has(relay.owner)) continue;
        this.#relays.delete(id);
        relay.sink.end();
      }
    }, noop);
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
    const what =
      error === undefined
        ? `the ${link} connection to Redis at ${where} was lost. `
        : `the ${link} connection cannot reach Redis at ${where} (${error.message}). `;
    this.#report(
      new Error(
        what +
          'POSTs for sessions held by other instances answer 503 and broadcasts stay on this instance until it is back; ' +
          'sessions of this instance keep working. Retrying in the background.',
        { cause: error },
      ),
    );
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
