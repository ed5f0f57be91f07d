// bench/phases.js: one function per metric; each starts a fresh contender process, measures, and stops it.
import http from 'node:http';
import { execSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Target, control, openSession, pool, percentile, request, sleep } from './client.js';
import { startChild, cpuTicks } from './children.js';

let clkTck = 100;
try {
  clkTck = Number(execSync('getconf CLK_TCK', { encoding: 'utf8' }).trim()) || 100;
} catch {}
export const CLK_TCK = clkTck;

/** Headers every request of a contender carries. */
export function headersFor(contender) {
  return contender === 'pkg-secured' ? { 'x-api-key': 'bench-key' } : {};
}

async function withChild(contender, label, cfg, fn) {
  const child = await startChild(contender, { label, env: cfg.childEnv, nodeArgs: cfg.nodeArgs ?? [] });
  const target = new Target(child.port, headersFor(contender));
  try {
    return await fn(child, target);
  } finally {
    target.destroy();
    await child.stop({ graceMs: cfg.stopGraceMs ?? 3000 });
  }
}

/** Opens and (optionally) initializes `n` sessions; throws if more than 1% fail, with the first error. */
async function openMany(target, n, concurrency, { initialize = false } = {}) {
  const results = await pool(n, concurrency, async () => {
    const s = await openSession(target);
    if (initialize) {
      try {
        await s.initialize();
      } catch (err) {
        s.close();
        throw err;
      }
    }
    return s;
  });
  const sessions = results.filter((r) => r.ok).map((r) => r.value);
  const failed = results.filter((r) => !r.ok);
  if (failed.length > Math.max(0, n * 0.01)) {
    for (const s of sessions) s.close();
    throw new Error(`${failed.length}/${n} sessions failed to open: ${failed[0].error.message}`);
  }
  return { sessions, failed: failed.length };
}

/** a. Round trip: S sessions × K in-flight `tools/call echo`, timed window after a warm-up. */
export async function roundTrip(contender, cfg) {
  const { rtSessions: S, rtInflight: K, rtWarmupS, rtSeconds } = cfg;
  return withChild(contender, 'roundtrip', cfg, async (child, target) => {
    const { sessions } = await openMany(target, S, S, { initialize: true });
    let phase = 'warmup';
    let calls = 0;
    let errors = 0;
    let firstError;
    const latencies = [];
    let stop = false;
    const text = 'hello from the bench client: a short echo payload';
    async function slot(s) {
      while (!stop && !s.closed) {
        const startedIn = phase;
        try {
          const { msg, latencyMs } = await s.call('tools/call', { name: 'echo', arguments: { text } });
          if (msg.result?.content?.[0]?.text !== text) throw new Error(`wrong echo ${JSON.stringify(msg).slice(0, 200)}`);
          // Throughput counts what completes in the window; latency only calls that also started in it.
          if (phase === 'timed') {
            calls++;
            if (startedIn === 'timed') latencies.push(latencyMs);
          }
        } catch (err) {
          errors++;
          firstError ??= err.message;
          await sleep(10);
        }
      }
    }
    const slots = [];
    for (const s of sessions) for (let k = 0; k < K; k++) slots.push(slot(s));
    await sleep(rtWarmupS * 1000);
    const ticks0 = cpuTicks(child.pid);
    const client0 = process.cpuUsage();
    const t0 = performance.now();
    phase = 'timed';
    await sleep(rtSeconds * 1000);
    phase = 'done';
    const elapsed = (performance.now() - t0) / 1000;
    const ticks1 = cpuTicks(child.pid);
    const client1 = process.cpuUsage(client0);
    stop = true;
    await Promise.race([Promise.all(slots), sleep(12_000)]);
    for (const s of sessions) s.close();
    latencies.sort((a, b) => a - b);
    const serverCpuS = (ticks1 - ticks0) / CLK_TCK;
    return {
      callsPerSec: calls / elapsed,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      cpuUsPerCall: calls ? (serverCpuS * 1e6) / calls : NaN,
      serverCpuUtil: serverCpuS / elapsed,
      clientCpuUsPerCall: calls ? (client1.user + client1.system) / calls : NaN,
      calls,
      errors,
      firstError,
    };
  });
}

