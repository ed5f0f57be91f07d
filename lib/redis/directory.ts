// SessionDirectory: which instance holds which session, in Redis keys with a TTL this instance keeps refreshing.
import type { BusSession } from '../bus.js';
import { log as rootLog } from '../log.js';
import { noop, TIMED_OUT, withTimeout, type RedisLinks } from './connection.js';
import type { ResolvedRedisOptions } from './options.js';
import { decodeEntry, encodeEntry, sessionKey, type DirectoryEntry } from './protocol.js';

const log = rootLog.extend('redis');

/** A session's owner, or why there is none: `unknown` (404) or `unavailable` (503, cannot tell now). */
export type Lookup = DirectoryEntry | 'unknown' | 'unavailable';

/** Owner lookups are cached this long at most, so a burst of POSTs costs one directory read. */
const OWNER_CACHE_MS = 1000;
const OWNER_CACHE_SIZE = 10_000;
/** Sessions closed while Redis was down whose entries are deleted once it is back (the rest just expire). */
const PENDING_DELETES_MAX = 10_000;
/** Deletes a directory entry only if it is still this instance's (durable sessions move between instances). */
const DELETE_IF_MINE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

/**
 * Registers this instance's sessions (`sessionId → { instance, principal }`, `PX directoryTtlMs`), refreshes them
 * every third of the TTL and after a reconnect, and looks up other instances' sessions with a short cache. A
 * directory miss right after Redis came back answers 503, not 404: other instances may not have re-registered yet.
 */
export class SessionDirectory {
  /** How often entries are refreshed: a third of their TTL. */
  readonly refreshEveryMs: number;
  readonly #links: RedisLinks;
  readonly #o: Pick<ResolvedRedisOptions, 'prefix' | 'instanceId' | 'directoryTtlMs' | 'forwardTimeoutMs'>;
  /** This instance's sessions: id → encoded directory entry. */
  readonly #sessions = new Map<string, string>();
  readonly #pendingDeletes = new Set<string>();
  readonly #owners = new Map<string, { entry: DirectoryEntry; until: number }>();
  #graceUntil = 0;
  #closed = false;

  constructor(links: RedisLinks, options: Pick<ResolvedRedisOptions, 'prefix' | 'instanceId' | 'directoryTtlMs' | 'forwardTimeoutMs'>) {
    this.#links = links;
    this.#o = options;
    this.refreshEveryMs = Math.max(100, Math.floor(options.directoryTtlMs / 3));
  }

  /** Sessions of this instance in the directory. */
  get size(): number {
    return this.#sessions.size;
  }

