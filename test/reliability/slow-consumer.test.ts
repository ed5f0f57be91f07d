// A client that stops reading gets its stream cut at maxBufferedBytes; memory stays bounded; others are unaffected.
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, waitFor } from '../helpers/server.js';
import { openSse, sessionIdOf } from '../helpers/sse.js';
import { openStalledStream, runSlowConsumer, type SlowConsumerRun } from './slow-consumer.js';

const MiB = 1024 * 1024;
let run: SlowConsumerRun | undefined;

afterEach(async () => {
  await run?.close();
  run = undefined;
});

describe('slow consumer', () => {
  it('cuts a stalled stream once, keeps RSS bounded and other sessions working', async () => {
    const maxBufferedBytes = 1 * MiB;
    run = await runSlowConsumer({ maxBufferedBytes, totalBytes: 50 * MiB });
    const { harness, errors, pushedBytes, rssBefore, rssPeak, retainedBefore, retainedAfter, otherCalls } = run;
    const growth = rssPeak - rssBefore;
    const retained = retainedAfter - retainedBefore;
    console.info(
      `slow consumer (maxBufferedBytes 1 MiB): pushed ${(pushedBytes / MiB).toFixed(0)} MiB, peak RSS growth ${(growth / MiB).toFixed(1)} MiB, ` +
        `retained after GC ${(retained / MiB).toFixed(1)} MiB, bystander calls ${otherCalls}`,
    );

    expect(errors.map((e) => e.code)).toEqual(['ERR_MCP_SSE_SLOW_CONSUMER']);
    const stats = harness.router.sessions.stats();
    expect(stats.slowConsumerCuts).toBe(1);
    // The cut stream waits to be resumed; the bystander's session is still attached.
    expect(stats).toMatchObject({ active: 1, detached: 1, closed: 0 });
    // Without the cut, the 50 MiB pile up in the response's buffer: measured +45-48 MiB both for peak RSS and for
    // the heap retained after GC. With it, unsent bytes and the replay buffer are each capped at maxBufferedBytes
    // (measured: RSS +0-6 MiB, retained +1.1 MiB, i.e. the replay buffer).
    expect(growth).toBeLessThan(2 * maxBufferedBytes + 16 * MiB);
    expect(retained).toBeLessThan(2 * maxBufferedBytes + 2 * MiB);
    expect(otherCalls).toBeGreaterThan(0);
    // The server really dropped the connection: once the client reads again, it drains and sees the end.
    const ended = new Promise<void>((resolve) => run!.socket.once('close', () => resolve()));
    run.socket.resume();
    await ended;
  });
});

describe('a burst is not a slow consumer', () => {
  it('writing more than maxBufferedBytes in one tick to a client that reads does not cut it', async () => {
    const errors: unknown[] = [];
    const harness = await startHarness({ keepAliveMs: 0, maxBufferedBytes: 256 * 1024, onError: (e) => errors.push(e) });
    const stream = await openSse(harness.sseUrl);
    try {
      const transport = harness.router.sessions.get(sessionIdOf(stream.endpoint!))!;
      const pad = 'x'.repeat(64 * 1024);
      // 1 MiB in one synchronous burst: Node corks it, so it all looks unsent until the tick ends.
      for (let i = 1; i <= 16; i++) void transport.sendNotification('notifications/blob', { i, pad });
      await stream.until((events) => events.length === 17, 5000, 'the whole burst');
      expect(errors).toEqual([]);
      expect(harness.router.sessions.stats()).toMatchObject({ slowConsumerCuts: 0, active: 1, detached: 0 });
      expect(stream.closed).toBe(false);
    } finally {
      stream.destroy();
      await harness.close();
    }
  });
});

describe('a message larger than maxBufferedBytes', () => {
  it('reaches a client that reads, without a cut', async () => {
    const errors: unknown[] = [];
    const harness = await startHarness({ keepAliveMs: 0, maxBufferedBytes: 256 * 1024, onError: (e) => errors.push(e) });
    const stream = await openSse(harness.sseUrl);
    try {
      const transport = harness.router.sessions.get(sessionIdOf(stream.endpoint!))!;
      await transport.sendNotification('notifications/big', { pad: 'y'.repeat(3 * MiB) });
      await transport.sendNotification('notifications/after', { ok: true });
      await stream.until((events) => events.length === 3, 10_000, 'the big message and the one after it');
      expect(JSON.parse(stream.events[1]!.data).params.pad).toHaveLength(3 * MiB);
      expect(errors).toEqual([]);
      expect(harness.router.sessions.stats().slowConsumerCuts).toBe(0);
    } finally {
      stream.destroy();
      await harness.close();
    }
  });

  it('still cuts a client that stopped reading, once its backlog stalls', async () => {
    const errors: { code: string }[] = [];
    const harness = await startHarness({ keepAliveMs: 0, maxBufferedBytes: 256 * 1024, onError: (e) => errors.push(e) });
    const { socket, sessionId } = await openStalledStream(harness.sseUrl);
    try {
      const transport = harness.router.sessions.get(sessionId)!;
      // One frame over the cap is allowed in flight; with nobody reading, what the kernel's socket buffers
      // (a few MiB on loopback) cannot take never leaves, so the stall rule cuts.
      await transport.sendNotification('notifications/big', { pad: 'z'.repeat(16 * MiB) });
      await waitFor(() => errors.length > 0, 5000, 'the stall cut');
      expect(errors.map((e) => e.code)).toEqual(['ERR_MCP_SSE_SLOW_CONSUMER']);
      expect(harness.router.sessions.stats()).toMatchObject({ slowConsumerCuts: 1, detached: 1 });
    } finally {
      socket.destroy();
      await harness.close();
    }
  });
});

describe('back-pressure on send()', () => {
  it('holds back a producer that awaits its sends while the client does not read, and releases it at the cut', async () => {
    const errors: { code: string }[] = [];
    const harness = await startHarness({ keepAliveMs: 0, maxBufferedBytes: 1 * MiB, onError: (e) => errors.push(e) });
    const { socket, sessionId } = await openStalledStream(harness.sseUrl);
    try {
      const transport = harness.router.sessions.get(sessionId)!;
      const pad = 'b'.repeat(64 * 1024);
      let sent = 0;
      const producer = (async () => {
        for (let i = 0; i < 800; i++) {
          await transport.sendNotification('notifications/blob', { i, pad });
          sent++;
        }
      })();
      // While the stream is stalled, the producer waits: far fewer than the 800 sends (50 MiB) get through.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const sentWhileStalled = sent;
      expect(sentWhileStalled).toBeLessThan(200);
      expect(errors).toEqual([]);
      // The stall rule cuts the stream; the producer is released and its later sends go to the replay buffer.
      await producer;
      expect(sent).toBe(800);
      expect(errors.map((e) => e.code)).toEqual(['ERR_MCP_SSE_SLOW_CONSUMER']);
    } finally {
      socket.destroy();
      await harness.close();
    }
  });
});
