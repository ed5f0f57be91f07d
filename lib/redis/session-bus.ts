// RedisSessionBus: the SessionBus for several processes, composed of its parts (links, directory, forwarding, relays, broadcasts).
import type { AdoptResult, BusNode, BusSession, Delivery, DeliveryResult, RelayedRequest, RelayHandle, RelaySink, SessionBus } from '../bus.js';
import { log as rootLog } from '../log.js';
import { Broadcasts } from './broadcast.js';
import { RedisLinks } from './connection.js';
import { SessionDirectory } from './directory.js';
import { Adopter } from './durable-adopt.js';
import { DurableJournal } from './durable-journal.js';
import { Forwarder, type BusCounters } from './forwarding.js';
import type { ResolvedRedisOptions } from './options.js';
import { Outgoing } from './outgoing.js';
import { broadcastChannel, decodeInstanceMessage, instanceChannel, openEnvelope } from './protocol.js';
import { FrontRelays } from './relay-front.js';
import { OwnerRelays } from './relay-owner.js';

const log = rootLog.extend('redis');

/** How long a request reaching an instance that has just started waits for its Redis links (then 503 as usual). */
const FIRST_READY_WAIT_MS = 1000;

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

/** The parts of an attached bus. */
interface Parts {
  node: BusNode;
  links: RedisLinks;
  outgoing: Outgoing;
  directory: SessionDirectory;
  forwarder: Forwarder;
  front: FrontRelays;
  owner: OwnerRelays;
  broadcasts: Broadcasts;
  adopter: Adopter;
  refresh: NodeJS.Timeout;
}

/**
 * Keeps a directory `sessionId → { instance, principal }` in Redis with a TTL this instance refreshes, forwards
 * POSTs for sessions of other instances over pub/sub and waits for the owner's acknowledgement, relays Streamable
 * HTTP requests and their answers, and relays broadcasts. Create one per router with `redisSessionBus()`.
 */
export class RedisSessionBus implements SessionBus {
  /** This instance's id in the directory. */
  readonly instanceId: string;
  readonly #o: ResolvedRedisOptions;
  readonly #counters: BusCounters = { forwarded: 0, forwardRefused: 0, received: 0, broadcastsSent: 0, broadcastsReceived: 0 };
  #parts: Parts | undefined;
  #closed = false;
  /** Durable sessions (`durable: true`): what the core records, for another instance to adopt its sessions. */
  readonly journal: DurableJournal | undefined;

