// OwnerRelays: requests other instances relay to this one's sessions, served here and answered back piece by piece.
import type { BusNode, DeliveryResult, RelayHandle, RelaySink } from '../bus.js';
import type { BusCounters } from './forwarding.js';
import type { ResolvedRedisOptions } from './options.js';
import type { LateSender, Outgoing, Published } from './outgoing.js';
import { encodeAck, encodeRelayAnswer, encodeRelayBatch, instanceChannel, type RelayBatch, type RelayMessage } from './protocol.js';

const couldNotAnswer = 'could not stream an answer back to the instance holding its client';

/**
 * The session's owner: serves a relayed request as if it had arrived here, publishes the acknowledgement and the
 * answer on the relaying instance's channel, and stops serving it (as when a local client leaves) on a cancel, or
 * as soon as a piece of the answer reaches no one: the relaying instance is gone, and its client with it.
 */
export class OwnerRelays {
  readonly #outgoing: Outgoing;
  readonly #o: Pick<ResolvedRedisOptions, 'prefix'>;
  readonly #counters: BusCounters;
  /** Answers this instance streams for other instances' clients: `<instance> <id>` → how to stop serving it. */
  readonly #served = new Map<string, Served>();

  constructor(outgoing: Outgoing, options: Pick<ResolvedRedisOptions, 'prefix'>, counters: BusCounters) {
    this.#outgoing = outgoing;
    this.#o = options;
    this.#counters = counters;
  }

  /** Answers streaming now. */
  get size(): number {
    return this.#served.size;
  }

  serve(node: BusNode, message: RelayMessage, report: (error: Error) => void): void {
    const key = `${message.reply} ${message.id}`;
    const channel = instanceChannel(this.#o.prefix, message.reply);
    // Nobody listens on the relaying instance's channel: it died, so its client is gone. Stop serving it.
    const published: Published = (receivers) => {
      if (receivers === 0) this.cancel(key);
    };
    const publish = (payload: string) => this.#outgoing.send(channel, payload, message.envelopes, couldNotAnswer, published);
    // An answer's end is published once, and only while it is still served (not after a cancel).
    const forget = () => this.#served.delete(key);
    const out = message.batches ? new Outbox(message.id, this.#outgoing, publish, forget) : new Pieces(message.id, publish, forget);
    const served: Served = { handle: undefined };
    // Present before serving, so that an answer ending at once is forgotten at once.
    this.#served.set(key, served);
    let outcome: ReturnType<BusNode['serve']>;
    try {
      outcome = node.serve(message.sessionId, message.request, out);
    } catch (error) {
      report(new Error(`serving a relayed request failed: ${(error as Error).message}`, { cause: error }));
      outcome = { result: 'unavailable' };
    }
    if (outcome.result !== 'accepted') this.#served.delete(key);
    else served.handle = outcome.handle;
    if (outcome.result === 'accepted') this.#counters.received++;
    // The acknowledgement leaves with what the answer wrote meanwhile: often head, priming, response and end at once.
    out.acknowledge(outcome.result);
  }

  /** Stops serving an answer (`<instance> <id>`) whose client is gone, without publishing its end to nobody. */
  cancel(key: string): void {
    const served = this.#served.get(key);
    if (served === undefined) return;
    this.#served.delete(key);
    served.handle?.cancel();
  }

  /** This instance shuts down: every answer it serves ends (its end leaves with the next flush of `Outgoing`). */
  close(): void {
    for (const { handle } of [...this.#served.values()]) handle?.cancel();
    this.#served.clear();
  }
}

/** An answer this instance serves for another instance's client. */
interface Served {
  handle: RelayHandle | undefined;
}

/**
 * The sink of one relayed answer: the pieces not yet published. Everything written in one turn of the event loop
 * leaves as one message at its end (with the acknowledgement, for the first), in the same PUBLISH as the other
 * answers of that turn for the same instance: a Redis round trip per turn instead of one per piece.
 */
class Outbox implements RelaySink, LateSender {
  readonly #id: string;
  readonly #outgoing: Outgoing;
  readonly #publish: (payload: string) => void;
  readonly #forget: () => boolean;
  #result: DeliveryResult | undefined;
  #head: RelayBatch['head'];
  #data = '';
  #end = false;
  #scheduled = false;
  #done = false;

  constructor(id: string, outgoing: Outgoing, publish: (payload: string) => void, forget: () => boolean) {
    this.#id = id;
    this.#outgoing = outgoing;
    this.#publish = publish;
    this.#forget = forget;
  }

  acknowledge(result: DeliveryResult): void {
    this.#result = result;
    this.#schedule();
  }

  head(status: number, headers: Record<string, string>): void {
    this.#head = { status, headers };
    this.#schedule();
  }

  write(data: string): void {
    this.#data += data;
    this.#schedule();
  }

  /** The answer ended (once; a cancelled answer's end is not published: nobody waits for it). */
  end(data?: string): void {
    if (!this.#forget()) return;
    if (data !== undefined) this.#data += data;
    this.#end = true;
    this.#schedule();
  }

  /** Publishes what waits now (called by `Outgoing` at the end of the turn it was written in). */
  flush(): void {
    this.#scheduled = false;
    if (this.#done || (this.#result === undefined && this.#head === undefined && this.#data === '' && !this.#end)) return;
    const batch = { id: this.#id, result: this.#result, head: this.#head, data: this.#data, end: this.#end };
    this.#result = undefined;
    this.#head = undefined;
    this.#data = '';
    this.#done = this.#end;
    this.#publish(encodeRelayBatch(batch));
  }

  #schedule(): void {
    if (this.#scheduled || this.#done) return;
    this.#scheduled = true;
    this.#outgoing.later(this);
  }
}

/** The answer piece by piece, each its own message, for a relaying instance from before batching (rolling upgrades). */
class Pieces implements RelaySink {
  readonly #id: string;
  readonly #publish: (payload: string) => void;
  readonly #forget: () => boolean;

  constructor(id: string, publish: (payload: string) => void, forget: () => boolean) {
    this.#id = id;
    this.#publish = publish;
    this.#forget = forget;
  }

  acknowledge(result: DeliveryResult): void {
    this.#publish(encodeAck(this.#id, result));
  }

  head(status: number, headers: Record<string, string>): void {
    this.#publish(encodeRelayAnswer({ type: 'head', id: this.#id, status, headers }));
  }

  write(data: string): void {
    this.#publish(encodeRelayAnswer({ type: 'chunk', id: this.#id, data }));
  }

  end(data?: string): void {
    if (!this.#forget()) return;
    this.#publish(encodeRelayAnswer(data === undefined ? { type: 'end', id: this.#id } : { type: 'end', id: this.#id, data }));
  }
}
