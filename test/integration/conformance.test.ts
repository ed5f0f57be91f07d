// The official MCP conformance suite (server scenarios, on Node 22) against this package's router at /mcp, with an
// SDK v1 and an SDK v2 fixture server behind it: every scenario must pass, as it does on the SDKs' own transports
// (see sdk-transports.reference.ts for those reference runs).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConformanceServerV1, createConformanceServerV2 } from './fixtures/conformance-server.js';
import { startConformanceApp, type ConformanceApp } from './helpers/conformance-app.js';
import { describeCheck, formatFailures, runConformance, summarize, type ConformanceReport } from './helpers/conformance.js';

/** A run that hangs is killed at 6 minutes by the helper; the test waits a little longer to report it. */
const RUN_TIMEOUT_MS = 400_000;

function expectAllPassed(report: ConformanceReport, announced: number): void {
  console.log(summarize(report));
  expect(report.timedOutIn, formatFailures(report)).toBeUndefined();
  expect(report.announced, `the suite announced ${report.announced} scenarios, not ${announced}`).toBe(announced);
  expect(report.scenarios.length, formatFailures(report)).toBe(announced);
  expect(
    report.scenarios.filter((s) => !s.passed).map((s) => s.scenario),
    formatFailures(report),
  ).toEqual([]);
  expect(report.exitCode).toBe(0);
}

describe.each([
  { sdk: 'SDK v1', createServer: createConformanceServerV1 },
  { sdk: 'SDK v2', createServer: createConformanceServerV2 },
])('conformance suite against the router with the $sdk fixture', ({ createServer }) => {
  let app: ConformanceApp;

  beforeAll(async () => {
    app = await startConformanceApp({ createServer });
  });

  afterAll(async () => {
    await app?.close();
  });

  it('0.1.16: all 32 server scenarios pass', { timeout: RUN_TIMEOUT_MS }, async () => {
    expectAllPassed(await runConformance({ suite: '0.1.16', url: app.url, selection: 'all' }), 32);
  });

  it('0.2.0-alpha.12 at 2025-11-25: all 33 scenarios pass (30 scored, 3 run unscored)', { timeout: RUN_TIMEOUT_MS }, async () => {
    const report = await runConformance({ suite: '0.2.0-alpha.12', url: app.url, requirements: '2025-11-25' });
    expectAllPassed(report, 33);
    expect(report.scenarios.filter((s) => s.scored)).toHaveLength(30);
  });

  // The suite only warns when these are missing; the SDK's own transports pass them, and the design requires them.
  it('SSE polling (SEP-1699): priming event with retry, a server-ended stream, and the result after resuming', {
    timeout: RUN_TIMEOUT_MS,
  }, async () => {
    const report = await runConformance({ suite: '0.2.0-alpha.12', url: app.url, scenario: 'server-sse-polling', specVersion: '2025-11-25' });
    const checks = report.scenarios.find((s) => s.scenario === 'server-sse-polling')?.checks ?? [];
    const status = (id: string) => checks.find((c) => c.id === id)?.status ?? 'missing';
    const verdicts = {
      'server-sse-priming-event': status('server-sse-priming-event'),
      'server-sse-retry-field': status('server-sse-retry-field'),
      'server-sse-disconnect-resume': status('server-sse-disconnect-resume'),
    };
    const detail = checks.map(describeCheck).join('\n');
    expect(verdicts, `${formatFailures(report)}\n${detail}`).toEqual({
      'server-sse-priming-event': 'SUCCESS',
      'server-sse-retry-field': 'SUCCESS',
      'server-sse-disconnect-resume': 'SUCCESS',
    });
  });
});
