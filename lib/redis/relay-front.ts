// FrontRelays: Streamable HTTP requests this instance relays to the owners of their sessions, and their answers.
import type { DeliveryResult, RelayedRequest, RelayFailure, RelayHandle, RelaySink } from '../bus.js';
import type { RedisLinks } from './connection.js';
import type { Forwarder } from './forwarding.js';
import type { ResolvedRedisOptions } from './options.js';
import type { Outgoing } from './outgoing.js';
import { encodeCancel, encodeRelay, instanceChannel, type RelayAnswer, type RelayBatch } from './protocol.js';

/**
 * The instance holding the client's HTTP response: publishes the request to the session's owner (in order with
 * the session's other forwards), writes the answer's pieces into the client's sink as they come, and tells the
 * owner to stop when the client leaves (at any moment, even before the acknowledgement), when the acknowledgement
 * times out, or when this instance closes. Relays whose owner stopped listening (it died) fail on the next check.
 */
export class FrontRelays {
  readonly #links: RedisLinks;
  readonly #outgoing: Outgoing;
  readonly #forwarder: Forwarder;
  readonly #o: Pick<ResolvedRedisOptions, 'prefix' | 'instanceId'>;
  /** Answers streaming from other instances to clients of this one: correlation id → where they go, and from whom. */
  readonly #relays = new Map<string, Relay>();

  constructor(links: RedisLinks, outgoing: Outgoing, forwarder: Forwarder, options: Pick<ResolvedRedisOptions, 'prefix' | 'instanceId'>) {
    this.#links = links;
    this.#outgoing = outgoing;
    this.#forwarder = forwarder;
    this.#o = options;
  }

  /** Relays streaming now. */
  get size(): number {
    return this.#relays.size;
  }

  async relay(
    sessionId: string,
    request: RelayedRequest,
    sink: RelaySink,
    signal?: AbortSignal,
    target?: string,
  ): Promise<{ result: DeliveryResult; handle?: RelayHandle }> {
    // The client may leave at any await below: from then on the relay is cancelled, on the owner too.
    if (signal?.aborted) return { result: 'unavailable' };
    let relayId: string | undefined;
    let relay: Relay | undefined;
    const cancel = () => {
      if (relayId === undefined || !this.#relays.delete(relayId)) return;
      this.#cancel(relay!, relayId);
    };
    signal?.addEventListener('abort', cancel, { once: true });
    const result = await this.#forwarder.send(
      sessionId,
      request.principalId,
      (id, owner, envelopes) => {
        // Registered before the request is published: the owner may answer before its acknowledgement arrives.
        relayId = id;
        relay = { sink, owner, envelopes };
        this.#relays.set(id, relay);
        return encodeRelay(id, this.#o.instanceId, sessionId, request);
      },
      () => signal?.aborted === true,
      target,
    );
    if (relayId === undefined || result !== 'accepted') {
      signal?.removeEventListener('abort', cancel);
      // No acknowledgement in time (or none at all): the owner may still take it late, so it is told to stop.
      if (result === 'unavailable') cancel();
      else if (relayId !== undefined) this.#relays.delete(relayId);
      return { result };
    }
    return { result, handle: { cancel } };
  }

  /** What the owner wrote for a client of this instance since its last batch. */
  batch(batch: RelayBatch): void {
    const relay = this.#relays.get(batch.id);
    if (relay === undefined) return;
    if (batch.head !== undefined) relay.sink.head(batch.head.status, batch.head.headers);
    if (batch.end) {
      this.#relays.delete(batch.id);
      relay.sink.end(batch.data === '' ? undefined : batch.data);
    } else if (batch.data !== '') relay.sink.write(batch.data);
  }

  /** A piece of an answer from a session's owner, for a client of this instance (owners before batching). */
  answer(piece: RelayAnswer): void {
    const relay = this.#relays.get(piece.id);
    if (relay === undefined) return;
    if (piece.type === 'head') relay.sink.head(piece.status, piece.headers);
    else if (piece.type === 'chunk') relay.sink.write(piece.data);
    else {
      this.#relays.delete(piece.id);
      relay.sink.end(piece.data);
    }
  }

  /** Fails the relays of owners that no longer listen (they died): their clients get 503, or resume. */
  checkOwners(): void {
    const cmd = this.#links.commands;
    if (cmd === undefined || this.#relays.size === 0) return;
    const owners = [...new Set([...this.#relays.values()].map((relay) => relay.owner))];
    const channels = owners.map((owner) => instanceChannel(this.#o.prefix, owner));
    (cmd.call('PUBSUB', 'NUMSUB', ...channels) as Promise<(string | number)[]>).then((reply) => {
      const gone = new Set(owners.filter((_, i) => Number(reply[i * 2 + 1]) === 0));
      if (gone.size === 0) return;
      for (const [id, relay] of this.#relays) {
        if (!gone.has(relay.owner)) continue;
        this.#relays.delete(id);
        failSink(relay.sink, 'bus_unavailable');
      }
    }, noop);
  }

  /** This instance shuts down: every relay fails (503 before its head, else its stream ends) and its owner stops. */
  close(): void {
    for (const [id, relay] of this.#relays) {
      this.#cancel(relay, id);
      failSink(relay.sink, 'shutting_down');
    }
    this.#relays.clear();
  }

  #cancel(relay: Relay, relayId: string): void {
    this.#outgoing.send(
      instanceChannel(this.#o.prefix, relay.owner),
      encodeCancel(relayId, this.#o.instanceId),
      relay.envelopes,
      'could not cancel a relayed request',
    );
  }
}

/** A relayed answer on its way: where it goes, which instance sends it, and whether that one reads envelopes. */
interface Relay {
  sink: RelaySink;
  owner: string;
  envelopes: boolean;
}

/** Ends a relayed answer that will not come: an error envelope if the client has no head yet, else the end of its stream. */
function failSink(sink: RelaySink, reason: RelayFailure): void {
  if (sink.fail !== undefined) sink.fail(reason);
  else sink.end();
}

function noop(): void {}
