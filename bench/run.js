// bench/run.js: `npm run bench` — runs every metric for every contender of both transports in rotating order and writes the results.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync, execSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { benchDir, tmpDir, killAll, childLogs } from './children.js';
import { roundTrip, roundTripInterleaved, idleMemory, fanOut, openRate, slowConsumer, churn, redisForwarding, median } from './phases.js';
import { METRICS, fmt, headline, markdown, svg } from './report.js';
import { ALL_CONTENDERS, GROUPS, parseContender, phaseApplies, wireOf } from './contenders.js';
import { PROTOCOL_VERSION } from './streamable-client.js';
import { summarise } from './summarise-profile.js';

// `npm run bench -- --instructions [contender…]`: the deterministic mode (bench/instructions.js) instead.
if (process.argv.includes('--instructions')) {
  const { main } = await import('./instructions.js');
  await main(process.argv.slice(2).filter((a) => a !== '--instructions'));
  process.exit(0);
}

const env = process.env;
const quick = env.BENCH_QUICK === '1';
const num = (name, full, small) => {
  const v = env[name];
  if (v !== undefined && v !== '') {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new TypeError(`${name}=${v} is not a number`);
    return n;
  }
  return quick ? small : full;
};

const cfg = {
  rtSessions: num('BENCH_RT_SESSIONS', 16, 16),
  rtInflight: num('BENCH_RT_INFLIGHT', 4, 4),
  rtWarmupS: num('BENCH_RT_WARMUP_S', 2, 1),
  rtSeconds: num('BENCH_RT_SECONDS', 3, 1.5),
  rtRounds: num('BENCH_RT_ROUNDS', 6, 2),
  memSessions: num('BENCH_MEM_SESSIONS', 2000, 200),
  fanoutSessions: num('BENCH_FANOUT_SESSIONS', 5000, 500),
  fanoutRepeats: num('BENCH_FANOUT_REPEATS', 5, 3),
  openSessions: num('BENCH_OPEN_SESSIONS', 2000, 300),
  openConcurrency: num('BENCH_OPEN_CONCURRENCY', 50, 50),
  slowMb: num('BENCH_SLOW_MB', 50, 10),
  slowSeconds: num('BENCH_SLOW_SECONDS', 20, 5),
  slowDrainS: num('BENCH_SLOW_DRAIN_S', 5, 3),
  churnCycles: num('BENCH_CHURN_CYCLES', 10_000, 1000),
  churnConcurrency: num('BENCH_CHURN_CONCURRENCY', 50, 50),
  churnDrainS: num('BENCH_CHURN_DRAIN_S', 45, 10),
  maxMinutes: num('BENCH_MAX_MINUTES', 35, 8),
  childEnv: {},
};
// A smoke run cannot wait out the package's 30 s resume window in the churn phase; the full run never does this.
const pkgResumeMs = env.BENCH_PKG_RESUME_MS ?? (quick ? '1000' : undefined);
if (pkgResumeMs !== undefined) cfg.childEnv.BENCH_PKG_RESUME_MS = pkgResumeMs;

const ALL = ALL_CONTENDERS;
const PHASES = { roundTrip, idleMemory, fanOut, openRate, slowConsumer, churn };
const PHASE_ALIASES = { a: 'roundTrip', b: 'idleMemory', c: 'fanOut', d: 'openRate', e: 'slowConsumer', f: 'churn' };
const notes = [];
const distIndex = path.join(benchDir, '..', 'dist', 'index.js');

let contenders = (env.BENCH_CONTENDERS ? env.BENCH_CONTENDERS.split(',') : ALL).map((s) => s.trim()).filter(Boolean);
for (const c of contenders) {
  if (!ALL.includes(parseContender(c).base)) throw new TypeError(`BENCH_CONTENDERS: ${c} is started by phase g only`);
}
if (!fs.existsSync(distIndex) && contenders.some((c) => c.startsWith('pkg'))) {
  notes.push('dist/index.js is missing (run `npm run build`): the pkg contenders were skipped.');
  contenders = contenders.filter((c) => !c.startsWith('pkg'));
}
const only = env.BENCH_ONLY
  ? env.BENCH_ONLY.split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  : undefined;