/** b. Idle memory: RSS and heap growth (after gc) per open, initialized session. */
export async function idleMemory(contender, cfg) {
  return withChild(contender, 'memory', cfg, async (child, target) => {
    const warm = await openMany(target, 50, 25, { initialize: true });
    await sleep(300);
    const before = await control(target, 'GET', '/__stats');
    const { sessions, failed } = await openMany(target, cfg.memSessions, cfg.openConcurrency, { initialize: true });
    await sleep(500);
    const after = await control(target, 'GET', '/__stats');
    const n = sessions.length;
    for (const s of [...warm.sessions, ...sessions]) s.close();
    return {
      rssPerSession: (after.rss - before.rss) / n,
      heapPerSession: (after.heapUsed - before.heapUsed) / n,
      sessions: n,
      failed,
      serverSessionsReported: after.sessions - before.sessions,
    };
  });
}

/** c. Broadcast fan-out: time from POST /__broadcast until every one of N streams has the notification. */
export async function fanOut(contender, cfg) {
  return withChild(contender, 'fanout', cfg, async (child, target) => {
    const { sessions, failed } = await openMany(target, cfg.fanoutSessions, cfg.openConcurrency * 2);
    let waiting;
    for (const s of sessions) {
      s.onNotification = (msg) => {
        if (waiting && msg.method === 'notifications/message' && msg.params?.data?.seq === waiting.seq) {
          if (--waiting.left === 0) waiting.done(performance.now());
        }
      };
    }
    const runs = [];
    for (let r = 0; r < cfg.fanoutRepeats + 1; r++) {
      await sleep(300);
      let done;
      const all = new Promise((resolve) => (done = resolve));
      // The server numbers broadcasts 1, 2, 3…, so the seq to wait for is known before the reply.
      waiting = { seq: r + 1, left: sessions.length, done };
      const t0 = performance.now();
      const reply = control(target, 'POST', '/__broadcast');
      const timeout = sleep(30_000).then(() => 'timeout');
      const end = await Promise.race([all, timeout]);
      const server = await reply;
      if (server.seq !== r + 1) throw new Error(`broadcast seq mismatch ${server.seq} vs ${r + 1}`);
      const received = sessions.length - waiting.left;
      waiting = undefined;
      if (r === 0) continue; // the first broadcast warms the path up
      runs.push({ ms: end === 'timeout' ? NaN : end - t0, serverMs: server.ms, received, count: server.count });
    }
    for (const s of sessions) s.close();
    const med = (k) => median(runs.map((x) => x[k]));
    return {
      fanoutMs: med('ms'),
      serverLoopMs: med('serverMs'),
      sessions: sessions.length,
      failed,
      minReceived: Math.min(...runs.map((x) => x.received)),
      runs,
    };
  });
}

/** d. Session open rate: GET until the `endpoint` event, bounded concurrency. */
export async function openRate(contender, cfg) {
  return withChild(contender, 'open', cfg, async (child, target) => {
    const warm = await openMany(target, 50, 25);
    for (const s of warm.sessions) s.close();
    await sleep(300);
    const t0 = performance.now();
    const { sessions, failed } = await openMany(target, cfg.openSessions, cfg.openConcurrency);
    const elapsed = (performance.now() - t0) / 1000;
    for (const s of sessions) s.close();
    return { sessionsPerSec: sessions.length / elapsed, sessions: sessions.length, failed };
  });
}

/** Opens a stream, reads up to the `endpoint` event, then stops reading: a consumer that never drains. */
function openStalledStream(target) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: target.host,
      port: target.port,
      method: 'GET',
      path: '/mcp/sse',
      agent: target.sseAgent,
      headers: { accept: 'text/event-stream', ...target.headers },
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error('no endpoint event within 10 s'));
    }, 10_000);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      let buf = '';
      const onData = (chunk) => {
        buf += chunk;
        // Any field order: `event: endpoint` and its `data:` line in one block (an `id:` may sit between).
        const m = /(?:^|\n\n)event: endpoint\n(?:[^\n]+\n)*?data: ([^\n]*)\n(?:[^\n]+\n)*\n/.exec(buf);
        if (!m) return;
        clearTimeout(timer);
        res.off('data', onData);
        res.pause();
        const url = new URL(m[1], `http://${target.host}:${target.port}/mcp/sse`);
        let closed = false;
        res.on('close', () => (closed = true));
        req.on('close', () => (closed = true));
        resolve({ req, res, sessionId: url.searchParams.get('sessionId'), isClosed: () => closed });
      };
      res.setEncoding('utf8');
      res.on('data', onData);
    });
    req.end();
  });
}

