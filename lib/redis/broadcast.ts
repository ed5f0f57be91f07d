// Broadcasts: a notification serialised once on one instance reaches the sessions of every other instance.
import type { BusNode } from '../bus.js';
import type { RedisLinks } from './connection.js';
import type { BusCounters } from './forwarding.js';
import type { ResolvedRedisOptions } from './options.js';
import { broadcastChannel, decodeBroadcast, encodeBroadcast } from './protocol.js';

/** Publishes this instance's broadcasts on the shared channel and writes other instances' ones to local sessions. */
export class Broadcasts {
  /** The channel every instance listens on. */
  readonly channel: string;
  readonly #links: RedisLinks;
  readonly #instanceId: string;
  readonly #counters: BusCounters;
  readonly #report: (error: Error) => void;

  constructor(
    links: RedisLinks,
    options: Pick<ResolvedRedisOptions, 'prefix' | 'instanceId'>,
    counters: BusCounters,
    report: (error: Error) => void,
  ) {
    this.channel = broadcastChannel(options.prefix);
    this.#links = links;
    this.#instanceId = options.instanceId;
    this.#counters = counters;
    this.#report = report;
  }

  /** Sends an already serialised notification to the other instances; a broadcast that cannot leave is reported. */
  publish(json: string): void {
    const cmd = this.#links.commands;
    if (cmd === undefined) {
      this.#report(new Error('a broadcast reached only this instance: not connected to Redis, so other instances did not get it.'));
      return;
    }
    cmd.publish(this.channel, encodeBroadcast(this.#instanceId, json)).then(
      () => void this.#counters.broadcastsSent++,
      (error: Error) => this.#report(new Error(`a broadcast reached only this instance: publishing it failed (${error.message}).`, { cause: error })),
    );
  }

  /** A message on the broadcast channel: another instance's broadcast goes to this instance's sessions. */
  receive(node: BusNode, message: string): void {
    const broadcast = decodeBroadcast(message);
    if (broadcast === undefined || broadcast.from === this.#instanceId) return;
    this.#counters.broadcastsReceived++;
    node.broadcastLocal(broadcast.json);
  }
}