const runRedis = !only || only.includes('g') || only.includes('redis');
const phases = only ? only.filter((s) => s !== 'g' && s !== 'redis').map((s) => PHASE_ALIASES[s] ?? s) : Object.keys(PHASES);
for (const p of phases)
  if (!PHASES[p]) throw new TypeError(`BENCH_ONLY: unknown phase ${p} (expected a–g or ${Object.keys(PHASES).join(', ')}, redis)`);

// File descriptors: a stream costs one fd in the client and one in the server, plus POST and control sockets.
function nofile() {
  const line = fs
    .readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [soft, hard] = line
    .trim()
    .split(/\s+/)
    .slice(3, 5)
    .map((x) => (x === 'unlimited' ? Infinity : Number(x)));
  return { soft, hard };
}
const biggest = Math.max(cfg.fanoutSessions, cfg.memSessions + 100, cfg.openSessions + 100);
const needFds = biggest + 1024;
const limits = nofile();
if (limits.soft < needFds) {
  if (limits.hard >= needFds && env.BENCH_REEXEC !== '1') {
    // Raising the soft limit up to the hard one needs no privilege; the contender processes inherit it.
    const r = spawnSync('sh', ['-c', `ulimit -n ${limits.hard} && exec "$0" "$@"`, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...env, BENCH_REEXEC: '1' },
    });
    process.exit(r.status ?? 1);
  }
  const fit = Math.max(100, limits.soft - 1024);
  notes.push(`Open-file limit is ${limits.soft} (hard ${limits.hard}): session counts were reduced to ${fit}.`);
  cfg.fanoutSessions = Math.min(cfg.fanoutSessions, fit);
  cfg.memSessions = Math.min(cfg.memSessions, fit);
  cfg.openSessions = Math.min(cfg.openSessions, fit);
}

// Nothing may hang: a watchdog ends the whole run (and every contender) past the time limit.
const watchdog = setTimeout(() => {
  console.error(`bench: still running after ${cfg.maxMinutes} min (BENCH_MAX_MINUTES), giving up`);
  killAll();
  process.exit(1);
}, cfg.maxMinutes * 60_000);
watchdog.unref();
process.on('uncaughtException', (err) => {
  console.error('bench: uncaught', err);
  killAll();
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  console.error('bench: unhandled rejection', err);
  killAll();
  process.exit(1);
});

const rotate = (xs, k) => xs.map((_, i) => xs[(i + k) % xs.length]);
const log = (...a) => console.error(...a);

// --- profile mode: one contender, round trip only, under --cpu-prof ---------------------------------------
if (env.BENCH_PROFILE) {
  const contender = env.BENCH_PROFILE;
  parseContender(contender);
  fs.mkdirSync(tmpDir, { recursive: true });
  const file = path.join(tmpDir, `${contender}.cpuprofile`);
  fs.rmSync(file, { force: true });
  const seconds = num('BENCH_RT_SECONDS', 10, 10);
  log(`profiling ${contender}: round trip, ${cfg.rtSessions}×${cfg.rtInflight} in flight, ${seconds} s window under the V8 CPU profiler`);
  const r = await roundTrip(contender, {
    ...cfg,
    rtSeconds: seconds,
    profile: true,
    childEnv: { ...cfg.childEnv, BENCH_CPU_PROF_FILE: file },
  });
  log(`${contender}: ${r.callsPerSec.toFixed(0)} calls/s, ${r.cpuUsPerCall.toFixed(0)} µs CPU per call (profiler on), ${r.errors} errors`);
  if (!fs.existsSync(file)) throw new Error('no .cpuprofile was written');
  console.log(summarise(JSON.parse(fs.readFileSync(file, 'utf8')), { top: Number(env.BENCH_PROF_TOP ?? 30), calls: r.calls }));
  console.log(`\nprofile: ${path.relative(process.cwd(), file)} (open in Chrome DevTools › Performance, or speedscope)`);
  killAll();
  process.exit(0);
}

