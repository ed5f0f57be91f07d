// OwnerRelays: requests other instances relay to this one's sessions, served here and answered back piece by piece.
import type { BusNode, DeliveryResult, RelayHandle } from '../bus.js';
import type { RedisLinks } from './connection.js';
import type { BusCounters } from './forwarding.js';
import type { ResolvedRedisOptions } from './options.js';
import { encodeRelayBatch, instanceChannel, type RelayBatch, type RelayMessage } from './protocol.js';

/**
 * The session's owner: serves a relayed request as if it had arrived here, publishes the acknowledgement and the
 * answer on the relaying instance's channel, and stops serving it (as when a local client leaves) on a cancel, or
 * as soon as a piece of the answer reaches no one: the relaying instance is gone, and its client with it.
 */
export class OwnerRelays {
  readonly #links: RedisLinks;
  readonly #o: Pick<ResolvedRedisOptions, 'prefix'>;
  readonly #counters: BusCounters;
  /** Answers this instance streams for other instances' clients: `<instance> <id>` → what waits to leave, how to stop. */
  readonly #served = new Map<string, { out: Outbox; handle?: RelayHandle }>();
  /** Outboxes with pieces waiting for the end of the tick (ended answers included). */
  readonly #unsent = new Set<Outbox>();

  constructor(links: RedisLinks, options: Pick<ResolvedRedisOptions, 'prefix'>, counters: BusCounters) {
    this.#links = links;
    this.#o = options;
    this.#counters = counters;
  }

  /** Answers streaming now. */
  get size(): number {
    return this.#served.size;
  }

  serve(node: BusNode, message: RelayMessage, report: (error: Error) => void): void {
    const key = `${message.reply} ${message.id}`;
    const out = new Outbox(message.id, this.#unsent, (payload) => {
      void this.#links
        .publish(instanceChannel(this.#o.prefix, message.reply), payload, 'could not stream an answer back to the instance holding its client')
        .then((receivers) => {
          // Nobody listens on the relaying instance's channel: it died, so its client is gone. Stop serving it.
          if (receivers === 0) this.cancel(key);
        });
    });
    // Present before serving, so that an answer ending at once is forgotten at once.
    const served: { out: Outbox; handle?: RelayHandle } = { out };
    this.#served.set(key, served);
    let outcome: ReturnType<BusNode['serve']>;
    try {
      outcome = node.serve(message.sessionId, message.request, {
        head: (status, headers) => out.head(status, headers),
        write: (data) => out.write(data),
        end: (data) => {
          if (this.#served.delete(key)) out.end(data);
        },
      });
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

  /** This instance shuts down: every answer it serves ends, and its end leaves now, while Redis is still connected. */
  close(): void {
    for (const { handle } of [...this.#served.values()]) handle?.cancel();
    this.#served.clear();
    for (const out of [...this.#unsent]) out.flush();
  }
}

/**
 * The pieces of one relayed answer not yet published. Everything written in one tick (event-loop turn) leaves as one
 * message at its end: a Redis round trip per tick instead of one per piece.
 */
class Outbox {
  readonly #id: string;
  readonly #publish: (payload: string) => void;
  readonly #unsent: Set<Outbox>;
  #result: DeliveryResult | undefined;
  #head: RelayBatch['head'];
  #data = '';
  #end = false;
  #scheduled = false;
  #done = false;

  constructor(id: string, unsent: Set<Outbox>, publish: (payload: string) => void) {
    this.#id = id;
    this.#unsent = unsent;
    this.#publish = publish;
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

  end(data: string | undefined): void {
    if (data !== undefined) this.#data += data;
    this.#end = true;
    this.#schedule();
  }

  /** Publishes what waits now (also called at the end of the tick it was written in). */
  flush(): void {
    this.#scheduled = false;
    this.#unsent.delete(this);
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
    this.#unsent.add(this);
    setImmediate(() => this.flush());
  }
}
