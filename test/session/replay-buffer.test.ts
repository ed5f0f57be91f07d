import { describe, expect, it } from 'vitest';
import { ReplayBuffer } from '../../lib/session/replay-buffer.js';
import { ReplayBudget, SessionReplay } from '../../lib/session/replay.js';

const fill = (buffer: ReplayBuffer, from: number, to: number, size = 10, step = 1) => {
  for (let seq = from; seq <= to; seq += step) buffer.push(seq, `f${seq}`, size);
};

describe('ReplayBuffer', () => {
  it('returns the frames after a sequence number, in order', () => {
    const buffer = new ReplayBuffer(10, 1000);
    fill(buffer, 1, 5);
    expect(buffer.since(2)).toEqual(['f3', 'f4', 'f5']);
    expect(buffer.since(0)).toEqual(['f1', 'f2', 'f3', 'f4', 'f5']);
    expect(buffer.since(5)).toEqual([]);
  });

  it('takes sequence numbers with gaps (the other streams of the session wrote those)', () => {
    const buffer = new ReplayBuffer(10, 1000);
    fill(buffer, 2, 10, 10, 4); // 2, 6, 10
    expect(buffer.since(3)).toEqual(['f6', 'f10']);
    expect(buffer.since(6)).toEqual(['f10']);
    expect(buffer.since(0)).toEqual(['f2', 'f6', 'f10']);
  });

  it('drops the oldest frames beyond the event cap and reports the gap', () => {
    const buffer = new ReplayBuffer(3, 1000);
    fill(buffer, 1, 6);
    expect(buffer.length).toBe(3);
    expect(buffer.since(3)).toEqual(['f4', 'f5', 'f6']);
    expect(buffer.since(2)).toBeUndefined();
  });

  it('never holds more bytes than its cap, and says what a push changed', () => {
    const buffer = new ReplayBuffer(100, 25);
    expect(buffer.push(1, 'f1', 10)).toBe(10);
    expect(buffer.push(2, 'f2', 10)).toBe(10);
    expect(buffer.push(3, 'f3', 10)).toBe(0); // f1 left
    expect(buffer.bytes).toBe(20);
    expect(buffer.since(1)).toEqual(['f2', 'f3']);
    expect(buffer.since(0)).toBeUndefined();
  });

  it('trims the oldest frames on demand', () => {
    const buffer = new ReplayBuffer(100, 1000);
    fill(buffer, 1, 5);
    expect(buffer.trim(15)).toBe(20);
    expect(buffer.since(2)).toEqual(['f3', 'f4', 'f5']);
    expect(buffer.since(1)).toBeUndefined();
  });

  it('stays correct across many pushes (compaction)', () => {
    const buffer = new ReplayBuffer(50, 1_000_000);
    fill(buffer, 1, 10_000, 1);
    expect(buffer.length).toBe(50);
    expect(buffer.since(9_998)).toEqual(['f9999', 'f10000']);
    expect(buffer.since(9_950)).toHaveLength(50);
    expect(buffer.since(9_949)).toBeUndefined();
  });
});

describe('SessionReplay', () => {
  const limits = { replayBufferSize: 4, maxBufferedBytes: 1000 };

  it('bounds each stream on its own: a flood on one stream never evicts another', () => {
    const budget = new ReplayBudget(1_000_000, () => {});
    const replay = new SessionReplay(limits, budget);
    replay.remember(1, 1, 'quiet', 5);
    for (let seq = 2; seq <= 500; seq++) replay.remember(0, seq, `flood${seq}`, 10);
    replay.remember(1, 501, 'result', 6);
    expect(replay.since(1, 0)).toEqual(['quiet', 'result']);
    expect(replay.since(1, 1)).toEqual(['result']);
    expect(replay.since(0, 400)).toBeUndefined();
    expect(replay.since(0, 496)).toEqual(['flood497', 'flood498', 'flood499', 'flood500']);
    expect(budget.used).toBe(5 + 6 + 4 * 10);
  });

  it('frees retired streams once their time has passed, and gives bytes back to the budget', () => {
    const budget = new ReplayBudget(1_000_000, () => {});
    const replay = new SessionReplay(limits, budget);
    replay.remember(1, 1, 'a', 1);
    replay.remember(2, 2, 'bb', 2);
    replay.retire(1, 100);
    replay.retire(2, 200);
    replay.sweep(150);
    expect(budget.used).toBe(2);
    replay.sweep(200);
    expect(budget.used).toBe(0);
  });

  it('asks the budget holder for bytes back past the router-wide cap', () => {
    const sessions: SessionReplay[] = [];
    const budget = new ReplayBudget(100, (bytes) => {
      let freed = 0;
      for (const session of sessions) if (freed < bytes) freed += session.trim(bytes - freed);
    });
    const old = new SessionReplay(limits, budget);
    const young = new SessionReplay(limits, budget);
    sessions.push(old, young);
    for (let seq = 1; seq <= 4; seq++) old.remember(0, seq, `old${seq}`, 20);
    young.remember(0, 1, 'young1', 40);
    expect(budget.used).toBeLessThanOrEqual(100);
    expect(young.since(0, 0)).toEqual(['young1']);
    expect(old.since(0, 0)).toBeUndefined();
  });
});