// --- the full comparison --------------------------------------------------------------------------------
const t0 = performance.now();
const loadBefore = os.loadavg()[0];
log(`bench${quick ? ' (quick)' : ''}: contenders ${contenders.join(', ')}; phases ${phases.join(', ')}`);
const values = Object.fromEntries(METRICS.map((m) => [m.key, {}]));
const details = {};
const errors = {};

for (const [pi, phase] of phases.entries()) {
  const runs = {};
  if (phase === 'roundTrip') {
    const started = performance.now();
    try {
      const byContender = await roundTripInterleaved(contenders, cfg, log);
      for (const [c, r] of Object.entries(byContender)) {
        if (r.error) {
          errors[`${phase}:${c}`] = String(r.error?.message ?? r.error).split('\n')[0];
          log(`  ${phase} ${c}: ERROR ${r.error?.stack ?? r.error}`);
        } else {
          runs[c] = [r];
          log(`  ${phase} ${c}: ${brief(phase, r)}`);
        }
      }
      log(`  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    } catch (err) {
      for (const c of contenders) errors[`${phase}:${c}`] = String(err?.message ?? err).split('\n')[0];
      log(`  ${phase}: ERROR ${err?.stack ?? err}`);
    }
  }
  for (let rep = 0; rep < (phase === 'roundTrip' ? 0 : 1); rep++) {
    for (const c of rotate(contenders, pi + rep).filter((c) => phaseApplies(phase, c))) {
      const started = performance.now();
      try {
        const r = await PHASES[phase](c, cfg);
        (runs[c] ??= []).push(r);
        log(`  ${phase} ${c}: ${brief(phase, r)} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
      } catch (err) {
        errors[`${phase}:${c}`] = String(err?.message ?? err).split('\n')[0];
        log(`  ${phase} ${c}: ERROR ${err?.stack ?? err}`);
      }
    }
  }
  for (const [c, rs] of Object.entries(runs)) {
    for (const m of METRICS.filter((m) => m.phase === phase)) {
      const v = median(rs.map((r) => r[m.key]));
      values[m.key][c] = Number.isFinite(v) ? v : null;
    }
    // Details from the run closest to the median of the phase's first figure.
    const first = METRICS.find((m) => m.phase === phase);
    const med = values[first.key][c];
    const closest = rs.reduce((a, b) => (Math.abs(b[first.key] - med) < Math.abs(a[first.key] - med) ? b : a));
    (details[phase] ??= {})[c] = closest;
  }
}

function brief(phase, r) {
  switch (phase) {
    case 'roundTrip':
      return `${r.callsPerSec.toFixed(0)} calls/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${r.cpuUsPerCall.toFixed(0)} µs CPU/call, ${r.errors} errors${r.firstError ? ` (${r.firstError})` : ''}`;
    case 'idleMemory':
      return `${r.rssPerSession.toFixed(0)} B RSS, ${r.heapPerSession.toFixed(0)} B heap per session (${r.sessions})`;
    case 'fanOut':
      return `${r.fanoutMs.toFixed(1)} ms to ${r.sessions} streams (server ${r.serverLoopMs.toFixed(1)} ms), min received ${r.minReceived}`;
    case 'openRate':
      return `${r.sessionsPerSec.toFixed(0)} sessions/s, ${r.cpuUsPerOpen.toFixed(0)} µs CPU each (${r.sessions}, ${r.failed} failed)`;
    case 'slowConsumer':
      return `RSS +${r.retainedRssMB.toFixed(1)} MB after gc, peak +${r.peakRssMB.toFixed(1)} MB, sent ${r.sentMB.toFixed(1)} MB (${r.stoppedBy}), stream ${r.streamAfter}`;
    case 'churn':
      return `heap +${r.heapGrowthMB.toFixed(2)} MB, RSS +${r.rssGrowthMB.toFixed(1)} MB, ${r.failed} failed, ${r.sessionsLeft} left`;
    default:
      return '';
  }
}

