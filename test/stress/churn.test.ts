// Stress: 10,000 connect/disconnect cycles leave no sessions, handles or heap behind; so do detach/expiry cycles.
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import type { McpSseError } from '../../lib/index.js';
import { startHarness, waitFor, type Harness } from '../helpers/server.js';
import { sessionIdOf } from '../helpers/sse.js';
import { expectHandlesBackTo, handleCounts, trackLibTimers } from '../reliability/leaks.js';
import { mapLimit } from '../reliability/load.js';
import { collectGarbage } from '../reliability/slow-consumer.js';

const MiB = 1024 * 1024;

/** GET the stream on a fresh connection, read up to the endpoint event, then cut the connection. */
function cycle(sseUrl: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(sseUrl, { agent: false, headers: { Accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        req.destroy();
        reject(new Error(`GET ${sseUrl} → ${res.statusCode}`));
        return;
      }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        const match = /event: endpoint\n(?:id: .*\n)?data: (.*)\n/.exec(text);
        if (match === null) return;
        req.destroy();
        resolve(sessionIdOf(match[1]!));
      });
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('cycle timed out')));
  });
}

async function churn(h: Harness, cycles: number, concurrency: number): Promise<Set<string>> {
  const ids = new Set<string>();
  await mapLimit(Array.from({ length: cycles }), concurrency, async () => {
    ids.add(await cycle(h.sseUrl));
  });
  return ids;
}

/** Heap in use after full collections (a few, so finalisers and weak callbacks settle). */
async function settledHeap(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return process.memoryUsage().heapUsed;
}

describe('churn', () => {
  it('10,000 connect/disconnect cycles (50 at a time) leave no sessions, handles or heap behind', async () => {
    expect(typeof global.gc).toBe('function');
    const handlesBefore = handleCounts();
    const libTimers = trackLibTimers();
    const errors: McpSseError[] = [];
    const h = await startHarness({ resumeWindowMs: 0, onError: (e) => errors.push(e) });
    try {
      // Warm up (JIT, pools, V8 heap sizing) before taking the baseline.
      await churn(h, 500, 50);
      await waitFor(() => h.router.sessions.size === 0, 10_000, 'warm-up sessions to close');
      const heapBefore = await settledHeap();

      const started = Date.now();
      const ids = await churn(h, 10_000, 50);
      await waitFor(() => h.router.sessions.size === 0, 30_000, 'every session to close');
      const took = Date.now() - started;
      const distinct = ids.size;
      ids.clear(); // the test's own 10,000 ids would otherwise count as ~1.5 MiB of "growth"
      const heapAfter = await settledHeap();
      const growth = heapAfter - heapBefore;
      console.info(
        `churn: 10,000 cycles in ${took} ms (${(10_000 / (took / 1000)).toFixed(0)}/s); heap ${(heapBefore / MiB).toFixed(1)} → ${(heapAfter / MiB).toFixed(1)} MiB (${(growth / MiB).toFixed(2)} MiB)`,
      );

      expect(distinct).toBe(10_000);
      expect(errors).toEqual([]);
      expect(h.router.sessions.stats()).toMatchObject({ active: 0, detached: 0, opened: 10_500, closed: 10_500 });
      expect(growth).toBeLessThan(5 * MiB);
    } finally {
      await h.close();
      await waitFor(() => libTimers.pending().length === 0, 5000, `lib timers to end: ${libTimers.pending().join('; ')}`);
      libTimers.stop();
      await expectHandlesBackTo(handlesBefore, 10_000);
    }
  });

  it('2,000 cycles through detach and resume-window expiry end with every session closed', async () => {
    const errors: McpSseError[] = [];
    const h = await startHarness({ resumeWindowMs: 100, onError: (e) => errors.push(e) });
    try {
      await churn(h, 200, 50);
      await waitFor(() => h.router.sessions.size === 0, 10_000, 'warm-up sessions to expire');
      const heapBefore = await settledHeap();
      await churn(h, 2_000, 50);
      // Every dropped stream waits out its window, then closes.
      await waitFor(() => h.router.sessions.size === 0, 30_000, 'every detached session to expire');
      const heapAfter = await settledHeap();
      console.info(`churn with expiry: heap ${((heapAfter - heapBefore) / MiB).toFixed(2)} MiB`);
      expect(errors).toEqual([]);
      expect(h.router.sessions.stats()).toMatchObject({ active: 0, detached: 0, opened: 2_200, closed: 2_200, resumed: 0 });
      expect(heapAfter - heapBefore).toBeLessThan(5 * MiB);
    } finally {
      await h.close();
    }
  });
});
