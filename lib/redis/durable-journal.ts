// DurableJournal: writes what rebuilding a session elsewhere takes to Redis, batched per tick, off the hot path.
import type { BusSession, DurableSession, SessionJournal } from '../bus.js';
import type { JSONRPCMessage } from '../types.js';
import { noop, withTimeout, type RedisLinks } from './connection.js';
import type { Redis } from './ioredis.js';
import type { ResolvedRedisOptions } from './options.js';

/** Keys of one durable session: its record (hash), state requests (list), frames (stream); and key → id, lease. */
export const durableKeys = (prefix: string, sessionId: string) => ({
  record: `${prefix}:durable:${sessionId}`,
  state: `${prefix}:durable:${sessionId}:state`,
  frames: `${prefix}:durable:${sessionId}:frames`,
  lease: `${prefix}:durable:${sessionId}:lease`,
});
/** Key mapping a session's event-id key to its id: a legacy resume (`GET /sse` + `Last-Event-ID`) knows only the former. */
export const streamKeyKey = (prefix: string, streamKey: string): string => `${prefix}:durable-key:${streamKey}`;

/** Client requests that change what a session is, replayed in order on adoption. */
const stateMethods = new Set(['logging/setLevel', 'resources/subscribe', 'resources/unsubscribe']);
/** Stored state requests per session at most (a client that re-subscribes forever must not grow it without end). */
const MAX_STATE_REQUESTS = 1000;
/** Stored entries per session at most, however small (besides the bound in bytes). */
const MAX_ENTRIES = 10_000;

/**
 * Appends a turn's entries to a session's frames stream in one command (three XADDs as one script call cost the
 * instance a third of the client work). KEYS: the frames stream. ARGV: MAXLEN, then triples: stream, seq (`''` for
 * a request's marker), then the frame or the request's id.
 */
const APPEND = 'mcpSseAppendFrames';
const APPEND_SCRIPT = `
for i = 2, #ARGV, 3 do
  if ARGV[i + 1] == '' then
    redis.call('xadd', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 's', ARGV[i], 'r', ARGV[i + 2])
  else
    redis.call('xadd', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 's', ARGV[i], 'q', ARGV[i + 1], 'f', ARGV[i + 2])
  end
end
return 1`;
type Appending = Record<typeof APPEND, (key: string, maxLen: number, ...entries: (string | number)[]) => Promise<unknown>>;

/** Teaches the commands client the append script (ioredis runs it by its SHA and loads it when Redis lacks it). */
function defineAppend(cmd: Redis): void {
  if (typeof (cmd as unknown as Partial<Appending>)[APPEND] !== 'function') cmd.defineCommand(APPEND, { numberOfKeys: 1, lua: APPEND_SCRIPT });
}

/** One local session's bookkeeping. */
interface Entry {
  durable: DurableSession;
  /** Time to live of its keys: how long it waits for its client, plus the directory's TTL. */
  ttlMs: number;
  /** Released on drain: closing it keeps what is stored, for another instance to adopt. */
  released: boolean;
  /** Sizes of the stored entries this instance wrote, oldest first from `head`, and their total: the bound in bytes. */
  sizes: number[];
  head: number;
  bytes: number;
  /** Entries to keep, once the oldest were dropped to stay within `maxBufferedBytes`: trimmed at the next flush. */
  trimTo: number | undefined;
  /** When its keys' TTLs were last extended. */
  refreshedAt: number;
  /** Its keys, made once. */
  keys: ReturnType<typeof durableKeys>;
  /** Commands queued for the next flush (frames aside). */
  queue: (string | number)[][];
  /** Entries for its frames stream queued for the next flush, three values each: stream, seq (`''`: a request's
   * marker), then the frame (or the request's id); one script call appends them all. */
  appends: (string | number)[];
  /** What the record holds (`owner` and `released` aside), the client's `initialize` and state requests, and the
   * highest stream and event numbers used: written again if Redis lost them (it restarted empty). */
  record: (string | number)[];
  initialize: string | undefined;
  state: string[];
  lastStream: number;
  lastSeq: number;
}