// g. Redis-bus forwarding: needs the package's redis entry (exporting redisSessionBus) and a redis-server binary.
// Measured for each transport whose bare package contender is selected.
const redis = {};
const redisDist = path.join(benchDir, '..', 'dist', 'redis.js');
let haveRedisBus = false;
if (fs.existsSync(redisDist)) {
  try {
    haveRedisBus = typeof (await import(redisDist)).redisSessionBus === 'function';
  } catch {}
}
let haveRedisServer = false;
try {
  execSync('command -v redis-server', { stdio: 'ignore', shell: '/bin/sh' });
  haveRedisServer = true;
} catch {}
for (const [wire, ours] of [
  ['sse', 'pkg'],
  ['streamable', 'pkg-streamable'],
]) {
  if (!contenders.some((c) => wireOf(c) === wire)) continue;
  if (!runRedis) {
    redis[wire] = { text: 'skipped: not selected (BENCH_ONLY)' };
  } else if (!haveRedisBus || !haveRedisServer || !contenders.includes(ours)) {
    const why = [
      !haveRedisBus && 'dist/redis.js does not export redisSessionBus (build the package)',
      !haveRedisServer && 'no redis-server on PATH',
      !contenders.includes(ours) && `the ${ours} contender is not selected`,
    ].filter(Boolean);
    redis[wire] = { text: `skipped: ${why.join('; ')}` };
  } else {
    try {
      const r = await redisForwarding(cfg, { streamable: wire === 'streamable' });
      if (r.unsupported) {
        const status = /→ (\d{3})/.exec(r.unsupported)?.[1] ?? 'an error';
        redis[wire] = {
          ...r,
          text: `not measured: the instance that does not hold a session answers a request for it with ${status}, so requests are not forwarded through the bus (yet); its answer is in results.json`,
        };
      } else {
        const ratio = (k) => (r.forwarded[k] / r.local[k]).toFixed(2);
        redis[wire] = {
          ...r,
          text:
            `local ${fmt(r.local.callsPerSec, 0)} calls/s, p50 ${fmt(r.local.p50, 2)} ms, ${fmt(r.local.cpuUsPerCall, 0)} µs CPU/call; ` +
            `forwarded ${fmt(r.forwarded.callsPerSec, 0)} calls/s (${ratio('callsPerSec')}×), p50 ${fmt(r.forwarded.p50, 2)} ms (${ratio('p50')}×), ` +
            `${fmt(r.forwarded.cpuUsPerCall, 0)} µs CPU/call (${ratio('cpuUsPerCall')}×)` +
            `${r.redisCpuCounted ? ' (CPU: both instances + redis-server)' : ' (CPU: both instances)'}` +
            `${r.forwarded.errors || r.local.errors ? `; errors local ${r.local.errors}, forwarded ${r.forwarded.errors}` : ''}`,
        };
      }
    } catch (err) {
      errors[`redis:${ours}`] = String(err?.message ?? err).split('\n')[0];
      log(`  g. redis (${wire}): ERROR ${err?.stack ?? err}`);
      redis[wire] = { text: `error: ${errors[`redis:${ours}`]}` };
    }
  }
  log(`  g. redis (${wire}): ${redis[wire].text}`);
}

