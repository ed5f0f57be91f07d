// Stress: 50 MiB pushed at a client that stopped reading, with the default 4 MiB maxBufferedBytes.
import { describe, expect, it } from 'vitest';
import { runSlowConsumer } from '../reliability/slow-consumer.js';

const MiB = 1024 * 1024;

describe('slow consumer at the default maxBufferedBytes', () => {
  it('50 MiB pushed at a stalled client (4 MiB cap): one cut, bounded RSS, bystander unaffected', async () => {
    const run = await runSlowConsumer({ totalBytes: 50 * MiB });
    try {
      const growth = run.rssPeak - run.rssBefore;
      const retained = run.retainedAfter - run.retainedBefore;
      console.info(
        `slow consumer (default 4 MiB): peak RSS growth ${(growth / MiB).toFixed(1)} MiB, retained after GC ${(retained / MiB).toFixed(1)} MiB, bystander calls ${run.otherCalls}`,
      );
      expect(run.errors.map((e) => e.code)).toEqual(['ERR_MCP_SSE_SLOW_CONSUMER']);
      expect(run.harness.router.sessions.stats()).toMatchObject({ slowConsumerCuts: 1, active: 1, detached: 1 });
      expect(growth).toBeLessThan(2 * 4 * MiB + 16 * MiB);
      expect(retained).toBeLessThan(2 * 4 * MiB + 2 * MiB);
      expect(run.otherCalls).toBeGreaterThan(0);
    } finally {
      await run.close();
    }
  });
});
