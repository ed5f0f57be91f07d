// Reference runs: the conformance fixtures on the SDKs' OWN transports score what the router must score, which proves
// the fixtures right. Not part of `npm run test:integration`; run with `npm run test:conformance-reference`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSdkMcpHandlerReference, startSdkV1Reference, startSdkV2Reference, type ReferenceServer } from './helpers/sdk-reference-servers.js';
import { formatFailures, runConformance, summarize, type ConformanceReport, type ConformanceRunOptions } from './helpers/conformance.js';

const RUN_TIMEOUT_MS = 400_000;

/** The Tasks extension (SEP-2663): no SDK server implements it, so these fail everywhere; the suite does not score them. */
const TASKS_FAILING = [
  'tasks-capability-negotiation',
  'tasks-dispatch-and-envelope',
  'tasks-lifecycle',
  'tasks-mrtr-composition',
  'tasks-mrtr-input',
  'tasks-request-headers',
  'tasks-request-state-removal',
  'tasks-required-task-error',
  'tasks-wire-fields',
];

async function run(server: ReferenceServer, options: Omit<ConformanceRunOptions, 'url'>): Promise<ConformanceReport> {
  const report = await runConformance({ ...options, url: server.url });
  console.log(summarize(report));
  expect(report.timedOutIn, formatFailures(report)).toBeUndefined();
  expect(report.scenarios.length, formatFailures(report)).toBe(report.announced);
  return report;
}

const failing = (report: ConformanceReport) =>
  report.scenarios
    .filter((s) => !s.passed)
    .map((s) => s.scenario)
    .sort();
const scored = (report: ConformanceReport) => report.scenarios.filter((s) => s.scored);

describe('SDK v1 StreamableHTTPServerTransport (stateful, session map) with the v1 fixture', () => {
  let server: ReferenceServer;
  beforeAll(async () => {
    server = await startSdkV1Reference();
  });
  afterAll(() => server?.close());

  it('0.1.16: 32/32', { timeout: RUN_TIMEOUT_MS }, async () => {
    const report = await run(server, { suite: '0.1.16', selection: 'all' });
    expect([report.announced, failing(report)], formatFailures(report)).toEqual([32, []]);
  });

  it('0.2.0-alpha.12 at 2025-11-25: 33/33 (30/30 scored)', { timeout: RUN_TIMEOUT_MS }, async () => {
    const report = await run(server, { suite: '0.2.0-alpha.12', requirements: '2025-11-25' });
    expect([report.announced, scored(report).length, failing(report)], formatFailures(report)).toEqual([33, 30, []]);
  });

  it('SSE polling at 2025-11-25: priming event, retry and resume all succeed', { timeout: RUN_TIMEOUT_MS }, async () => {
    const report = await run(server, { suite: '0.2.0-alpha.12', scenario: 'server-sse-polling', specVersion: '2025-11-25' });
    const checks = report.scenarios[0]?.checks ?? [];
    for (const id of ['server-sse-priming-event', 'server-sse-retry-field', 'server-sse-disconnect-resume']) {
      expect(checks.find((c) => c.id === id)?.status, id).toBe('SUCCESS');
    }
  });
});

describe('SDK v2 dual era (NodeStreamableHTTPServerTransport sessions + createMcpHandler) with the v2 fixture', () => {
  let server: ReferenceServer;
  beforeAll(async () => {
    server = await startSdkV2Reference();
  });
  afterAll(() => server?.close());

  it('0.1.16: 32/32', { timeout: RUN_TIMEOUT_MS }, async () => {
    const report = await run(server, { suite: '0.1.16', selection: 'all' });
    expect([report.announced, failing(report)], formatFailures(report)).toEqual([32, []]);
  });

  it('0.2.0-alpha.12 at 2025-11-25: 33/33 (30/30 scored)', { timeout: RUN_TIMEOUT_MS }, async () => {
    const report = await run(server, { suite: '0.2.0-alpha.12', requirements: '2025-11-25' });
    expect([report.announced, scored(report).length, failing(report)], formatFailures(report)).toEqual([33, 30, []]);
  });

  it('0.2.0-alpha.12 at 2026-07-28: 37/37 scored; of the unscored, only the Tasks extension fails', { timeout: RUN_TIMEOUT_MS }, async () => {
    const report = await run(server, { suite: '0.2.0-alpha.12', requirements: '2026-07-28' });
    expect([scored(report).length, scored(report).filter((s) => !s.passed).length], formatFailures(report, scored(report))).toEqual([37, 0]);
    expect(failing(report)).toEqual(TASKS_FAILING);
  });
});

describe('SDK v2 createMcpHandler alone (stateless 2025 fallback) with the v2 fixture', () => {
  let server: ReferenceServer;
  beforeAll(async () => {
    server = await startSdkMcpHandlerReference();
  });
  afterAll(() => server?.close());

  it('0.2.0-alpha.12 at 2026-07-28: 37/37 scored; of the unscored, only the Tasks extension fails', { timeout: RUN_TIMEOUT_MS }, async () => {
    const report = await run(server, { suite: '0.2.0-alpha.12', requirements: '2026-07-28' });
    expect([scored(report).length, scored(report).filter((s) => !s.passed).length], formatFailures(report, scored(report))).toEqual([37, 0]);
    expect(failing(report)).toEqual(TASKS_FAILING);
  });

  // Why the 2025 era needs sessions: a stateless server cannot send requests to the client.
  // Each of the four waits for the suite's scenario timeout, shortened here.
  it('0.2.0-alpha.12 at 2025-11-25: 29/33, the four server-to-client request scenarios fail', { timeout: RUN_TIMEOUT_MS }, async () => {
    const report = await run(server, { suite: '0.2.0-alpha.12', requirements: '2025-11-25', scenarioTimeoutMs: 5000 });
    expect(failing(report)).toEqual(['elicitation-sep1034-defaults', 'elicitation-sep1330-enums', 'tools-call-elicitation', 'tools-call-sampling']);
  });
});
