// Adoption: decides whether a stored session's owner is gone, takes the lease, and reads back what rebuilding it takes.
import type { AdoptableSession, AdoptResult } from '../bus.js';
import type { JSONRPCMessage } from '../types.js';
import type { RedisLinks } from './connection.js';
import { durableKeys, streamKeyKey } from './durable-journal.js';
import type { ResolvedRedisOptions } from './options.js';
import { decodeEntry, instanceChannel, sessionKey } from './protocol.js';

/** How long one instance may take to rebuild a session before another may try. */
const LEASE_MS = 10_000;
/** How long a request waits for another instance's adoption of its session before answering 503. */
const WAIT_FOR_ADOPTER_MS = 5000;

/**
 * Adopts a stored session for this instance when its owner is gone: it released the session (drain), or its
 * directory entry expired, or Redis shows nobody listening on its channel (it died). A `SET … NX PX` lease makes
 * sure only one instance rebuilds it; the others wait for the new owner and relay to it (`moved`).
 */
export class Adopter {
  readonly #links: RedisLinks;
  readonly #o: Pick<ResolvedRedisOptions, 'prefix' | 'instanceId'>;

  constructor(links: RedisLinks, options: Pick<ResolvedRedisOptions, 'prefix' | 'instanceId'>) {
    this.#links = links;
    this.#o = options;
  }