/** e. Slow consumer: the server pushes ~`slowMb` MB of notifications to a stream nobody reads. */
export async function slowConsumer(contender, cfg) {
  return withChild(contender, 'slow', cfg, async (child, target) => {
    const warm = await openMany(target, 5, 5, { initialize: true });
    const stalled = await openStalledStream(target);
    await sleep(300);
    const before = await control(target, 'GET', '/__stats');
    const flood = await control(
      target,
      'POST',
      `/__flood?sessionId=${encodeURIComponent(stalled.sessionId)}&mb=${cfg.slowMb}&ms=${cfg.slowSeconds * 1000}`,
      cfg.slowSeconds * 1000 + 15_000,
    );
    await sleep(300);
    const after = await control(target, 'GET', '/__stats');
    // Now read what the server kept for this stream, to see whether it was cut (the stream ends) or not.
    let received = 0;
    const drained = new Promise((resolve) => {
      stalled.res.on('data', (c) => (received += c.length));
      stalled.res.on('end', () => resolve('ended'));
      stalled.res.on('close', () => resolve('closed'));
      stalled.res.on('error', () => resolve('error'));
    });
    stalled.res.resume();
    const outcome = await Promise.race([drained, sleep(cfg.slowDrainS * 1000).then(() => 'still open')]);
    stalled.req.destroy();
    for (const s of warm.sessions) s.close();
    return {
      retainedRssMB: (after.rss - before.rss) / 2 ** 20,
      retainedHeapMB: (after.heapUsed + after.external - before.heapUsed - before.external) / 2 ** 20,
      slowConsumerCuts: after.stats?.slowConsumerCuts,
      peakRssMB: (flood.peakRss - flood.rssBefore) / 2 ** 20,
      sentMB: flood.sentBytes / 2 ** 20,
      floodMs: flood.ms,
      stoppedBy: flood.stoppedBy,
      clientReadMB: received / 2 ** 20,
      streamAfter: outcome,
    };
  });
}

/** f. Churn: heap growth (after gc) over N open-stream/get-endpoint/close cycles, once the server dropped them. */
export async function churn(contender, cfg) {
  return withChild(contender, 'churn', cfg, async (child, target) => {
    const cycle = async () => {
      const s = await openSession(target);
      s.close();
    };
    const warm = await pool(200, cfg.churnConcurrency, cycle);
    const drain0 = await waitDrained(target, cfg.churnDrainS);
    const before = await control(target, 'GET', '/__stats');
    const t0 = performance.now();
    const results = await pool(cfg.churnCycles, cfg.churnConcurrency, cycle);
    const cycleSeconds = (performance.now() - t0) / 1000;
    const failed = results.filter((r) => !r.ok);
    const drain1 = await waitDrained(target, cfg.churnDrainS);
    const after = await control(target, 'GET', '/__stats');
    return {
      heapGrowthMB: (after.heapUsed - before.heapUsed) / 2 ** 20,
      rssGrowthMB: (after.rss - before.rss) / 2 ** 20,
      cycles: cfg.churnCycles,
      failed: failed.length + warm.filter((r) => !r.ok).length,
      firstError: failed[0]?.error?.message,
      cyclesPerSec: cfg.churnCycles / cycleSeconds,
      sessionsLeft: after.sessions,
      drainSeconds: drain1.seconds,
      baselineDrained: drain0.drained,
    };
  });
}

/** Polls the session count until it is 0 or `seconds` passed. */
async function waitDrained(target, seconds) {
  const t0 = performance.now();
  for (;;) {
    const s = await control(target, 'GET', '/__stats');
    if (s.sessions === 0) return { drained: true, seconds: (performance.now() - t0) / 1000 };
    if (performance.now() - t0 > seconds * 1000) return { drained: false, seconds: (performance.now() - t0) / 1000 };
    await sleep(1000);
  }
}

export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export { request };
