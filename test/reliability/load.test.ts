// 500 concurrent real SDK sessions making tool calls, then all disconnecting: no errors, nothing left behind.
import { describe, it } from 'vitest';
import { describeLoad, runLoad } from './load.js';

describe('load', () => {
  it('500 concurrent SDK v1 sessions call tools and disconnect cleanly', async () => {
    const timings = await runLoad(500, { callsPerSession: 2 });
    console.info(describeLoad('500 sessions × 2 calls', timings));
  }, 60_000);
});