/**
 * Writes a session's record, state requests and event-id key again, unless another instance owns it now (this one
 * was cut off from Redis long enough to be taken for dead). KEYS: record, state, key → id. ARGV: owner, ttl, session
 * id, number of record fields (name, value, …), the fields, then the state requests.
 */
const REWRITE = `
local owner = redis.call('hget', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[4])
redis.call('hset', KEYS[1], 'owner', ARGV[1], 'released', '0', unpack(ARGV, 5, 4 + n))
redis.call('pexpire', KEYS[1], ARGV[2])
redis.call('del', KEYS[2])
if #ARGV > 4 + n then
  redis.call('rpush', KEYS[2], unpack(ARGV, 5 + n))
  redis.call('pexpire', KEYS[2], ARGV[2])
end
redis.call('set', KEYS[3], ARGV[3], 'PX', ARGV[2])
return 1`;

/**
 * The write side of durable sessions. `opened` stores the record; `message` and `frame` queue commands that one
 * pipeline writes on the next tick (a crash loses at most that tick); `closed` deletes it all, unless the router
 * released its sessions for others to adopt.
 */
export class DurableJournal implements SessionJournal {
  /** The bus's links, once it is attached (the router takes the journal before). */
  readonly #linksOf: () => RedisLinks | undefined;
  readonly #o: Pick<ResolvedRedisOptions, 'prefix' | 'instanceId' | 'directoryTtlMs'>;
  readonly #sessions = new Map<string, Entry>();
  readonly #dirty = new Set<string>();
  #scheduled = false;
  #releasing: Promise<void> | undefined;

  constructor(links: () => RedisLinks | undefined, options: Pick<ResolvedRedisOptions, 'prefix' | 'instanceId' | 'directoryTtlMs'>) {
    this.#linksOf = links;
    this.#o = options;
  }

