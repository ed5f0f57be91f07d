// bench/phases.js: one function per metric, for both transports; each starts a fresh contender process, measures, and stops it.
import http from 'node:http';
import { execSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Target, control, openRawStream, openSession, pool, percentile, request, sleep } from './client.js';
import { startChild, cpuTicks } from './children.js';
import { headersFor, isStreamable, wireOf } from './contenders.js';
import { openRawStandaloneStream, openStreamableSession } from './streamable-client.js';

let clkTck = 100;
try {
  clkTck = Number(execSync('getconf CLK_TCK', { encoding: 'utf8' }).trim()) || 100;
} catch {}
export const CLK_TCK = clkTck;

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

/**
 * Opens and (optionally) initializes `n` sessions; throws if more than 1% fail, with the first error. A
 * Streamable HTTP session is always initialized: it exists only from `initialize` on, and holds no stream.
 */
async function openMany(target, n, concurrency, { initialize = false, streamable = false, modern = false } = {}) {
  const results = await pool(n, concurrency, async () => {
    if (streamable || modern) return openStreamableSession(target, { modern });
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
  return withChild(contender, 'roundtrip', cfg, async (child, target) => {
    const { sessions } = await openMany(target, cfg.rtSessions, cfg.rtSessions, {
      initialize: true,
      streamable: isStreamable(contender),
      modern: wireOf(contender) === 'modern',
    });
    try {
      return await callLoad(sessions, {
        inflight: cfg.rtInflight,
        warmupS: cfg.rtWarmupS,
        seconds: cfg.rtSeconds,
        pids: [child.pid],
        beforeWindow: cfg.profile ? () => control(target, 'POST', '/__profile/start') : undefined,
        afterWindow: cfg.profile ? () => control(target, 'POST', '/__profile/stop', 60_000) : undefined,
      });
    } finally {
      for (const s of sessions) s.close();
    }
  });
}

/**
 * a. Round trip, interleaved: every contender runs at once, idle but for its turn; turns of `rtSeconds` go
 * round-robin (in a rotating order) for `rtRounds` rounds, so background load on the machine hits every
 * contender alike. Figures: the median over rounds of calls/s and CPU per call; latency over all rounds.
 */
export async function roundTripInterleaved(contenders, cfg, log = () => {}) {
  const live = [];
  const out = {};
  try {
    for (const c of contenders) {
      const entry = { contender: c, rounds: [], latencies: [], errors: 0 };
      try {
        entry.child = await startChild(c, { label: 'roundtrip', env: cfg.childEnv, nodeArgs: cfg.nodeArgs ?? [] });
        entry.target = new Target(entry.child.port, headersFor(c));
        entry.sessions = (
          await openMany(entry.target, cfg.rtSessions, cfg.rtSessions, {
            initialize: true,
            streamable: isStreamable(c),
            modern: wireOf(c) === 'modern',
          })
        ).sessions;
        // A first warm-up, so that every contender's code is optimised before its first measured turn.
        await callLoad(entry.sessions, { inflight: cfg.rtInflight, warmupS: cfg.rtWarmupS, seconds: 0.2, pids: [entry.child.pid] });
        live.push(entry);
      } catch (err) {
        entry.error = err;
        out[c] = { error: err };
        if (entry.child) live.push(entry);
      }
    }
    const ready = live.filter((e) => !e.error);
    for (let round = 0; round < cfg.rtRounds; round++) {
      for (let i = 0; i < ready.length; i++) {
        const e = ready[(i + round) % ready.length];
        const r = await callLoad(e.sessions, {
          inflight: cfg.rtInflight,
          warmupS: 0.5,
          seconds: cfg.rtSeconds,
          pids: [e.child.pid],
        });
        e.latencies.push(...r.latencies);
        e.errors += r.errors;
        e.firstError ??= r.firstError;
        e.rounds.push({
          callsPerSec: r.callsPerSec,
          cpuUsPerCall: r.cpuUsPerCall,
          p50: r.p50,
          p99: r.p99,
          serverCpuUtil: r.serverCpuUtil,
          clientCpuUsPerCall: r.clientCpuUsPerCall,
          calls: r.calls,
        });
      }
      log(
        `  roundTrip round ${round + 1}/${cfg.rtRounds}: ` +
          ready.map((e) => `${e.contender} ${e.rounds.at(-1).callsPerSec.toFixed(0)}/s ${e.rounds.at(-1).cpuUsPerCall.toFixed(0)} µs`).join(', '),
      );
    }
    for (const e of ready) {
      e.latencies.sort((a, b) => a - b);
      const med = (k) => median(e.rounds.map((r) => r[k]));
      out[e.contender] = {
        callsPerSec: med('callsPerSec'),
        p50: percentile(e.latencies, 50),
        p99: percentile(e.latencies, 99),
        cpuUsPerCall: med('cpuUsPerCall'),
        serverCpuUtil: med('serverCpuUtil'),
        clientCpuUsPerCall: med('clientCpuUsPerCall'),
        calls: e.rounds.reduce((a, r) => a + r.calls, 0),
        errors: e.errors,
        firstError: e.firstError,
        rounds: e.rounds,
      };
    }
    return out;
  } finally {
    for (const e of live) {
      for (const s of e.sessions ?? []) s.close();
      e.target?.destroy();
      await e.child.stop({ graceMs: cfg.stopGraceMs ?? 3000 });
    }
  }
}

/**
 * Keeps `inflight` `tools/call echo` requests going on every session; after `warmupS`, measures a window of
 * `seconds`: calls/s, p50/p99 latency, and the CPU the processes `pids` used per call (from /proc).
 */
export async function callLoad(sessions, { inflight, warmupS, seconds, pids, beforeWindow, afterWindow }) {
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
  for (const s of sessions) for (let k = 0; k < inflight; k++) slots.push(slot(s));
  await sleep(warmupS * 1000);
  await beforeWindow?.();
  const ticks0 = pids.map(cpuTicks);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  phase = 'timed';
  await sleep(seconds * 1000);
  phase = 'done';
  const elapsed = (performance.now() - t0) / 1000;
  const ticks1 = pids.map(cpuTicks);
  const client1 = process.cpuUsage(client0);
  await afterWindow?.();
  stop = true;
  await Promise.race([Promise.all(slots), sleep(12_000)]);
  latencies.sort((a, b) => a - b);
  const serverCpuS = ticks1.reduce((a, t, i) => a + t - ticks0[i], 0) / CLK_TCK;
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
    latencies,
  };
}

/**
 * b. Idle memory: RSS and heap growth (after gc) per open, initialized session. An HTTP+SSE session holds its
 * event stream; a Streamable HTTP one holds no stream (no GET), as an idle client of that transport does.
 */
export async function idleMemory(contender, cfg) {
  return withChild(contender, 'memory', cfg, async (child, target) => {
    const streamable = isStreamable(contender);
    const warm = await openMany(target, 50, 25, { initialize: true, streamable });
    await sleep(300);
    const before = await control(target, 'GET', '/__stats');
    const { sessions, failed } = await openMany(target, cfg.memSessions, cfg.openConcurrency, { initialize: true, streamable });
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

/**
 * c. Broadcast fan-out: time from POST /__broadcast until every one of N streams has the notification. The
 * streams are bare sockets searched for the notification's bytes, so the client is not the bottleneck.
 */
export async function fanOut(contender, cfg) {
  return withChild(contender, 'fanout', cfg, async (child, target) => {
    const streamable = isStreamable(contender);
    // Streamable HTTP: each session is initialized, then opens its standalone GET stream (where broadcasts go).
    const open = streamable
      ? async () => openRawStandaloneStream(target, (await openStreamableSession(target)).sessionId)
      : () => openRawStream(target);
    const results = await pool(cfg.fanoutSessions, cfg.openConcurrency * 2, open);
    const streams = results.filter((r) => r.ok).map((r) => r.value);
    const failed = results.length - streams.length;
    try {
      if (failed > cfg.fanoutSessions * 0.01) {
        throw new Error(`${failed}/${cfg.fanoutSessions} streams failed to open: ${results.find((r) => !r.ok).error.message}`);
      }
      // The server numbers broadcasts 1, 2, 3…, and serialises data as {"seq":N,"text":"broadcast"}.
      let seq = 0;
      const broadcastTo = async (marker) => {
        let left = streams.length;
        let done;
        const all = new Promise((resolve) => (done = resolve));
        for (const st of streams) {
          let tail = Buffer.alloc(0);
          st.onChunk = (chunk) => {
            const hay = tail.length ? Buffer.concat([tail, chunk]) : chunk;
            if (hay.indexOf(marker) !== -1) {
              st.onChunk = undefined;
              if (--left === 0) done(performance.now());
            } else {
              tail = hay.subarray(Math.max(0, hay.length - marker.length));
            }
          };
        }
        const t0 = performance.now();
        const reply = control(target, 'POST', '/__broadcast');
        const end = await Promise.race([all, sleep(30_000).then(() => 'timeout')]);
        const server = await reply;
        if (server.seq !== seq) throw new Error(`broadcast seq mismatch ${server.seq} vs ${seq}`);
        for (const st of streams) st.onChunk = undefined;
        return { ms: end === 'timeout' ? NaN : end - t0, serverMs: server.ms, received: streams.length - left, count: server.count };
      };
      if (streamable) {
        // Until the server has attached every GET (the SDK transports say nothing before the first event),
        // broadcast; a stream counts once it heard one.
        const t0 = performance.now();
        for (;;) {
          await sleep(300);
          const r = await broadcastTo(Buffer.from(`{"seq":${++seq},"text":"broadcast"}`));
          if (r.received === streams.length) break;
          const refused = streams.find((st) => st.refused !== undefined);
          if (refused || performance.now() - t0 > 20_000) {
            throw new Error(
              `only ${r.received}/${streams.length} standalone streams receive broadcasts${refused ? ` (one got ${refused.refused})` : ''}`,
            );
          }
        }
      }
      const runs = [];
      for (let r = 0; r < cfg.fanoutRepeats + 1; r++) {
        await sleep(300);
        const marker = Buffer.from(`{"seq":${++seq},"text":"broadcast"}`);
        const run = await broadcastTo(marker);
        if (r === 0) continue; // the first broadcast warms the path up
        runs.push(run);
      }
      const med = (k) => median(runs.map((x) => x[k]));
      return {
        fanoutMs: med('ms'),
        serverLoopMs: med('serverMs'),
        sessions: streams.length,
        failed,
        minReceived: Math.min(...runs.map((x) => x.received)),
        runs,
      };
    } finally {
      for (const st of streams) st.close();
    }
  });
}

/**
 * d. Session open rate, bounded concurrency: HTTP+SSE, GET until the `endpoint` event; Streamable HTTP,
 * `initialize` until its response, then `notifications/initialized` (the first step that yields a session).
 */
export async function openRate(contender, cfg) {
  return withChild(contender, 'open', cfg, async (child, target) => {
    const streamable = isStreamable(contender);
    const warm = await openMany(target, 50, 25, { streamable });
    for (const s of warm.sessions) s.close();
    await sleep(300);
    const ticks0 = cpuTicks(child.pid);
    const t0 = performance.now();
    const { sessions, failed } = await openMany(target, cfg.openSessions, cfg.openConcurrency, { streamable });
    const elapsed = (performance.now() - t0) / 1000;
    const ticks1 = cpuTicks(child.pid);
    for (const s of sessions) s.close();
    return {
      sessionsPerSec: sessions.length / elapsed,
      cpuUsPerOpen: ((ticks1 - ticks0) / CLK_TCK / sessions.length) * 1e6,
      sessions: sessions.length,
      failed,
    };
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

/**
 * f. Churn: heap growth (after gc) over N cycles, once the server dropped the sessions. HTTP+SSE: open a stream,
 * get the endpoint, close the stream. Streamable HTTP: initialize, initialized, DELETE.
 */
export async function churn(contender, cfg) {
  return withChild(contender, 'churn', cfg, async (child, target) => {
    const cycle = isStreamable(contender)
      ? async () => (await openStreamableSession(target)).terminate()
      : async () => (await openSession(target)).close();
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

/**
 * g. Redis bus: two instances of the package sharing sessions through a local redis-server. Sessions live on
 * instance A; the same calls are POSTed to A (local) and to B (forwarded through Redis), alternating. With
 * `streamable`, the sessions are Streamable HTTP ones; when B does not serve a request for a session it does
 * not hold, the result is `{ unsupported }` with B's answer instead of figures.
 */
export async function redisForwarding(cfg, { streamable = false } = {}) {
  const { startRedis } = await import('./children.js');
  const redis = await startRedis();
  const contender = streamable ? 'pkg-streamable-redis' : 'pkg-redis';
  const env = { ...cfg.childEnv, BENCH_REDIS_URL: redis.url, BENCH_REDIS_PREFIX: `bench${process.pid}:` };
  const started = [];
  const targets = [];
  try {
    const a = await startChild(contender, { label: 'redis-a', env });
    started.push(a);
    const b = await startChild(contender, { label: 'redis-b', env });
    started.push(b);
    const ta = new Target(a.port);
    const tb = new Target(b.port);
    targets.push(ta, tb);
    const { sessions } = await openMany(ta, cfg.rtSessions, cfg.rtSessions, { initialize: true, streamable });
    try {
      // The directory entry is written asynchronously: wait until B can forward to every session.
      const t0 = performance.now();
      for (const s of sessions) {
        s.postTarget = tb;
        for (;;) {
          try {
            await s.call('tools/call', { name: 'echo', arguments: { text: 'probe' } });
            break;
          } catch (err) {
            if (performance.now() - t0 > 10_000) {
              if (streamable) return { unsupported: err.message.slice(0, 300) };
              throw new Error(`forwarding never worked: ${err.message}`);
            }
            await sleep(100);
          }
        }
      }
      const runs = { local: [], forwarded: [] };
      const pids = [a.pid, b.pid, redis.pid].filter(Boolean);
      for (let rep = 0; rep < cfg.rtRounds; rep++) {
        for (const mode of rep % 2 ? ['forwarded', 'local'] : ['local', 'forwarded']) {
          for (const s of sessions) s.postTarget = mode === 'local' ? ta : tb;
          runs[mode].push(
            await callLoad(sessions, {
              inflight: cfg.rtInflight,
              warmupS: rep === 0 ? cfg.rtWarmupS : 0.5,
              seconds: cfg.rtSeconds,
              pids,
            }),
          );
        }
      }
      const summary = (rs) =>
        Object.fromEntries(['callsPerSec', 'p50', 'p99', 'cpuUsPerCall', 'errors'].map((k) => [k, median(rs.map((r) => r[k]))]));
      return { local: summary(runs.local), forwarded: summary(runs.forwarded), redisCpuCounted: Boolean(redis.pid) };
    } finally {
      for (const s of sessions) s.close();
    }
  } finally {
    for (const t of targets) t.destroy();
    for (const c of started) await c.stop();
    await redis.stop();
  }
}
