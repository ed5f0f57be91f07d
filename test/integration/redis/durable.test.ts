// DurableJournal and Adopter (lib/redis/durable-*.ts) against a real redis-server: what a session stores, bounds
// and deletion, release, adoption decisions (owner alive, gone, released, another principal) and the lease.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BusSession } from '../../../lib/bus.js';
import { Adopter } from '../../../lib/redis/durable-adopt.js';
import { DurableJournal, durableKeys } from '../../../lib/redis/durable-journal.js';
import { redisPerFile, startParts, until } from './parts.js';

const redis = redisPerFile();
const { open } = redis;

async function instance(prefix: string, instanceId: string) {
  const parts = await startParts(redis.url, { prefix, instanceId });
  open.push(parts);
  const options = { prefix, instanceId, directoryTtlMs: 15_000 };
  return { parts, journal: new DurableJournal(() => parts.links, options), adopter: new Adopter(parts.links, options) };
}

const session = (sessionId: string, principalId: string | undefined, maxBufferedBytes = 1 << 20): BusSession => ({
  sessionId,
  principalId,
  durable: {
    transport: 'streamable-http',
    protocolVersion: '2025-11-25',
    streamKey: `key-${sessionId}`,
    endpoint: undefined,
    ttlMs: 60_000,
    maxBufferedBytes,
    adopted: false,
  },
});