  /** A session now lives here (new, or adopted): its record names this instance as owner. */
  opened(session: BusSession): void {
    const durable = session.durable;
    if (durable === undefined) return;
    // `0` (never idle) still expires in Redis: a day after its owner stopped refreshing it.
    const ttlMs = (durable.ttlMs > 0 ? durable.ttlMs : 86_400_000) + this.#o.directoryTtlMs;
    const record: (string | number)[] = ['transport', durable.transport, 'streamKey', durable.streamKey];
    if (session.principalId !== undefined) record.push('principal', session.principalId);
    if (durable.protocolVersion !== undefined) record.push('version', durable.protocolVersion);
    if (durable.endpoint !== undefined) record.push('endpoint', durable.endpoint);
    const { restored } = durable;
    const entry: Entry = {
      durable,
      ttlMs,
      released: false,
      sizes: [],
      head: 0,
      bytes: 0,
      trimTo: undefined,
      refreshedAt: 0,
      keys: durableKeys(this.#o.prefix, session.sessionId),
      queue: [],
      appends: [],
      record,
      initialize: restored?.initialize === undefined ? undefined : JSON.stringify(restored.initialize),
      state: restored?.stateRequests.map((message) => JSON.stringify(message)) ?? [],
      lastStream: 0,
      lastSeq: 0,
    };
    this.#sessions.set(session.sessionId, entry);
    const { keys } = entry;
    if (durable.adopted) {
      entry.queue.push(['hset', keys.record, 'owner', this.#o.instanceId, 'released', '0']);
    } else {
      entry.queue.push(
        ['hset', keys.record, 'owner', this.#o.instanceId, 'released', '0', ...record],
        ['set', streamKeyKey(this.#o.prefix, durable.streamKey), session.sessionId, 'PX', ttlMs],
      );
    }
    this.#touch(session.sessionId);
  }

  message(sessionId: string, message: JSONRPCMessage, stream: number): void {
    const entry = this.#sessions.get(sessionId);
    if (entry === undefined || message.method === undefined) return;
    const { keys } = entry;
    if (message.method === 'initialize') {
      entry.initialize = JSON.stringify(message);
      entry.queue.push(['hset', keys.record, 'initialize', entry.initialize]);
    } else if (stateMethods.has(message.method)) {
      const json = JSON.stringify(message);
      if (entry.state.push(json) > MAX_STATE_REQUESTS) entry.state.shift();
      entry.queue.push(['rpush', keys.state, json], ['ltrim', keys.state, -MAX_STATE_REQUESTS, -1]);
    }
    if (stream > entry.lastStream) entry.lastStream = stream;
    // A request marks its stream: one whose answer never got stored died with its instance (request_lost).
    if (message.id !== undefined && entry.durable.transport === 'streamable-http') {
      const id = JSON.stringify(message.id);
      entry.appends.push(stream, '', id);
      stored(entry, id.length + 16);
    }
    this.#touch(sessionId);
  }

  frame(sessionId: string, stream: number, seq: number, frame: string): void {
    const entry = this.#sessions.get(sessionId);
    if (entry === undefined) return;
    if (stream > entry.lastStream) entry.lastStream = stream;
    if (seq > entry.lastSeq) entry.lastSeq = seq;
    entry.appends.push(stream, seq, frame);
    stored(entry, Buffer.byteLength(frame));
    this.#touch(sessionId);
  }

  /** The session ended for good: its stored state goes, unless this instance released it for adoption. */
  closed(sessionId: string): void {
    const entry = this.#sessions.get(sessionId);
    if (entry === undefined) return;
    this.#sessions.delete(sessionId);
    this.#dirty.delete(sessionId);
    if (entry.released) return;
    const keys = durableKeys(this.#o.prefix, sessionId);
    const links = this.#linksOf();
    links?.commands
      ?.del(keys.record, keys.state, keys.frames, streamKeyKey(this.#o.prefix, entry.durable.streamKey))
      .catch((error: Error) => links.problem('commands', 'could not delete a closed durable session (it expires)', error));
  }

  async release(sessionId: string): Promise<void> {
    const entry = this.#sessions.get(sessionId);
    if (entry === undefined || entry.released) return;
    entry.released = true;
    entry.queue.push(['hset', entry.keys.record, 'released', '1']);
    this.#dirty.add(sessionId);
    // Sessions released together share one flush.
    this.#releasing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.#releasing = undefined;
      return withTimeout(this.flush(), 1000).then(noop);
    });
    await this.#releasing;
  }

  /**
   * The commands connection is back after an outage: Redis may have restarted empty, so every session held here
   * (not released) is written again (record, `initialize`, state requests, highest ids used), keeping them
   * adoptable. Frames stored before the outage are not written again: a resume from before it may find a gap.
   */
  resync(): void {
    const links = this.#linksOf();
    const cmd = links?.commands;
    if (cmd === undefined || this.#sessions.size === 0) return;
    const pipeline = cmd.pipeline();
    for (const [sessionId, entry] of this.#sessions) {
      if (entry.released) continue;
      const keys = durableKeys(this.#o.prefix, sessionId);
      const record = [...entry.record, 'stream', entry.lastStream, 'seq', entry.lastSeq];
      if (entry.initialize !== undefined) record.push('initialize', entry.initialize);
      pipeline.eval(
        REWRITE,
        3,
        keys.record,
        keys.state,
        streamKeyKey(this.#o.prefix, entry.durable.streamKey),
        this.#o.instanceId,
        entry.ttlMs,
        sessionId,
        record.length,
        ...record,
        ...entry.state,
      );
      entry.refreshedAt = Date.now();
    }
    pipeline
      .exec()
      .then(noop)
      .catch((error: Error) =>
        links!.problem('commands', 'could not store durable sessions again after reconnecting (a crash now would lose them)', error),
      );
  }

  /** Extends the TTL of the sessions that were quiet for a third of it; called with the directory's refresh. */
  refresh(): void {
    const now = Date.now();
    for (const [sessionId, entry] of this.#sessions) if (now - entry.refreshedAt > entry.ttlMs / 3) this.#touch(sessionId);
  }

  /** Writes every queued command in one pipeline. Resolves once written (or failed: reported, never thrown). */
  flush(): Promise<void> {
    this.#scheduled = false;
    const links = this.#linksOf();
    const cmd = links?.commands;
    if (this.#dirty.size === 0) return Promise.resolve();
    if (cmd === undefined) {
      // Redis is down: what was queued is lost (a crash meanwhile loses those frames), the sessions live on.
      for (const id of this.#dirty) {
        const entry = this.#sessions.get(id);
        if (entry === undefined) continue;
        entry.queue = [];
        entry.appends = [];
      }
      this.#dirty.clear();
      return Promise.resolve();
    }
    defineAppend(cmd);
    const now = Date.now();
    const failed = (error: Error) => links!.problem('commands', 'could not store durable session state (a crash now would lose it)', error);
    // The usual turn: one session with frames to append and nothing else: one command, no pipeline.
    if (this.#dirty.size === 1) {
      const entry = this.#sessions.get(this.#dirty.values().next().value!);
      if (entry !== undefined && entry.queue.length === 0 && entry.trimTo === undefined && now - entry.refreshedAt <= entry.ttlMs / 3) {
        this.#dirty.clear();
        const appends = entry.appends;
        entry.appends = [];
        if (appends.length === 0) return Promise.resolve();
        return (cmd as unknown as Appending)[APPEND](entry.keys.frames, MAX_ENTRIES, ...appends).then(noop, failed);
      }
    }
    const pipeline = cmd.pipeline();
    for (const sessionId of this.#dirty) {
      const entry = this.#sessions.get(sessionId);
      if (entry === undefined) continue;
      for (const command of entry.queue) pipeline.call(...(command as [string, ...(string | number)[]]));
      entry.queue = [];
      if (entry.appends.length > 0) {
        (pipeline as unknown as Appending)[APPEND](entry.keys.frames, MAX_ENTRIES, ...entry.appends);
        entry.appends = [];
      }
      if (entry.trimTo !== undefined) {
        pipeline.xtrim(entry.keys.frames, 'MAXLEN', entry.trimTo);
        entry.trimTo = undefined;
      }
      if (now - entry.refreshedAt > entry.ttlMs / 3) {
        entry.refreshedAt = now;
        const { keys } = entry;
        for (const key of [keys.record, keys.state, keys.frames, streamKeyKey(this.#o.prefix, entry.durable.streamKey)]) {
          pipeline.pexpire(key, entry.ttlMs);
        }
      }
    }
    this.#dirty.clear();
    return pipeline.exec().then(noop, failed);
  }

  #touch(sessionId: string): void {
    this.#dirty.add(sessionId);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => void this.flush());
  }
}

/**
 * Counts an entry queued for the session's stream; past `maxBufferedBytes`, the oldest go (as from the replay
 * buffer), and the next flush trims the stream to exactly the entries left.
 */
function stored(entry: Entry, size: number): void {
  entry.sizes.push(size);
  entry.bytes += size;
  // Beyond MAX_ENTRIES the XADDs' own MAXLEN trims the stream: forgotten here too.
  if (entry.sizes.length - entry.head > MAX_ENTRIES) entry.bytes -= entry.sizes[entry.head++]!;
  const limit = entry.durable.maxBufferedBytes;
  if (entry.bytes > limit) {
    while (entry.bytes > limit && entry.head < entry.sizes.length) entry.bytes -= entry.sizes[entry.head++]!;
    entry.trimTo = entry.sizes.length - entry.head;
  }
  // Forgotten sizes leave the array in bulk, not one shift() per entry.
  if (entry.head > 1024 && entry.head * 2 > entry.sizes.length) {
    entry.sizes = entry.sizes.slice(entry.head);
    entry.head = 0;
  }
}
