// Stress: a longer load run, 2,000 concurrent real SDK sessions making tool calls, then all disconnecting.
import { describe, it } from 'vitest';
import { describeLoad, runLoad } from '../reliability/load.js';

describe('longer load', () => {
  it('2,000 concurrent SDK v1 sessions call tools and disconnect cleanly', async () => {
    const timings = await runLoad(2_000, { callsPerSession: 4 });
    console.info(describeLoad('2,000 sessions × 4 calls', timings));
  });
});
