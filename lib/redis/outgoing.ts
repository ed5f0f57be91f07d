// Outgoing: what this instance publishes on other instances' channels, gathered per event-loop turn into few PUBLISHes.
import type { RedisLinks } from './connection.js';
import { encodeEnvelope } from './protocol.js';

/** How a message's PUBLISH went: how many instances heard it, or `undefined` when it could not be sent. */
export type Published = (receivers: number | undefined) => void;

/** Something that adds its messages at the end of the turn (a relayed answer gathering what one turn wrote). */
export interface LateSender {
  flush(): void;
}

interface Queue {
  envelopes: boolean;
  messages: string[];
  what: string;
  published: (Published | undefined)[];
}

/**
 * Messages sent in one turn of the event loop leave together at its end (`setImmediate`): the messages for one
 * instance that reads envelopes as one PUBLISH, and every PUBLISH of the turn in one write to Redis. Under load
 * that is one Redis command and one system call for many requests, answers and acknowledgements; a message alone
 * costs a turn's wait, no more. Messages for one channel keep their order, as before.
 */
export class Outgoing {
  readonly #links: RedisLinks;
  #queues = new Map<string, Queue>();
  /** The other map: the two take turns, so that a flush allocates none. */
  #spare = new Map<string, Queue>();
  #late: LateSender[] = [];
  #scheduled = false;

  constructor(links: RedisLinks) {
    this.#links = links;
  }

  /** Queues `message` for `channel` (`envelopes`: its instance reads them); `what` names a failure in reports. */
  send(channel: string, message: string, envelopes: boolean, what: string, published?: Published): void {
    let queue = this.#queues.get(channel);
    if (queue === undefined) {
      queue = { envelopes, messages: [], what, published: [] };
      this.#queues.set(channel, queue);
    } else if (!envelopes) queue.envelopes = false;
    queue.messages.push(message);
    queue.published.push(published);
    this.#schedule();
  }

  /** `sender.flush()` runs at the end of this turn, before the messages leave (it may send some). */
  later(sender: LateSender): void {
    this.#late.push(sender);
    this.#schedule();
  }

  /** Publishes everything queued now (also run at the end of each turn). */
  flush(): void {
    const late = this.#late;
    if (late.length > 0) {
      this.#late = [];
      // What they send leaves with the rest, now: no turn of its own.
      this.#scheduled = true;
      for (const sender of late) sender.flush();
    }
    this.#scheduled = false;
    if (this.#queues.size === 0) return;
    const queues = this.#queues;
    this.#queues = this.#spare;
    this.#spare = queues;
    try {
      this.#publishAll(queues);
    } finally {
      queues.clear();
    }
  }

  #publishAll(queues: Map<string, Queue>): void {
    const cmd = this.#links.commands;
    if (cmd === undefined) {
      for (const queue of queues.values()) settle(queue.published, undefined);
      return;
    }
    // One write for every PUBLISH of the turn: the socket is corked while they are issued.
    const stream = queues.size > 1 || !isEnveloped(queues.values().next().value!) ? cmd.stream : undefined;
    stream?.cork();
    try {
      for (const [channel, queue] of queues) {
        if (isEnveloped(queue)) this.#publish(channel, encodeEnvelope(queue.messages), queue.what, queue.published);
        else for (let i = 0; i < queue.messages.length; i++) this.#publish(channel, queue.messages[i]!, queue.what, [queue.published[i]]);
      }
    } finally {
      stream?.uncork();
    }
  }

  #publish(channel: string, payload: string, what: string, published: (Published | undefined)[]): void {
    void this.#links.publish(channel, payload, what).then((receivers) => settle(published, receivers));
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flushNow);
  }

  readonly #flushNow = (): void => this.flush();
}

/** One PUBLISH for the whole queue: one message, or several for an instance that reads envelopes. */
function isEnveloped(queue: Queue): boolean {
  return queue.messages.length === 1 || queue.envelopes;
}

function settle(published: (Published | undefined)[], receivers: number | undefined): void {
  for (const p of published) p?.(receivers);
}