  /** @internal Use `redisSessionBus()`. */
  constructor(options: ResolvedRedisOptions) {
    this.#o = options;
    this.instanceId = options.instanceId;
    this.journal = options.durable ? new DurableJournal(() => this.#parts?.links, options) : undefined;
  }

  /** Counters since the bus was attached, and whether it is connected now. */
  stats(): RedisBusStats {
    const p = this.#parts;
    return {
      sessions: p?.directory.size ?? 0,
      ...this.#counters,
      relaysOpen: (p?.front.size ?? 0) + (p?.owner.size ?? 0),
      connected: p !== undefined && !this.#closed && p.links.ready,
    };
  }

  attach(node: BusNode): void {
    if (this.#parts !== undefined) {
      throw new Error('This Redis session bus is already attached to a router; create one redisSessionBus() per router.');
    }
    if (this.#closed) throw new Error('This Redis session bus was closed; create a new one.');
    const o = this.#o;
    const report = (error: Error) => {
      log('%s', error.message);
      node.reportError(error);
    };
    const own = instanceChannel(o.prefix, o.instanceId);
    let parts: Parts | undefined;
    const links = new RedisLinks(o, [own, broadcastChannel(o.prefix)], {
      commandsReady: (afterOutage) => {
        parts?.directory.resync(afterOutage);
        if (afterOutage) this.journal?.resync();
      },
      message: (channel, message) => parts !== undefined && this.#onMessage(parts, channel, message, report),
      report,
    });
    const outgoing = new Outgoing(links);
    const directory = new SessionDirectory(links, o);
    const forwarder = new Forwarder(links, outgoing, directory, o, this.#counters);
    const front = new FrontRelays(links, outgoing, forwarder, o);
    const refresh = setInterval(() => {
      directory.refresh();
      front.checkOwners();
      this.journal?.refresh();
    }, directory.refreshEveryMs);
    refresh.unref();
    parts = {
      node,
      links,
      outgoing,
      directory,
      forwarder,
      front,
      owner: new OwnerRelays(outgoing, o, this.#counters),
      broadcasts: new Broadcasts(links, o, this.#counters, report),
      adopter: new Adopter(links, o),
      refresh,
    };
    this.#parts = parts;
    // The commands connection may have been ready before the parts existed (a given, connected client).
    if (links.commands !== undefined) directory.resync(false);
  }

  sessionOpened(session: BusSession): void {
    if (this.#closed) return;
    this.#parts?.directory.opened(session);
    this.journal?.opened(session);
  }

  sessionClosed(sessionId: string): void {
    this.#parts?.directory.closed(sessionId);
    this.journal?.closed(sessionId);
  }

  async adopt(ref: { sessionId: string } | { streamKey: string }, principalId: string | undefined): Promise<AdoptResult> {
    if (this.journal === undefined || this.#parts === undefined || this.#closed) return { result: 'unknown' };
    try {
      const failedOwner = 'sessionId' in ref ? this.#parts.forwarder.takeFailedOwner(ref.sessionId) : undefined;
      const adopted = await this.#parts.adopter.adopt(ref, principalId, failedOwner);
      if (adopted.result === 'adopt') {
        // The lease goes only after the record names this instance (the journal writes it on the same connection,
        // before the DEL): an instance that takes the lease next sees the new owner, not the dead one.
        const release = adopted.session.done;
        const journal = this.journal;
        adopted.session.done = () => void journal.flush().then(release, release);
      }
      return adopted;
    } catch (error) {
      this.#parts.node.reportError(new Error(`could not adopt a durable session: ${(error as Error).message}`, { cause: error }));
      return { result: 'unavailable' };
    }
  }

  async forward(sessionId: string, delivery: Delivery): Promise<DeliveryResult> {
    if (this.#parts === undefined || this.#closed) return 'unavailable';
    await this.#parts.links.whenFirstReady(FIRST_READY_WAIT_MS);
    return this.#parts.forwarder.forward(sessionId, delivery);
  }

  async relay(
    sessionId: string,
    request: RelayedRequest,
    sink: RelaySink,
    signal?: AbortSignal,
    to?: 'any',
  ): Promise<{ result: DeliveryResult; handle?: RelayHandle }> {
    const p = this.#parts;
    if (p === undefined || this.#closed) return { result: 'unavailable' };
    // Just started: the first requests wait for the connections rather than fail.
    await p.links.whenFirstReady(FIRST_READY_WAIT_MS);
    if (signal?.aborted) return { result: 'unavailable' };
    if (to !== 'any') return p.front.relay(sessionId, request, sink, signal);
    const target = this.journal === undefined ? undefined : await this.#liveInstance(p);
    if (target === undefined) return { result: 'unavailable' };
    return p.front.relay(sessionId, request, sink, signal, target);
  }

  /** Another instance listening now (one at random), or `undefined` when there is none. */
  async #liveInstance(p: Parts): Promise<string | undefined> {
    const cmd = p.links.commands;
    if (cmd === undefined) return undefined;
    const own = instanceChannel(this.#o.prefix, this.instanceId);
    const start = instanceChannel(this.#o.prefix, '');
    const channels = ((await cmd.call('PUBSUB', 'CHANNELS', `${start}*`).catch(() => [])) as string[]).filter((c) => c !== own);
    if (channels.length === 0) return undefined;
    return channels[Math.floor(Math.random() * channels.length)]!.slice(start.length);
  }

  publishBroadcast(json: string): void {
    if (!this.#closed) this.#parts?.broadcasts.publish(json);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const p = this.#parts;
    if (p === undefined) return;
    clearInterval(p.refresh);
    await this.journal?.flush();
    p.links.quiet();
    p.forwarder.close();
    // Relayed answers stop here: a client still waiting for its head gets 503, a stream ends (its client resumes
    // through another instance); their owners stop serving them. Answers served here end, their fronts hear it.
    p.front.close();
    p.owner.close();
    // What they sent (cancels, the last pieces of answers) leaves now, while Redis is still connected.
    p.outgoing.flush();
    await p.directory.close();
    await p.links.close();
  }

  #onMessage(p: Parts, channel: string, message: string, report: (error: Error) => void): void {
    if (this.#closed) return;
    if (channel === p.broadcasts.channel) return p.broadcasts.receive(p.node, message);
    const messages = openEnvelope(message);
    if (messages === undefined) return this.#malformed(channel, report);
    for (const one of messages) this.#onInstanceMessage(p, channel, one, report);
  }

  #malformed(channel: string, report: (error: Error) => void): void {
    report(new Error(`ignored a malformed message on ${channel}; do other programs publish there? Use another "prefix".`));
  }

  #onInstanceMessage(p: Parts, channel: string, message: string, report: (error: Error) => void): void {
    const decoded = decodeInstanceMessage(message);
    if (decoded === undefined) return this.#malformed(channel, report);
    switch (decoded.type) {
      case 'ack':
        return p.forwarder.settle(decoded.id, decoded.result);
      case 'deliver':
        return p.forwarder.deliver(p.node, decoded, report);
      case 'relay':
        return p.owner.serve(p.node, decoded, report);
      case 'batch':
        // The first batch of a relayed answer carries the owner's acknowledgement.
        if (decoded.result !== undefined) p.forwarder.settle(decoded.id, decoded.result);
        return p.front.batch(decoded);
      case 'cancel':
        return p.owner.cancel(`${decoded.from} ${decoded.id}`);
      default:
        return p.front.answer(decoded);
    }
  }
}
