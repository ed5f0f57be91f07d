// Test helpers for the parts of the Redis bus: one instance's parts wired as RedisSessionBus wires them, on a real
// redis-server, with a recording fake of the router side (BusNode).
import { afterAll, afterEach, beforeAll } from 'vitest';
import { Redis } from 'ioredis';
import type { BusNode, Delivery, DeliveryResult, RelayedRequest, RelayHandle, RelaySink } from '../../../lib/bus.js';
import { Broadcasts } from '../../../lib/redis/broadcast.js';
import { RedisLinks } from '../../../lib/redis/connection.js';
import { SessionDirectory } from '../../../lib/redis/directory.js';
import { Forwarder, type BusCounters } from '../../../lib/redis/forwarding.js';
import { resolveRedisOptions, type RedisSessionBusOptions } from '../../../lib/redis/options.js';
import { Outgoing } from '../../../lib/redis/outgoing.js';
import { broadcastChannel, decodeInstanceMessage, instanceChannel, openEnvelope } from '../../../lib/redis/protocol.js';
import { FrontRelays } from '../../../lib/redis/relay-front.js';
import { OwnerRelays } from '../../../lib/redis/relay-owner.js';
import { waitFor } from '../../helpers/server.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

/** What the fake router side saw, and how it answers. */
export interface FakeNode extends BusNode {
  delivered: { sessionId: string; delivery: Delivery }[];
  broadcasts: string[];
  errors: Error[];
  /** Answer of `deliver()` and `serve()`; `accepted` by default. */
  result: DeliveryResult;
  /** What `serve()` does with the sink of an accepted relay; the handle's cancels are counted in `cancelled`. */
  onServe: (sink: RelaySink, request: RelayedRequest) => void;
  cancelled: number;
}

export function fakeNode(): FakeNode {
  const node: FakeNode = {
    delivered: [],
    broadcasts: [],
    errors: [],
    result: 'accepted',
    cancelled: 0,
    onServe: () => {},
    deliver(sessionId, delivery) {
      if (node.result === 'accepted') node.delivered.push({ sessionId, delivery });
      return node.result;
    },
    serve(_sessionId, request, sink) {
      if (node.result !== 'accepted') return { result: node.result };
      node.onServe(sink, request);
      const handle: RelayHandle = { cancel: () => void node.cancelled++ };
      return { result: 'accepted', handle };
    },
    broadcastLocal(json) {
      node.broadcasts.push(json);
      return 1;
    },
    reportError(error) {
      node.errors.push(error);
    },
  };
  return node;
}

export interface Parts {
  node: FakeNode;
  links: RedisLinks;
  outgoing: Outgoing;
  directory: SessionDirectory;
  forwarder: Forwarder;
  front: FrontRelays;
  owner: OwnerRelays;
  broadcasts: Broadcasts;
  counters: BusCounters;
  /** Commands ready again after an outage, in order. */
  resyncs: boolean[];
  close(): Promise<void>;
}

/** One instance's parts, dispatching messages as the bus does; resolves once it listens. */
export async function startParts(url: string, options: RedisSessionBusOptions): Promise<Parts> {
  const o = resolveRedisOptions({ url, ...options });
  const node = fakeNode();
  const counters: BusCounters = { forwarded: 0, forwardRefused: 0, received: 0, broadcastsSent: 0, broadcastsReceived: 0 };
  const report = (error: Error) => node.errors.push(error);
  const resyncs: boolean[] = [];
  let parts: Parts | undefined;
  const links = new RedisLinks(o, [instanceChannel(o.prefix, o.instanceId), broadcastChannel(o.prefix)], {
    commandsReady: (afterOutage) => {
      resyncs.push(afterOutage);
      parts?.directory.resync(afterOutage);
    },
    message: (channel, message) => {
      if (parts === undefined) return;
      if (channel === parts.broadcasts.channel) return parts.broadcasts.receive(node, message);
      for (const one of openEnvelope(message) ?? [message]) {
        const m = decodeInstanceMessage(one);
        if (m === undefined) report(new Error(`malformed: ${one}`));
        else if (m.type === 'ack') parts.forwarder.settle(m.id, m.result);
        else if (m.type === 'deliver') parts.forwarder.deliver(node, m, report);
        else if (m.type === 'relay') parts.owner.serve(node, m, report);
        else if (m.type === 'cancel') parts.owner.cancel(`${m.from} ${m.id}`);
        else if (m.type === 'batch') {
          if (m.result !== undefined) parts.forwarder.settle(m.id, m.result);
          parts.front.batch(m);
        } else parts.front.answer(m);
      }
    },
    report,
  });
  const outgoing = new Outgoing(links);
  const directory = new SessionDirectory(links, o);
  const forwarder = new Forwarder(links, outgoing, directory, o, counters);
  parts = {
    node,
    links,
    outgoing,
    directory,
    forwarder,
    front: new FrontRelays(links, outgoing, forwarder, o),
    owner: new OwnerRelays(outgoing, o, counters),
    broadcasts: new Broadcasts(links, o, counters, report),
    counters,
    resyncs,
    async close() {
      links.quiet();
      forwarder.close();
      parts!.front.close();
      parts!.owner.close();
      outgoing.flush();
      await directory.close();
      await links.close();
    },
  };
  await waitFor(() => links.ready, 5000, `${o.instanceId} to listen`);
  return parts;
}

/** A plain client, for looking at what the parts wrote. */
export function adminClient(url: string): Redis {
  const admin = new Redis(url, { maxRetriesPerRequest: 1 });
  admin.on('error', () => {});
  return admin;
}

/** A sink that records every call. */
export function recordingSink(): RelaySink & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    head: (status) => void calls.push(`head ${status}`),
    write: (chunk) => void calls.push(`write ${chunk}`),
    end: (chunk) => void calls.push(chunk === undefined ? 'end' : `end ${chunk}`),
    fail: (reason) => void calls.push(`fail ${reason}`),
  };
}

export const request = (method: RelayedRequest['method'] = 'GET', principalId?: string): RelayedRequest => ({
  method,
  messages: [],
  bytes: 0,
  principalId,
  authInfo: undefined,
  headers: {},
});

/** Resolves once the async `predicate` is true, polling; rejects after `timeoutMs`. */
export async function until(predicate: () => Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!(await predicate())) {
    if (Date.now() - start > timeoutMs) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** One redis-server per test file, an admin client on it, and what each test opened (closed after it, newest first). */
export function redisPerFile(): { readonly url: string; readonly admin: Redis; readonly server: RedisServer; readonly open: { close(): unknown }[] } {
  let server: RedisServer | undefined;
  let admin: Redis | undefined;
  const open: { close(): unknown }[] = [];
  beforeAll(async () => {
    server = await startRedis();
    admin = adminClient(server.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.dispose();
  });
  afterEach(async () => {
    for (const thing of open.splice(0).reverse()) await thing.close();
  });
  return {
    get url() {
      return server!.url;
    },
    get admin() {
      return admin!;
    },
    get server() {
      return server!;
    },
    open,
  };
}
