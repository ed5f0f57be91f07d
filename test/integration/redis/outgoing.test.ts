// Outgoing (lib/redis/outgoing.ts) against a real redis-server: what one turn sends leaves at its end, as one
// PUBLISH per instance that reads envelopes, one per message for one that does not, in order either way.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openEnvelope } from '../../../lib/redis/protocol.js';
import { waitFor } from '../../helpers/server.js';
import { adminClient, redisPerFile, startParts } from './parts.js';

const redis = redisPerFile();
const { open } = redis;

/** A plain subscriber recording every PUBLISH it hears on `channel`, as it came. */
async function listener(channel: string): Promise<string[]> {
  const heard: string[] = [];
  const sub = adminClient(redis.url);
  open.push({ close: () => sub.disconnect() });
  sub.on('message', (_channel: string, message: string) => void heard.push(message));
  await sub.subscribe(channel);
  return heard;
}

describe('Outgoing', () => {
  it('sends what one turn queued at its end: one envelope for a reader of envelopes, bare messages otherwise', async () => {
    const prefix = `out-${randomUUID().slice(0, 8)}`;
    const a = await startParts(redis.url, { prefix, instanceId: 'A' });
    open.push(a);
    const modern = await listener(`${prefix}:modern`);
    const old = await listener(`${prefix}:old`);
    const receivers: (number | undefined)[] = [];
    for (const m of ['one', 'two', 'three']) a.outgoing.send(`${prefix}:modern`, m, true, 'test', (r) => void receivers.push(r));
    a.outgoing.send(`${prefix}:old`, 'x', false, 'test');
    a.outgoing.send(`${prefix}:old`, 'y', false, 'test');
    // A message for a channel that has a reader from before envelopes makes the whole turn's queue bare.
    a.outgoing.send(`${prefix}:mixed`, 'p', true, 'test', (r) => void receivers.push(r));
    a.outgoing.send(`${prefix}:mixed`, 'q', false, 'test', (r) => void receivers.push(r));
    // Nothing leaves before the end of the turn.
    await Promise.resolve();
    expect(modern).toEqual([]);
    await waitFor(() => modern.length === 1 && old.length === 2 && receivers.length === 5, 3000, 'the messages');
    expect(openEnvelope(modern[0]!)).toEqual(['one', 'two', 'three']);
    expect(old).toEqual(['x', 'y']);
    expect(receivers).toEqual([1, 1, 1, 0, 0]);
  });

  it('lets late senders add their messages at the end of the turn, in the same write', async () => {
    const prefix = `out-${randomUUID().slice(0, 8)}`;
    const a = await startParts(redis.url, { prefix, instanceId: 'A' });
    open.push(a);
    const heard = await listener(`${prefix}:front`);
    let flushes = 0;
    a.outgoing.later({
      flush: () => {
        flushes++;
        a.outgoing.send(`${prefix}:front`, 'late', true, 'test');
      },
    });
    a.outgoing.send(`${prefix}:front`, 'early', true, 'test');
    await waitFor(() => heard.length === 1, 3000, 'the envelope');
    expect(openEnvelope(heard[0]!)).toEqual(['early', 'late']);
    expect(flushes).toBe(1);
  });

  it('tells every sender the message was not sent while Redis is not connected', async () => {
    const prefix = `out-${randomUUID().slice(0, 8)}`;
    const a = await startParts(redis.url, { prefix, instanceId: 'A' });
    await a.close();
    const receivers: (number | undefined)[] = [];
    a.outgoing.send(`${prefix}:x`, 'one', true, 'test', (r) => void receivers.push(r));
    a.outgoing.send(`${prefix}:x`, 'two', true, 'test', (r) => void receivers.push(r));
    a.outgoing.flush();
    await waitFor(() => receivers.length === 2, 3000, 'the answers');
    expect(receivers).toEqual([undefined, undefined]);
  });
});
