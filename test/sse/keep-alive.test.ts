import { afterEach, describe, expect, it, vi } from 'vitest';
import { KeepAliveTicker, type Pingable } from '../../lib/sse/keep-alive.js';

const stream = (): Pingable & { pings: number } => {
  const s = {
    lastWriteAt: Date.now(),
    pings: 0,
    keepAlive(now: number) {
      s.pings++;
      s.lastWriteAt = now;
    },
  };
  return s;
};

afterEach(() => {
  vi.useRealTimers();
});

describe('KeepAliveTicker', () => {
  it('pings only streams silent for the interval, from one shared timer', () => {
    vi.useFakeTimers();
    const ticker = new KeepAliveTicker(1000);
    const quiet = stream();
    const busy = stream();
    ticker.add(quiet);
    ticker.add(busy);
    expect(vi.getTimerCount()).toBe(1);
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(250);
      busy.lastWriteAt = Date.now();
    }
    expect(quiet.pings).toBe(2);
    expect(busy.pings).toBe(0);
    ticker.stop();
  });

  it('holds no timer without streams, and none when disabled', () => {
    vi.useFakeTimers();
    const ticker = new KeepAliveTicker(1000);
    const s = stream();
    ticker.add(s);
    ticker.delete(s);
    expect(vi.getTimerCount()).toBe(0);
    const off = new KeepAliveTicker(0);
    off.add(stream());
    expect(vi.getTimerCount()).toBe(0);
  });

  it('bounds silence to 1.25 × the interval', () => {
    vi.useFakeTimers();
    const ticker = new KeepAliveTicker(1000);
    const s = stream();
    ticker.add(s);
    vi.advanceTimersByTime(1250);
    expect(s.pings).toBe(1);
    ticker.stop();
  });
});
