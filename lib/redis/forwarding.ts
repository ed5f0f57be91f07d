// Forwarding: hands a message to the instance holding its session and waits for that instance's acknowledgement.
import type { BusNode, Delivery, DeliveryResult } from '../bus.js';
import type { RedisLinks } from './connection.js';
import type { SessionDirectory } from './directory.js';
import type { ResolvedRedisOptions } from './options.js';
import type { Outgoing } from './outgoing.js';
import { encodeAck, encodeDeliver, instanceChannel, type DeliverMessage } from './protocol.js';

/** Counters shared by the parts of a bus. */
export interface BusCounters {
  forwarded: number;
  forwardRefused: number;
  received: number;
  broadcastsSent: number;
  broadcastsReceived: number;
}

/**
 * Encodes the message for the owner, given the correlation id its acknowledgement will carry, the owner's id, and
 * whether the owner reads envelopes.
 */
export type Encode = (id: string, owner: string, envelopes: boolean) => string;

interface Pending {
  resolve: (result: DeliveryResult) => void;
  timer: NodeJS.Timeout;
}

/**
 * Both ends of a forward. Sending: look the owner up, check the principal, publish on the owner's channel and wait
 * (at most `forwardTimeoutMs`) for its acknowledgement; each message for a session is queued (`Outgoing`) only once
 * the previous one was, so the owner receives a session's messages in the order this instance received them (the
 * queue, one commands and one subscriber connection keep that order). Receiving: deliver to the local session and
 * acknowledge.
 */
export class Forwarder {
  readonly #links: RedisLinks;
  readonly #outgoing: Outgoing;
  readonly #directory: SessionDirectory;
  readonly #o: Pick<ResolvedRedisOptions, 'prefix' | 'instanceId' | 'forwardTimeoutMs'>;
  readonly #counters: BusCounters;
  readonly #pending = new Map<string, Pending>();
  /** Per session, the forward whose PUBLISH the next one waits for. */
  readonly #tails = new Map<string, Promise<void>>();
  /** Per session, the owner that last failed to take a forward (durable adoption asks: relay to it again or not). */
  readonly #failedOwners = new Map<string, string>();
  #nextId = 0;

  constructor(
    links: RedisLinks,
    outgoing: Outgoing,
    directory: SessionDirectory,
    options: Pick<ResolvedRedisOptions, 'prefix' | 'instanceId' | 'forwardTimeoutMs'>,
    counters: BusCounters,
  ) {
    this.#links = links;
    this.#outgoing = outgoing;
    this.#directory = directory;
    this.#o = options;
    this.#counters = counters;
  }