// Ratios within each transport, against its baseline: sdk for HTTP+SSE; for Streamable HTTP the SDK transport
// with the lower server CPU per call in the round trip (the target is relative to the faster one).
const groups = GROUPS.map((g) => {
  const members = contenders.filter((c) => wireOf(c) === g.wire);
  const present = g.baselines.filter((b) => members.includes(b));
  const cpu = (b) => values.cpuUsPerCall?.[b] ?? Infinity;
  const baseline = present.length ? present.reduce((a, b) => (cpu(b) < cpu(a) ? b : a)) : undefined;
  return { wire: g.wire, title: g.title, baselines: g.baselines, baseline, contenders: members };
}).filter((g) => g.contenders.length > 0);
for (const g of groups) if (g.baseline === undefined) notes.push(`${g.title}: no SDK baseline contender ran, so no ratios.`);
const baselineOf = Object.fromEntries(groups.flatMap((g) => g.contenders.map((c) => [c, g.baseline])));

const cpu = os.cpus();
const nofileNow = nofile();
const results = {
  quick,
  machine: {
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    totalMemGB: Math.round(os.totalmem() / 2 ** 30),
    nofile: `${nofileNow.soft}/${nofileNow.hard}`,
    loadavg1m: { before: Number(loadBefore.toFixed(2)), after: Number(os.loadavg()[0].toFixed(2)) },
    date: new Date().toISOString(),
  },
  config: { ...cfg, childEnv: cfg.childEnv },
  contenders,
  durationS: (performance.now() - t0) / 1000,
  values,
  groups,
  ratios: Object.fromEntries(
    METRICS.map((m) => [
      m.key,
      Object.fromEntries(
        contenders.map((c) => {
          const v = values[m.key][c];
          const b = values[m.key][baselineOf[c]];
          return [c, Number.isFinite(v) && Number.isFinite(b) && b !== 0 ? v / b : null];
        }),
      ),
    ]),
  ),
  metrics: METRICS.map(({ key, phase, label, unit, better, goals }) => ({ key, phase, label, unit, better, goals })),
  details,
  errors,
  redis,
  notes,
  childStderr: childLogs,
};
if (pkgResumeMs !== undefined) notes.push(`pkg contenders ran with resumeWindowMs=${pkgResumeMs} (BENCH_PKG_RESUME_MS), not the default 30000.`);
notes.push(
  "The SDK contenders and ceiling broadcast by looping over their Map of transports calling transport.send() (on Streamable HTTP that goes to each session's standalone GET stream); the pkg contenders call router.sessions.broadcast().",
);
notes.push(
  'Every contender is a separate process per phase, and contenders run in rotating order. In the round trip all of them run at once and take turns of BENCH_RT_SECONDS, round-robin, for BENCH_RT_ROUNDS rounds; calls/s and CPU per call are the medians over rounds, latencies are over all rounds.',
);
notes.push(
  `Streamable HTTP contenders are driven as an SDK client drives them: protocol ${PROTOCOL_VERSION}, each tools/call a POST whose response is an event stream read until the matching response; the package at this version writes a priming event (id + retry) first on each such stream, as the spec asks when it can resume, while the SDK transports (no eventStore configured) do not. Idle sessions (b) of Streamable HTTP hold no GET stream; fan-out (c) gives each session a standalone GET stream. The slow consumer (e) is not measured on Streamable HTTP.`,
);

const outDir = env.BENCH_OUT ? path.resolve(env.BENCH_OUT) : quick ? tmpDir : benchDir;
const base = quick && !env.BENCH_OUT ? 'results-quick' : 'results';
fs.mkdirSync(outDir, { recursive: true });
const md = markdown(results);
fs.writeFileSync(path.join(outDir, `${base}.md`), md);
fs.writeFileSync(path.join(outDir, `${base}.json`), `${JSON.stringify(results, null, 2)}\n`);
fs.writeFileSync(path.join(outDir, `${base}.svg`), svg(results));
console.log(md);
for (const line of headline(results)) log(line);
log(`wrote ${path.relative(process.cwd(), path.join(outDir, base))}.{md,json,svg} in ${results.durationS.toFixed(0)} s`);
killAll();
process.exit(Object.keys(errors).length ? 1 : 0);
