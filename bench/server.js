// bench/server.js: one contender in its own process. `node --expose-gc bench/server.js <contender>` (names in
// bench/contenders.js) prints `{"port":…,"pid":…}` on stdout, serves HTTP+SSE (GET /mcp/sse, POST /mcp/messages)
// or Streamable HTTP (POST/GET/DELETE /mcp), and the control routes GET /__stats, POST /__broadcast and
// POST /__flood. It exits when its stdin closes (the runner died) or on SIGTERM.
import { performance } from 'node:perf_hooks';
import { createContender } from './contender-app.js';

const contender = process.argv[2];
let problems = 0;
process.on('uncaughtException', (err) => {
  problems++;
  console.error('[bench child] uncaughtException:', err?.stack ?? err);
});
process.on('unhandledRejection', (err) => {
  problems++;
  console.error('[bench child] unhandledRejection:', err?.stack ?? err);
});

const { app, sessions } = await createContender(contender);

app.get('/__stats', (req, res) => {
  global.gc();
  global.gc();
  const m = process.memoryUsage();
  res.json({
    rss: m.rss,
    heapUsed: m.heapUsed,
    external: m.external,
    sessions: sessions.count(),
    problems,
    stats: sessions.stats?.(),
  });
});

let broadcastSeq = 0;
app.post('/__broadcast', (req, res) => {
  const seq = ++broadcastSeq;
  const t0 = performance.now();
  const count = sessions.broadcast({
    method: 'notifications/message',
    params: { level: 'info', logger: 'bench', data: { seq, text: 'broadcast' } },
  });
  res.json({ seq, count, ms: performance.now() - t0 });
});

app.post('/__flood', async (req, res) => {
  const transport = sessions.get(String(req.query.sessionId));
  if (!transport) {
    res.status(404).json({ error: 'unknown session' });
    return;
  }
  const target = Number(req.query.mb ?? 50) * 1024 * 1024;
  const limitMs = Number(req.query.ms ?? 15_000);
  const pad = 'x'.repeat(64 * 1024 - 120);
  const rssBefore = process.memoryUsage.rss();
  let peakRss = rssBefore;
  let sent = 0;
  let messages = 0;
  let stoppedBy = 'done';
  let timer;
  const deadline = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), limitMs);
  });
  const t0 = performance.now();
  try {
    while (sent < target) {
      if (transport.closed === true) {
        stoppedBy = 'closed';
        break;
      }
      const message = {
        jsonrpc: '2.0',
        method: 'notifications/message',
        params: { level: 'info', logger: 'flood', data: { seq: messages, pad } },
      };
      const outcome = await Promise.race([transport.send(message), deadline]);
      if (outcome === 'timeout') {
        stoppedBy = 'timeout';
        break;
      }
      sent += pad.length + 120;
      messages++;
      if ((messages & 7) === 0) peakRss = Math.max(peakRss, process.memoryUsage.rss());
    }
  } catch (err) {
    stoppedBy = `send threw: ${err?.message ?? err}`;
  }
  clearTimeout(timer);
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  res.json({ sentBytes: sent, messages, ms: performance.now() - t0, stoppedBy, rssBefore, peakRss });
});

// Profile mode (bench/profile.sh): the V8 CPU profiler, the one behind `node --cpu-prof`, started and stopped
// over the inspector so that the profile covers exactly the measured window, not start-up or the handshake.
if (process.env.BENCH_CPU_PROF_FILE) {
  const inspector = await import('node:inspector');
  const fs = await import('node:fs');
  const session = new inspector.Session();
  session.connect();
  const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (err, r) => (err ? reject(err) : resolve(r))));
  app.post('/__profile/start', async (req, res) => {
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: Number(process.env.BENCH_PROF_INTERVAL_US ?? 250) });
    await post('Profiler.start');
    res.json({ ok: true });
  });
  app.post('/__profile/stop', async (req, res) => {
    const { profile } = await post('Profiler.stop');
    fs.writeFileSync(process.env.BENCH_CPU_PROF_FILE, JSON.stringify(profile));
    res.json({ ok: true, file: process.env.BENCH_CPU_PROF_FILE });
  });
}

const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port, pid: process.pid })}\n`);
});
server.keepAliveTimeout = 60_000;
server.on('error', (err) => {
  console.error('[bench child] server error:', err);
  process.exit(1);
});

// Never outlive the runner: it holds our stdin open. SIGTERM exits normally so --cpu-prof writes its profile.
process.stdin.on('close', () => process.exit(0));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