  /**
   * `failedOwner`: the instance a forward for this session just failed to reach; when it is still the owner and
   * alive (slow, not gone), the answer is `unavailable`, not `moved`, so the request is not relayed to it twice.
   */
  async adopt(ref: { sessionId: string } | { streamKey: string }, principalId: string | undefined, failedOwner?: string): Promise<AdoptResult> {
    const cmd = this.#links.commands;
    if (!this.#links.ready || cmd === undefined) return { result: 'unavailable' };
    const { prefix, instanceId } = this.#o;
    const sessionId = 'sessionId' in ref ? ref.sessionId : await cmd.get(streamKeyKey(prefix, ref.streamKey));
    if (sessionId === null) return { result: 'unknown' };
    const keys = durableKeys(prefix, sessionId);
    const record = await cmd.hgetall(keys.record);
    if (record.transport === undefined || record.streamKey === undefined) return { result: 'unknown' };
    // Principal binding holds across adoption: the same rule as a session's own (`McpSession.accepts`).
    if (record.principal !== undefined && principalId !== undefined && record.principal !== principalId) return { result: 'forbidden' };
    // Adopted here meanwhile (by a concurrent request): the caller finds it locally.
    if (record.owner === instanceId) return { result: 'moved', sessionId };
    if (await this.#ownerAlive(sessionId, record)) return record.owner === failedOwner ? { result: 'unavailable' } : { result: 'moved', sessionId };
    const leased = await cmd.set(keys.lease, instanceId, 'PX', LEASE_MS, 'NX');
    if (leased !== 'OK') return this.#waitForAdopter(sessionId, record.owner);
    // Another instance may have adopted it between the check above and the lease (it released the lease since).
    const now = await cmd.hgetall(keys.record);
    if (now.owner !== record.owner && (now.owner === instanceId || (await this.#ownerAlive(sessionId, now)))) {
      await cmd.del(keys.lease);
      return { result: 'moved', sessionId };
    }
    // Read after the lease: what the old owner wrote last is in.
    const [state, entries] = await Promise.all([cmd.lrange(keys.state, 0, -1), cmd.xrange(keys.frames, '-', '+')]);
    const session = rebuild(sessionId, record, state, entries);
    session.done = () => void cmd.del(keys.lease).catch(() => {});
    return { result: 'adopt', session };
  }

  /** The owner serves its sessions: it did not release them, its directory entry stands and it listens. */
  async #ownerAlive(sessionId: string, record: Record<string, string>): Promise<boolean> {
    if (record.released === '1' || record.owner === undefined) return false;
    const cmd = this.#links.commands!;
    const entry = await cmd.get(sessionKey(this.#o.prefix, sessionId));
    const decoded = entry === null ? undefined : decodeEntry(entry);
    if (decoded === undefined || decoded.instanceId !== record.owner) return false;
    const reply = (await cmd.call('PUBSUB', 'NUMSUB', instanceChannel(this.#o.prefix, record.owner))) as (string | number)[];
    return Number(reply[1]) > 0;
  }

  /** Another instance holds the lease: once it registered as the owner, the request is relayed to it. */
  async #waitForAdopter(sessionId: string, previousOwner: string | undefined): Promise<AdoptResult> {
    const cmd = this.#links.commands;
    const deadline = Date.now() + WAIT_FOR_ADOPTER_MS;
    while (cmd !== undefined && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      const entry = await cmd.get(sessionKey(this.#o.prefix, sessionId));
      const decoded = entry === null ? undefined : decodeEntry(entry);
      if (decoded !== undefined && decoded.instanceId !== previousOwner) return { result: 'moved', sessionId };
    }
    return { result: 'unavailable' };
  }
}

/** The stored session, as the router rebuilds it. */
function rebuild(sessionId: string, record: Record<string, string>, state: string[], entries: [string, string[]][]): AdoptableSession {
  const frames: AdoptableSession['frames'] = [];
  const requests = new Map<number, (string | number)[]>();
  const answered = new Set<string>();
  let lastSeq = 0;
  let lastStream = 0;
  for (const [, fields] of entries) {
    const entry = fieldsOf(fields);
    const stream = Number(entry.s);
    if (!Number.isSafeInteger(stream)) continue;
    lastStream = Math.max(lastStream, stream);
    if (entry.r !== undefined) {
      const id = parse(entry.r) as string | number | undefined;
      if (typeof id === 'string' || typeof id === 'number') requests.set(stream, [...(requests.get(stream) ?? []), id]);
      continue;
    }
    const seq = Number(entry.q);
    if (!Number.isSafeInteger(seq) || entry.f === undefined) continue;
    frames.push({ stream, seq, frame: entry.f });
    lastSeq = Math.max(lastSeq, seq);
    const id = responseIdOf(entry.f);
    if (id !== undefined) answered.add(`${stream} ${JSON.stringify(id)}`);
  }
  const lost = new Map<number, (string | number)[]>();
  for (const [stream, ids] of requests) {
    const missing = ids.filter((id) => !answered.has(`${stream} ${JSON.stringify(id)}`));
    if (missing.length > 0) lost.set(stream, missing);
  }
  // Ids written with the record after Redis lost the frames (see DurableJournal.resync): never reused.
  lastSeq = Math.max(lastSeq, safeInteger(record.seq));
  lastStream = Math.max(lastStream, safeInteger(record.stream));
  return {
    sessionId,
    principalId: record.principal,
    transport: record.transport === 'sse' ? 'sse' : 'streamable-http',
    protocolVersion: record.version,
    streamKey: record.streamKey!,
    endpoint: record.endpoint,
    ttlMs: 0,
    maxBufferedBytes: 0,
    adopted: true,
    initialize: record.initialize === undefined ? undefined : (parse(record.initialize) as JSONRPCMessage | undefined),
    stateRequests: state.map(parse).filter((m): m is JSONRPCMessage => typeof m === 'object' && m !== null),
    frames,
    lost,
    lastSeq,
    lastStream,
    done: () => {},
  };
}

function safeInteger(text: string | undefined): number {
  const value = Number(text);
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
}

function fieldsOf(fields: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]!] = fields[i + 1]!;
  return out;
}

/** The id of the response a frame carries, if it carries one (`data:` is one line of JSON in this package's frames). */
function responseIdOf(frame: string): string | number | undefined {
  const start = frame.indexOf('\ndata: ');
  const from = start === -1 ? (frame.startsWith('data: ') ? 6 : -1) : start + 7;
  if (from === -1) return undefined;
  const end = frame.indexOf('\n', from);
  const message = parse(frame.slice(from, end === -1 ? undefined : end)) as JSONRPCMessage | undefined;
  if (typeof message !== 'object' || message === null || message.method !== undefined) return undefined;
  return message.id;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
