// FrontRelays and OwnerRelays (lib/redis/relay-front.ts, relay-owner.ts) against a real redis-server: an answer
// streamed back in order, and every way a relay stops (client gone before or after the acknowledgement, a late
// acknowledgement, an owner or a front instance that died, a close).
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeEntry, openEnvelope } from '../../../lib/redis/protocol.js';
import { waitFor } from '../../helpers/server.js';
import { adminClient, type Parts, recordingSink, redisPerFile, request, startParts, until } from './parts.js';

const redis = redisPerFile();
const { open } = redis;

/** A is the owner of session `s1`, B the front instance. */
async function pair(forwardTimeoutMs = 2000): Promise<{ a: Parts; b: Parts; prefix: string }> {
  const prefix = `relay-${randomUUID().slice(0, 8)}`;
  const a = await startParts(redis.url, { prefix, instanceId: 'A', forwardTimeoutMs });
  const b = await startParts(redis.url, { prefix, instanceId: 'B', forwardTimeoutMs });
  open.push(a, b);
  a.directory.opened({ sessionId: 's1', principalId: undefined });
  await until(async () => (await redis.admin.exists(`${prefix}:session:s1`)) === 1, 3000, 'the entry');
  return { a, b, prefix };
}

describe('relays', () => {
  it('streams the answer back in order, what one tick wrote in one message, and forgets the relay at its end', async () => {
    const { a, b } = await pair();
    a.node.onServe = (sink) => {
      sink.head(200, { 'Content-Type': 'text/event-stream' });
      sink.write('one');
      queueMicrotask(() => sink.write('two'));
      setImmediate(() => sink.end('three'));
    };
    const sink = recordingSink();
    const relayed = await b.front.relay('s1', request('POST'), sink);
    expect(relayed.result).toBe('accepted');
    await waitFor(() => sink.calls.length === 3, 3000, 'the whole answer');
    // Head, 'one' and 'two' (a microtask later) left with the acknowledgement; the end came a tick later.
    expect(sink.calls).toEqual(['head 200', 'write onetwo', 'end three']);
    expect(a.owner.size + b.front.size).toBe(0);
  });

  it('refuses what the owner refuses, writing nothing', async () => {
    const { a, b } = await pair();
    a.node.result = 'forbidden';
    const sink = recordingSink();
    expect((await b.front.relay('s1', request(), sink)).result).toBe('forbidden');
    expect(sink.calls).toEqual([]);
    expect(b.front.size).toBe(0);
  });

  it('cancels on the owner when the client leaves after the acknowledgement, and before it', async () => {
    const { a, b } = await pair();
    a.node.onServe = (sink) => sink.head(200, {});
    const left = new AbortController();
    const relayed = await b.front.relay('s1', request(), recordingSink(), left.signal);
    expect(a.owner.size).toBe(1);
    left.abort();
    await waitFor(() => a.node.cancelled === 1 && a.owner.size === 0, 3000, 'the owner to stop');
    relayed.handle!.cancel(); // a second cancel does nothing
    expect(b.front.size).toBe(0);

    const early = new AbortController();
    const pending = b.front.relay('s1', request(), recordingSink(), early.signal);
    early.abort();
    await pending;
    await waitFor(() => a.owner.size === 0, 3000, 'nothing left on the owner');
    expect(b.front.size).toBe(0);
  });

  it('cancels on the owner a relay whose acknowledgement comes too late', async () => {
    const { b, prefix } = await pair(200);
    // A slow owner: it hears the relay but acknowledges only after B gave up.
    const slow = adminClient(redis.url);
    open.push({ close: () => slow.disconnect() });
    const heard: { type: string; id: string }[] = [];
    slow.on('message', (_channel: string, message: string) => void heard.push(JSON.parse(message)));
    await slow.subscribe(`${prefix}:instance:slow`);
    await redis.admin.set(`${prefix}:session:s3`, encodeEntry({ instanceId: 'slow', principalId: undefined }), 'PX', 10_000);
    const sink = recordingSink();
    expect((await b.front.relay('s3', request(), sink)).result).toBe('unavailable');
    await waitFor(() => heard.length === 2, 3000, 'the cancel');
    expect(heard.map((m) => m.type)).toEqual(['relay', 'cancel']);
    expect(heard[1]!.id).toBe(heard[0]!.id);
    expect(sink.calls).toEqual([]);
    expect(b.front.size).toBe(0);
  });

  it('relays the requests of one turn in one envelope to an owner that reads them, bare to one from before envelopes', async () => {
    const { a, b, prefix } = await pair(300);
    a.node.onServe = (sink) => sink.end();
    const heard: string[] = [];
    const spy = adminClient(redis.url);
    open.push({ close: () => spy.disconnect() });
    spy.on('message', (_channel: string, message: string) => void heard.push(message));
    await spy.subscribe(`${prefix}:instance:A`, `${prefix}:instance:old`);
    const both = await Promise.all([b.front.relay('s1', request(), recordingSink()), b.front.relay('s1', request(), recordingSink())]);
    expect(both.map((r) => r.result)).toEqual(['accepted', 'accepted']);
    expect(heard).toHaveLength(1);
    expect(openEnvelope(heard[0]!)?.map((m) => JSON.parse(m).type)).toEqual(['relay', 'relay']);

    // An owner from before envelopes wrote its entry without saying it reads them.
    heard.length = 0;
    await redis.admin.set(`${prefix}:session:s4`, JSON.stringify({ i: 'old' }), 'PX', 10_000);
    const old = await Promise.all([b.front.relay('s4', request(), recordingSink()), b.front.relay('s4', request(), recordingSink())]);
    expect(old.map((r) => r.result)).toEqual(['unavailable', 'unavailable']);
    expect(heard.filter((m) => JSON.parse(m).type === 'relay')).toHaveLength(2);
  });

  it('fails the relays of an owner that stopped listening, and of this instance when it closes', async () => {
    const { a, b } = await pair();
    a.node.onServe = (sink) => sink.head(200, {});
    const dead = recordingSink();
    expect((await b.front.relay('s1', request(), dead)).result).toBe('accepted');
    const closing = recordingSink();
    expect((await b.front.relay('s1', request(), closing)).result).toBe('accepted');
    await a.links.close(); // the owner stops listening, as when it dies
    b.front.checkOwners();
    await waitFor(() => dead.calls.includes('fail bus_unavailable'), 3000, 'the orphaned relays to fail');
    expect(closing.calls).toEqual(['head 200', 'fail bus_unavailable']);
    b.front.close();
    expect(b.front.size).toBe(0);
  });

  it('tells the owner to stop when the front instance closes, and stops by itself when its answers reach no one', async () => {
    const { a, b, prefix } = await pair();
    const sinks: { write(chunk: string): void }[] = [];
    a.node.onServe = (sink) => {
      sink.head(200, {});
      sinks.push(sink);
    };
    const sink = recordingSink();
    await b.front.relay('s1', request(), sink);
    b.front.close();
    expect(sink.calls).toEqual(['head 200', 'fail shutting_down']);
    await waitFor(() => a.node.cancelled === 1 && a.owner.size === 0, 3000, 'the owner to stop');

    // A front instance that vanished without a word: the owner's next piece reaches nobody.
    const ghost = adminClient(redis.url);
    open.push({ close: () => ghost.disconnect() });
    await ghost.subscribe(`${prefix}:instance:ghost`);
    await redis.admin.set(`${prefix}:session:s2`, encodeEntry({ instanceId: 'A', principalId: undefined }), 'PX', 10_000);
    await redis.admin.publish(
      `${prefix}:instance:A`,
      JSON.stringify({ type: 'relay', id: '1', reply: 'ghost', sessionId: 's1', request: request() }),
    );
    await waitFor(() => a.owner.size === 1, 3000, 'the owner to serve the ghost');
    ghost.disconnect();
    await until(
      async () => Number(((await redis.admin.call('PUBSUB', 'NUMSUB', `${prefix}:instance:ghost`)) as unknown[])[1]) === 0,
      3000,
      'the ghost gone',
    );
    sinks.at(-1)!.write('anyone?');
    await waitFor(() => a.node.cancelled === 2 && a.owner.size === 0, 3000, 'the owner to notice');
  });

  it('publishes what an answer wrote in its last tick when the owner closes, before its connections quit', async () => {
    const { a, b } = await pair();
    let owned: { write(chunk: string): void; end(chunk?: string): void } | undefined;
    a.node.onServe = (sink) => {
      sink.head(200, {});
      owned = sink;
    };
    const sink = recordingSink();
    expect((await b.front.relay('s1', request(), sink)).result).toBe('accepted');
    a.directory.closed('s1'); // nothing left for the directory to delete: close() goes straight to QUIT
    owned!.write('last words');
    owned!.end();
    await a.close();
    open.splice(open.indexOf(a), 1);
    await waitFor(() => sink.calls.length === 2, 3000, 'the end');
    expect(sink.calls).toEqual(['head 200', 'end last words']);
  });

  it('answers a relaying instance from before batching piece by piece, in the messages it understands', async () => {
    const { a, prefix } = await pair();
    a.node.onServe = (sink) => {
      sink.head(200, { 'Content-Type': 'text/event-stream' });
      sink.write('one');
      sink.end('two');
    };
    const old = adminClient(redis.url);
    open.push({ close: () => old.disconnect() });
    const heard: string[] = [];
    old.on('message', (_channel: string, message: string) => void heard.push(message));
    await old.subscribe(`${prefix}:instance:old`);
    // What an instance before batching publishes: no `b` flag.
    await redis.admin.publish(`${prefix}:instance:A`, JSON.stringify({ type: 'relay', id: '5', reply: 'old', sessionId: 's1', request: request() }));
    await waitFor(() => heard.length === 4, 3000, 'the pieces');
    expect(heard).toEqual([
      JSON.stringify({ type: 'head', id: '5', status: 200, headers: { 'Content-Type': 'text/event-stream' } }),
      '\u00015\none',
      JSON.stringify({ type: 'end', id: '5', data: 'two' }),
      JSON.stringify({ type: 'ack', id: '5', result: 'accepted' }),
    ]);
  });
});
