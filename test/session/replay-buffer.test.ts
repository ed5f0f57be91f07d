import { describe, expect, it } from 'vitest';
import { ReplayBuffer } from '../../lib/session/replay-buffer.js';

const fill = (buffer: ReplayBuffer, from: number, to: number, size = 10) => {
  for (let seq = from; seq <= to; seq++) buffer.push(seq, `f${seq}`, size);
};

describe('ReplayBuffer', () => {
  it('returns the frames after a sequence number, in order', () => {
    const buffer = new ReplayBuffer(10, 1000);
    fill(buffer, 1, 5);
    expect(buffer.since(2, 5)).toEqual(['f3', 'f4', 'f5']);
    expect(buffer.since(0, 5)).toEqual(['f1', 'f2', 'f3', 'f4', 'f5']);
    expect(buffer.since(5, 5)).toEqual([]);
  });

  it('drops the oldest frames beyond the event cap and reports the gap', () => {
    const buffer = new ReplayBuffer(3, 1000);
    fill(buffer, 1, 6);
    expect(buffer.length).toBe(3);
    expect(buffer.since(3, 6)).toEqual(['f4', 'f5', 'f6']);
    expect(buffer.since(2, 6)).toBeUndefined();
  });

  it('never holds more bytes than its cap', () => {
    const buffer = new ReplayBuffer(100, 25);
    fill(buffer, 1, 10, 10);
    expect(buffer.bytes).toBeLessThanOrEqual(25);
    expect(buffer.since(8, 10)).toEqual(['f9', 'f10']);
    expect(buffer.since(7, 10)).toBeUndefined();
  });

  it('refuses ids from the future', () => {
    const buffer = new ReplayBuffer(10, 1000);
    fill(buffer, 1, 2);
    expect(buffer.since(3, 2)).toBeUndefined();
    expect(buffer.since(-1, 2)).toBeUndefined();
  });

  it('stays correct across many pushes (compaction)', () => {
    const buffer = new ReplayBuffer(50, 1_000_000);
    fill(buffer, 1, 10_000, 1);
    expect(buffer.length).toBe(50);
    expect(buffer.since(9_998, 10_000)).toEqual(['f9999', 'f10000']);
    expect(buffer.since(9_950, 10_000)).toHaveLength(50);
    expect(buffer.since(9_949, 10_000)).toBeUndefined();
  });
});