  /** Forwards a POST's messages (HTTP+SSE) to the owner of `sessionId`. */
  forward(sessionId: string, delivery: Delivery): Promise<DeliveryResult> {
    return this.send(sessionId, delivery.principalId, (id) => encodeDeliver(id, this.#o.instanceId, sessionId, delivery));
  }

  /**
   * Publishes what `encode` makes for the owner of `sessionId`, in order, and resolves with its acknowledgement
   * (`unavailable` when none comes in time). `abandoned()` is asked just before publishing: true skips it.
   */
  send(
    sessionId: string,
    principalId: string | undefined,
    encode: Encode,
    abandoned?: () => boolean,
    /** An instance to send to whatever the directory says (a draining instance asks a live one to adopt). */
    target?: string,
  ): Promise<DeliveryResult> {
    if (!this.#links.ready) {
      this.#counters.forwardRefused++;
      return Promise.resolve('unavailable');
    }
    const previous = this.#tails.get(sessionId);
    const send = () => this.#publish(sessionId, principalId, encode, abandoned, target);
    const sending = previous === undefined ? send() : previous.then(send);
    const tail = sending.then(noop, noop);
    this.#tails.set(sessionId, tail);
    void tail.then(() => {
      if (this.#tails.get(sessionId) === tail) this.#tails.delete(sessionId);
    });
    return sending
      .then((sent) => sent.outcome)
      .then((result) => {
        if (result === 'accepted') this.#counters.forwarded++;
        else this.#counters.forwardRefused++;
        return result;
      });
  }

  /** The owner that last failed to take a forward for `sessionId`, once: adoption does not relay to it again. */
  takeFailedOwner(sessionId: string): string | undefined {
    const owner = this.#failedOwners.get(sessionId);
    this.#failedOwners.delete(sessionId);
    return owner;
  }

  /** An acknowledgement arrived (or its wait is over). */
  settle(id: string, result: DeliveryResult): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(result);
  }

  /** Hands a forwarded delivery to the local session and acknowledges it. */
  deliver(node: BusNode, message: DeliverMessage, report: (error: Error) => void): void {
    let result: DeliveryResult;
    try {
      result = node.deliver(message.sessionId, message.delivery);
    } catch (error) {
      report(new Error(`delivering a forwarded message failed: ${(error as Error).message}`, { cause: error }));
      result = 'unavailable';
    }
    if (result === 'accepted') this.#counters.received++;
    // Not connected: the sender times out and answers 503.
    this.#outgoing.send(
      instanceChannel(this.#o.prefix, message.reply),
      encodeAck(message.id, result),
      message.envelopes,
      'could not acknowledge a forwarded message',
    );
  }

  /** Every wait ends with `unavailable`. */
  close(): void {
    for (const id of [...this.#pending.keys()]) this.settle(id, 'unavailable');
  }

  /** Resolves once queued for publishing (or refused), with the acknowledgement to come: the next message may go then. */
  async #publish(
    sessionId: string,
    principalId: string | undefined,
    encode: Encode,
    abandoned: (() => boolean) | undefined,
    target: string | undefined,
  ): Promise<{ outcome: Promise<DeliveryResult> }> {
    const done = (result: DeliveryResult) => ({ outcome: Promise.resolve(result) });
    const owner = target === undefined ? await this.#directory.lookup(sessionId) : { instanceId: target, principalId: undefined };
    if (typeof owner === 'string') return done(owner);
    // The router looked locally first; an entry naming this instance is a session that just closed here.
    if (owner.instanceId === this.#o.instanceId) return done('unknown');
    if (owner.principalId !== undefined && principalId !== undefined && owner.principalId !== principalId) return done('forbidden');
    if (!this.#links.ready || this.#links.commands === undefined) return done('unavailable');
    // The client left while the owner was looked up: nothing is published, so the owner has nothing to cancel.
    if (abandoned?.() === true) return done('unavailable');

    const id = `${++this.#nextId}`;
    const acked = new Promise<DeliveryResult>((resolve) => {
      const timer = setTimeout(() => this.settle(id, 'unavailable'), this.#o.forwardTimeoutMs);
      timer.unref();
      this.#pending.set(id, { resolve, timer });
    });
    const envelopes = owner.envelopes === true;
    this.#outgoing.send(
      instanceChannel(this.#o.prefix, owner.instanceId),
      encode(id, owner.instanceId, envelopes),
      envelopes,
      'could not forward a message to the instance holding its session',
      (receivers) => {
        // Not sent, or nobody listens on the owner's channel: it died (its entry expires within directoryTtlMs) or
        // is reconnecting.
        if (receivers === undefined || receivers === 0) this.settle(id, 'unavailable');
      },
    );
    // Bounded by forwardTimeoutMs even when the PUBLISH itself hangs (a given client with an offline queue).
    const outcome = acked.then((result) => {
      if (result !== 'accepted') {
        this.#directory.forget(sessionId);
        if (this.#failedOwners.size >= 10_000) this.#failedOwners.delete(this.#failedOwners.keys().next().value!);
        this.#failedOwners.set(sessionId, owner.instanceId);
      }
      return result;
    });
    return { outcome };
  }
}

function noop(): void {}
