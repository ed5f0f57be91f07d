// router.health: a readiness probe handler answering 200 with the session counts, or 503 while draining or with the bus down.
import type { RequestHandler } from 'express';
import type { SessionStats } from '../stats.js';

/** The body `router.health` answers with. */
export interface HealthReport {
  /** `ok` (200); `draining` after `close()` started, `bus_unavailable` while the bus is not connected (503). */
  status: 'ok' | 'draining' | 'bus_unavailable';
  /** `sessions.stats()`. */
  sessions: SessionStats;
  /** The bus's own `stats()` (the Redis bus: `connected`, `forwarded`, …), or `null` for a bus without it. */
  bus: Record<string, unknown> | null;
}

export interface HealthSources {
  stats(): SessionStats;
  bus: object;
  isDraining(): boolean;
}

/** Builds the handler; it never throws (a bus whose `stats()` throws counts as unavailable). */
export function createHealth({ stats, bus, isDraining }: HealthSources): RequestHandler {
  const busStats = (bus as { stats?: () => Record<string, unknown> }).stats?.bind(bus);
  return (req, res) => {
    let report: HealthReport;
    try {
      const ofBus = busStats === undefined ? null : busStats();
      const busDown = ofBus !== null && ofBus.connected === false;
      report = { status: isDraining() ? 'draining' : busDown ? 'bus_unavailable' : 'ok', sessions: stats(), bus: ofBus };
    } catch {
      report = { status: 'bus_unavailable', sessions: stats(), bus: null };
    }
    const body = JSON.stringify(report);
    res.writeHead(report.status === 'ok' ? 200 : 503, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}