  opened(session: BusSession): void {
    if (this.#closed) return;
    // This instance reads envelopes: instances relaying to it may send several messages in one PUBLISH.
    const value = encodeEntry({ instanceId: this.#o.instanceId, principalId: session.principalId, envelopes: true });
    this.#sessions.set(session.sessionId, value);
    this.#pendingDeletes.delete(session.sessionId);
    // While Redis is down the entry is written by the resync that follows the reconnect.
    this.#links.commands
      ?.set(this.#key(session.sessionId), value, 'PX', this.#o.directoryTtlMs)
      .catch((error: Error) => this.#links.problem('commands', 'could not register a session in the directory (the next refresh retries)', error));
  }

  closed(sessionId: string): void {
    const value = this.#sessions.get(sessionId);
    if (!this.#sessions.delete(sessionId) || this.#closed) return;
    const deleteLater = () => {
      if (this.#pendingDeletes.size < PENDING_DELETES_MAX) this.#pendingDeletes.add(sessionId);
    };
    const cmd = this.#links.commands;
    if (cmd === undefined) return deleteLater();
    // Only an entry that still names this instance: another one may have adopted the session meanwhile.
    (cmd.eval(DELETE_IF_MINE, 1, this.#key(sessionId), value!) as Promise<unknown>).catch(deleteLater);
  }

  /** Who holds `sessionId`, from a cache of at most a second or from Redis. */
  async lookup(sessionId: string): Promise<Lookup> {
    const now = Date.now();
    const cached = this.#owners.get(sessionId);
    if (cached !== undefined && cached.until > now) return cached.entry;
    const cmd = this.#links.commands;
    if (!this.#links.ready || cmd === undefined) return 'unavailable';
    let value: string | null | typeof TIMED_OUT;
    try {
      value = await withTimeout(cmd.get(this.#key(sessionId)), this.#o.forwardTimeoutMs);
    } catch (error) {
      this.#links.problem('commands', 'could not read the session directory', error as Error);
      return 'unavailable';
    }
    if (value === TIMED_OUT) return 'unavailable';
    if (value === null) return Date.now() < this.#graceUntil ? 'unavailable' : 'unknown';
    const entry = decodeEntry(value);
    if (entry === undefined) return 'unknown';
    if (this.#owners.size >= OWNER_CACHE_SIZE) this.#owners.delete(this.#owners.keys().next().value!);
    this.#owners.set(sessionId, { entry, until: now + Math.min(OWNER_CACHE_MS, this.refreshEveryMs) });
    return entry;
  }

  /** Drops a cached owner that did not answer, so the next request reads the directory again. */
  forget(sessionId: string): void {
    this.#owners.delete(sessionId);
  }

  /** The commands connection is (back) up: deletes what waited, rewrites every entry (Redis may have restarted empty). */
  resync(afterOutage: boolean): void {
    if (this.#closed) return;
    if (afterOutage) {
      // Until every instance has re-registered, a directory miss is not a 404.
      this.#graceUntil = Date.now() + this.refreshEveryMs + 1000;
      log('commands connection to Redis is back; re-registering %d sessions', this.#sessions.size);
    }
    this.#owners.clear();
    const cmd = this.#links.commands;
    if (cmd === undefined || (this.#sessions.size === 0 && this.#pendingDeletes.size === 0)) return;
    const pipeline = cmd.pipeline();
    for (const id of this.#pendingDeletes) pipeline.del(this.#key(id));
    this.#pendingDeletes.clear();
    this.#writeEntries(pipeline);
    pipeline
      .exec()
      .catch((error: Error) =>
        this.#links.problem('commands', 'could not re-register sessions after reconnecting (the next refresh retries)', error),
      );
  }

  /** Extends every entry's TTL; called every `refreshEveryMs`. */
  refresh(): void {
    const cmd = this.#links.commands;
    if (this.#closed || cmd === undefined || this.#sessions.size === 0) return;
    const pipeline = cmd.pipeline();
    this.#writeEntries(pipeline);
    pipeline.exec().catch((error: Error) => this.#links.problem('commands', 'could not refresh the session directory', error));
  }

  /** Deletes this instance's entries (within a second at most); later calls do nothing. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const entries = [...this.#sessions];
    const keys = [...this.#pendingDeletes].map((id) => this.#key(id));
    this.#sessions.clear();
    this.#pendingDeletes.clear();
    this.#owners.clear();
    const cmd = this.#links.commands;
    if (cmd === undefined || keys.length + entries.length === 0) return;
    const pipeline = cmd.pipeline();
    for (let i = 0; i < keys.length; i += 500) pipeline.del(...keys.slice(i, i + 500));
    for (const [id, value] of entries) pipeline.eval(DELETE_IF_MINE, 1, this.#key(id), value);
    await withTimeout(pipeline.exec().catch(noop), 1000);
  }

  #key(sessionId: string): string {
    return sessionKey(this.#o.prefix, sessionId);
  }

  #writeEntries(pipeline: ReturnType<NonNullable<RedisLinks['commands']>['pipeline']>): void {
    for (const [id, value] of this.#sessions) pipeline.set(this.#key(id), value, 'PX', this.#o.directoryTtlMs);
  }
}