const frame = (seq: number, json: string) => `event: message\nid: k.${seq}\ndata: ${json}\n\n`;
const initialize = { jsonrpc: '2.0' as const, id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25' } };

describe('durable journal and adoption', () => {
  it('stores initialize, state requests in order and frames; an adopter reads them back with the lost requests', async () => {
    const prefix = `durable-${randomUUID().slice(0, 8)}`;
    const a = await instance(prefix, 'A');
    const b = await instance(prefix, 'B');
    a.parts.directory.opened(session('s1', 'api:alice'));
    a.journal.opened(session('s1', 'api:alice'));
    a.journal.message('s1', initialize, 1);
    a.journal.frame('s1', 1, 1, frame(1, '{"jsonrpc":"2.0","id":0,"result":{}}'));
    a.journal.message('s1', { jsonrpc: '2.0', id: 1, method: 'logging/setLevel', params: { level: 'debug' } }, 2);
    a.journal.message('s1', { jsonrpc: '2.0', id: 2, method: 'resources/subscribe', params: { uri: 'x://1' } }, 3);
    a.journal.message('s1', { jsonrpc: '2.0', id: 3, method: 'tools/call', params: {} }, 4);
    a.journal.frame('s1', 4, 2, frame(2, '{"jsonrpc":"2.0","method":"notifications/progress"}'));
    await a.journal.flush();
    // The owner is alive: nobody adopts; asked by stream key (a legacy resume), the answer names the session to relay to.
    expect(await b.adopter.adopt({ sessionId: 's1' }, 'api:alice')).toEqual({ result: 'moved', sessionId: 's1' });
    expect(await b.adopter.adopt({ streamKey: 'key-s1' }, 'api:alice')).toEqual({ result: 'moved', sessionId: 's1' });
    // It dies (its links close, its directory entry stays until it expires).
    await a.parts.links.close();
    expect(await b.adopter.adopt({ sessionId: 's1' }, 'api:bob')).toEqual({ result: 'forbidden' });
    const adopted = await b.adopter.adopt({ streamKey: 'key-s1' }, 'api:alice');
    if (adopted.result !== 'adopt') throw new Error(`expected adopt, got ${adopted.result}`);
    const stored = adopted.session;
    expect(stored).toMatchObject({
      sessionId: 's1',
      principalId: 'api:alice',
      transport: 'streamable-http',
      streamKey: 'key-s1',
      lastSeq: 2,
      lastStream: 4,
    });
    expect(stored.initialize).toEqual(initialize);
    expect(stored.stateRequests.map((m) => m.method)).toEqual(['logging/setLevel', 'resources/subscribe']);
    expect(stored.frames.map((f) => [f.stream, f.seq])).toEqual([
      [1, 1],
      [4, 2],
    ]);
    // initialize (stream 1) was answered; setLevel, subscribe and the tool call were not.
    expect([...stored.lost]).toEqual([
      [2, [1]],
      [3, [2]],
      [4, [3]],
    ]);
    // The lease: a second adopter waits for the first, which never registers here, then gives up.
    const c = await instance(prefix, 'C');
    const started = Date.now();
    expect(await c.adopter.adopt({ sessionId: 's1' }, 'api:alice')).toEqual({ result: 'unavailable' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(4000);
    stored.done();
    expect(await redis.admin.exists(durableKeys(prefix, 's1').lease)).toBe(0);
  }, 15_000);

  it('releases on drain (adoptable at once), deletes on close, and bounds the stored frames', async () => {
    const prefix = `durable-${randomUUID().slice(0, 8)}`;
    const a = await instance(prefix, 'A');
    const b = await instance(prefix, 'B');
    for (const id of ['kept', 'gone']) {
      a.parts.directory.opened(session(id, undefined, 4096));
      a.journal.opened(session(id, undefined, 4096));
    }
    for (let seq = 1; seq <= 200; seq++) a.journal.frame('gone', 0, seq, frame(seq, `{"jsonrpc":"2.0","method":"n","params":{"seq":${seq}}}`));
    await a.journal.flush();
    // Bounded in bytes like the replay buffer: the newest frames that fit in maxBufferedBytes (4 KiB), no more.
    const kept = await redis.admin.xrange(durableKeys(prefix, 'gone').frames, '-', '+');
    const bytes = kept.reduce((sum, [, fields]) => sum + Buffer.byteLength(fields[fields.indexOf('f') + 1]!), 0);
    expect(bytes).toBeLessThanOrEqual(4096);
    expect(bytes + Buffer.byteLength(frame(200, '{"jsonrpc":"2.0","method":"n","params":{"seq":200}}'))).toBeGreaterThan(4096);
    expect(kept.at(-1)![1]).toContain('200');
    // One big frame does not keep the small ones before it past the bound.
    a.journal.frame('gone', 0, 201, frame(201, `"${'x'.repeat(3000)}"`));
    await a.journal.flush();
    expect(await redis.admin.xlen(durableKeys(prefix, 'gone').frames)).toBeLessThan(kept.length);
    a.journal.closed('gone');
    await a.journal.release('kept');
    a.journal.closed('kept');
    await new Promise((resolve) => setImmediate(resolve));
    expect(await redis.admin.exists(durableKeys(prefix, 'gone').record)).toBe(0);
    expect(await redis.admin.hget(durableKeys(prefix, 'kept').record, 'released')).toBe('1');
    // Released: adopted even though A still listens and its directory entry stands.
    const adopted = await b.adopter.adopt({ sessionId: 'kept' }, undefined);
    expect(adopted.result).toBe('adopt');
    if (adopted.result === 'adopt') adopted.session.done();
    expect(await b.adopter.adopt({ sessionId: 'gone' }, undefined)).toEqual({ result: 'unknown' });
  });

  it('writes its sessions again after Redis lost them, adopted ones too, never over another owner, ids never reused', async () => {
    const prefix = `durable-${randomUUID().slice(0, 8)}`;
    const a = await instance(prefix, 'A');
    const b = await instance(prefix, 'B');
    const setLevel = { jsonrpc: '2.0' as const, id: 1, method: 'logging/setLevel', params: { level: 'debug' } };
    a.journal.opened(session('fresh', 'api:alice'));
    a.journal.message('fresh', initialize, 1);
    a.journal.message('fresh', setLevel, 2);
    a.journal.frame('fresh', 2, 7, frame(7, '{"jsonrpc":"2.0","id":1,"result":{}}'));
    const adopted = session('moved', undefined);
    adopted.durable!.adopted = true;
    adopted.durable!.restored = { initialize, stateRequests: [setLevel] };
    a.journal.opened(adopted);
    a.journal.opened(session('taken', undefined));
    await a.journal.flush();
    // Redis restarted empty; meanwhile another instance took 'taken' (this one was cut off and taken for dead).
    await redis.admin.flushall();
    await redis.admin.hset(durableKeys(prefix, 'taken').record, 'owner', 'B', 'transport', 'streamable-http', 'streamKey', 'key-taken');
    a.journal.resync();
    await until(async () => (await redis.admin.exists(durableKeys(prefix, 'moved').record)) === 1, 5000, 'the sessions written again');
    const fresh = await redis.admin.hgetall(durableKeys(prefix, 'fresh').record);
    expect(fresh).toMatchObject({ owner: 'A', released: '0', transport: 'streamable-http', principal: 'api:alice', stream: '2', seq: '7' });
    expect(JSON.parse(fresh.initialize!)).toEqual(initialize);
    expect(await redis.admin.lrange(durableKeys(prefix, 'fresh').state, 0, -1)).toEqual([JSON.stringify(setLevel)]);
    expect(await redis.admin.get(`${prefix}:durable-key:key-fresh`)).toBe('fresh');
    expect(JSON.parse((await redis.admin.hget(durableKeys(prefix, 'moved').record, 'initialize'))!)).toEqual(initialize);
    expect(await redis.admin.hget(durableKeys(prefix, 'taken').record, 'owner')).toBe('B');
    // A dies: the adopter rebuilds 'fresh' from what was written again, numbering after the ids already used.
    await a.parts.links.close();
    const rebuilt = await b.adopter.adopt({ sessionId: 'fresh' }, 'api:alice');
    if (rebuilt.result !== 'adopt') throw new Error(`expected adopt, got ${rebuilt.result}`);
    expect(rebuilt.session).toMatchObject({ initialize, stateRequests: [setLevel], lastSeq: 7, lastStream: 2, frames: [] });
    rebuilt.session.done();
  });
});
