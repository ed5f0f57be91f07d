// Leak checks for the reliability tests: handles that keep the process alive, and timers the package created.
import { createHook } from 'node:async_hooks';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../helpers/server.js';

const libUrl = new URL('../../lib/', import.meta.url).href;
const libDir = fileURLToPath(libUrl);

/** Counts of the handle types a leaking server would leave behind (ref'd timers, sockets, listeners). */
export function handleCounts(): Record<string, number> {
  const counts: Record<string, number> = { Timeout: 0, TCPSocketWrap: 0, TCPServerWrap: 0 };
  for (const type of process.getActiveResourcesInfo()) if (type in counts) counts[type]!++;
  return counts;
}

/** Waits until no more handles of those types are alive than in `before` (the test's own, taken at its start). */
export async function expectHandlesBackTo(before: Record<string, number>, timeoutMs = 3000): Promise<void> {
  await waitFor(
    () => {
      const now = handleCounts();
      return Object.keys(before).every((type) => now[type]! <= before[type]!);
    },
    timeoutMs,
    `handles back to ${JSON.stringify(before)} (now ${JSON.stringify(handleCounts())})`,
  );
}

/**
 * Tracks timers created from `lib/` (unref'd ones too, which getActiveResourcesInfo() does not list). An async
 * hook sees every Timeout being created; one whose creator is in lib/ is pending until it has fired (one-shot)
 * or been cleared (`_destroyed`). No destroy hook: that would make Node track every promise, slowing load tests.
 */
export function trackLibTimers(): { pending(): string[]; stop(): void } {
  const live = new Map<{ _destroyed?: boolean }, string>();
  const callSites = (_error: Error, sites: NodeJS.CallSite[]) => sites;
  const hook = createHook({
    init(_asyncId, type, _triggerId, resource) {
      if (type !== 'Timeout') return;
      // Raw call sites: cheap, and no source-map rewriting by the test runner's own prepareStackTrace.
      const { prepareStackTrace, stackTraceLimit } = Error;
      Error.prepareStackTrace = callSites;
      Error.stackTraceLimit = 12;
      const holder: { stack?: NodeJS.CallSite[] } = {};
      Error.captureStackTrace(holder);
      const sites = holder.stack ?? [];
      Error.prepareStackTrace = prepareStackTrace;
      Error.stackTraceLimit = stackTraceLimit;
      // Only timers lib/ asked for itself: the caller of setTimeout/setInterval is in lib/. (Node's own timers,
      // such as a socket's keep-alive timeout armed while lib/ writes a response, belong to the socket.)
      const at = sites.findIndex((site) => site.getFileName() === 'node:timers' && /^set(Timeout|Interval)$/.test(site.getFunctionName() ?? ''));
      const caller = at === -1 ? undefined : sites[at + 1];
      const file = caller?.getFileName() ?? '';
      if (file.includes(libDir) || file.includes(libUrl)) live.set(resource as { _destroyed?: boolean }, `${file}:${caller!.getLineNumber()}`);
    },
  });
  hook.enable();
  return {
    pending: () => [...live].filter(([timer]) => timer._destroyed !== true).map(([, where]) => where),
    stop: () => {
      hook.disable();
      live.clear();
    },
  };
}
