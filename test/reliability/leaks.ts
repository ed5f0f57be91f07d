// Leak checks for the reliability tests: handles that keep the process alive, and timers the package created.
import { createHook } from 'node:async_hooks';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../helpers/server.js';

const libDir = fileURLToPath(new URL('../../lib/', import.meta.url));

/** Counts of the handle types a leaking server would leave behind (ref'd timers, sockets, listeners). */
export function handleCounts(): Record<string, number> {
  const counts: Record<string, number> = { Timeout: 0, TCPSocketWrap: 0, TCPServerWrap: 0 };
  for (const type of process.getActiveResourcesInfo()) if (type in counts) counts[type]!++;
  return counts;
}

/** Waits until no more handles of those types are alive than in `before` (the test's own, taken at its start). */
export async function expectHandlesBackTo(before: Record<string, number>, timeoutMs = 3000): Promise<void> {
  await waitFor(() => {
    const now = handleCounts();
    return Object.keys(before).every((type) => now[type]! <= before[type]!);
  }, timeoutMs, `handles back to ${JSON.stringify(before)} (now ${JSON.stringify(handleCounts())})`);
}

/**
 * Tracks timers created from `lib/` (unref'd ones too, which getActiveResourcesInfo() does not list) through
 * async_hooks: a timer is pending from its creation until it fires (one-shot) or is cleared.
 */
export function trackLibTimers(): { pending(): string[]; stop(): void } {
  const live = new Map<number, string>();
  const hook = createHook({
    init(asyncId, type) {
      if (type !== 'Timeout') return;
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 30;
      const stack = new Error().stack ?? '';
      Error.stackTraceLimit = limit;
      const frame = stack.split('\n').find((line) => line.includes(libDir));
      if (frame !== undefined) live.set(asyncId, frame.trim());
    },
    destroy(asyncId) {
      live.delete(asyncId);
    },
  });
  hook.enable();
  return {
    pending: () => [...live.values()],
    stop: () => hook.disable(),
  };
}
