// Shared by the load test and its stress variant: N real SDK v1 clients at once, tool calls, then all disconnect.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { expect } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import type { McpSseError } from '../../lib/index.js';
import { startHarness, waitFor } from '../helpers/server.js';
import { expectHandlesBackTo, handleCounts, trackLibTimers } from './leaks.js';

/** Runs `task` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R>(items: T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export interface LoadTimings {
  connectMs: number;
  callsMs: number;
  disconnectMs: number;
  totalMs: number;
  /** Heap and RSS with every session open. */
  heapUsed: number;
  rss: number;
  /** Worst event-loop delay seen during the run. */
  maxLagMs: number;
}

const textOf = (result: unknown) => (result as { content: { text: string }[] }).content[0]!.text;

/**
 * Opens `sessions` SDK v1 clients (`connectConcurrency` handshakes at a time), has every one of them make
 * `callsPerSession` tool calls at once, closes them all, and checks the router ends empty with no leftovers.
 */
export async function runLoad(
  sessions: number,
  options: { callsPerSession?: number; connectConcurrency?: number; callConcurrency?: number } = {},
): Promise<LoadTimings> {
  const { callsPerSession = 2, connectConcurrency = 50, callConcurrency = 250 } = options;
  const handlesBefore = handleCounts();
  const libTimers = trackLibTimers();
  const errors: McpSseError[] = [];
  const harness = await startHarness({ resumeWindowMs: 0, onError: (e) => errors.push(e) });
  const lag = monitorEventLoopDelay({ resolution: 20 });
  lag.enable();
  const clients: Client[] = [];
  try {
    const t0 = Date.now();
    await mapLimit(
      Array.from({ length: sessions }, (_, i) => i),
      connectConcurrency,
      async (i) => {
        const client = new Client({ name: `load-${i}`, version: '1.0.0' });
        clients.push(client);
        await client.connect(new SSEClientTransport(new URL(harness.sseUrl)));
      },
    );
    const t1 = Date.now();
    const { heapUsed, rss } = process.memoryUsage();
    expect(harness.router.sessions.stats()).toMatchObject({ active: sessions, detached: 0, opened: sessions });

    // Every session is open at once; at most `callConcurrency` of them have a call in flight, since each in-flight
    // POST may need a new connection and a burst of thousands of connects overflows the listen backlog (511).
    await mapLimit(clients, callConcurrency, async (client, i) => {
      for (let call = 0; call < callsPerSession; call++) {
        if (call % 2 === 0) expect(textOf(await client.callTool({ name: 'add', arguments: { a: i, b: call } }))).toBe(String(i + call));
        else expect(textOf(await client.callTool({ name: 'echo', arguments: { text: `s${i}c${call}` } }))).toBe(`s${i}c${call}`);
      }
    });
    const t2 = Date.now();

    await Promise.all(clients.splice(0).map((client) => client.close()));
    await waitFor(() => harness.router.sessions.size === 0, 20_000, 'every session to close');
    const t3 = Date.now();

    expect(errors).toEqual([]);
    // initialize + notifications/initialized + the calls, in; initialize result + call results, out.
    expect(harness.router.sessions.stats()).toMatchObject({
      active: 0,
      detached: 0,
      opened: sessions,
      closed: sessions,
      resumed: 0,
      messagesIn: sessions * (2 + callsPerSession),
      messagesOut: sessions * (1 + callsPerSession),
      slowConsumerCuts: 0,
    });
    return { connectMs: t1 - t0, callsMs: t2 - t1, disconnectMs: t3 - t2, totalMs: t3 - t0, heapUsed, rss, maxLagMs: lag.max / 1e6 };
  } finally {
    lag.disable();
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await harness.close();
    // No timers (unref'd ones included) and no sockets left behind.
    await waitFor(() => libTimers.pending().length === 0, 5000, `lib timers to end: ${libTimers.pending().join('; ')}`);
    libTimers.stop();
    await expectHandlesBackTo(handlesBefore, 10_000);
  }
}

/** One line of numbers for the test log. */
export function describeLoad(label: string, t: LoadTimings): string {
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
  return (
    `load (${label}): connect ${t.connectMs} ms, calls ${t.callsMs} ms, disconnect ${t.disconnectMs} ms, total ${t.totalMs} ms; ` +
    `heap ${mib(t.heapUsed)} MiB, RSS ${mib(t.rss)} MiB with all open; worst event-loop delay ${t.maxLagMs.toFixed(0)} ms`
  );
}
