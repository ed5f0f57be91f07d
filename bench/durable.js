// Durable sessions: server CPU per Streamable HTTP call with `durable: true` vs `durable: false` (one instance on a
// Redis bus, the same echo tool), and Redis memory per idle durable session. Needs a built dist/ and redis-server.
// Usage: node bench/durable.js [calls=2000] [sessions=500]
import { fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

const calls = Number(process.argv[2] ?? 2000);
const idleSessions = Number(process.argv[3] ?? 500);
const fixture = fileURLToPath(new URL('../test/integration/fixtures/instance.js', import.meta.url));
const ticks = 100; // USER_HZ on Linux

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

/** CPU seconds (user + system) a process used so far, from /proc. */
function cpuOf(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

async function startInstance(redisUrl, prefix, durable) {
  const child = fork(fixture, [], {
    env: { ...process.env, REDIS_URL: redisUrl, INSTANCE_ID: `bench-${durable}`, PREFIX: prefix, DURABLE: durable ? '' : '0' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const port = await new Promise((resolve) => child.on('message', (m) => m?.type === 'ready' && resolve(m.port)));
  const base = `http://127.0.0.1:${port}`;
  for (;;) {
    const state = await (await fetch(`${base}/control/state`)).json();
    if (state.bus.connected) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { child, base };
}

const headers = (sessionId) => ({
  Accept: 'application/json, text/event-stream',
  'Content-Type': 'application/json',
  'MCP-Protocol-Version': '2025-11-25',
  ...(sessionId === undefined ? {} : { 'Mcp-Session-Id': sessionId }),
});

async function openSession(base) {
  const init = {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
  };
  const response = await fetch(`${base}/mcp`, { method: 'POST', headers: headers(), body: JSON.stringify(init) });
  await response.text();
  const sessionId = response.headers.get('mcp-session-id');
  await (
    await fetch(`${base}/mcp`, { method: 'POST', headers: headers(sessionId), body: '{"jsonrpc":"2.0","method":"notifications/initialized"}' })
  ).text();
  return sessionId;
}

async function measureCalls(redisUrl, durable) {
  const { child, base } = await startInstance(redisUrl, `bench-${durable ? 'd' : 'n'}-${Date.now()}`, durable);
  const sessionId = await openSession(base);
  const call = async (i) => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'echo', arguments: { text: `hello ${i}` } } });
    const text = await (await fetch(`${base}/mcp`, { method: 'POST', headers: headers(sessionId), body })).text();
    if (!text.includes(`hello ${i}`)) throw new Error(`bad answer: ${text}`);
  };
  for (let i = 1; i <= 200; i++) await call(i); // warm-up
  const before = cpuOf(child.pid);
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await call(1000 + i);
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = cpuOf(child.pid) - before;
  child.kill('SIGKILL');
  return { cpuUsPerCall: (cpu / calls) * 1e6, wallUsPerCall: (wall / calls) * 1e6 };
}

async function measureIdleMemory(redisUrl, db) {
  const prefix = `bench-mem-${Date.now()}`;
  const { child, base } = await startInstance(redisUrl, prefix, true);
  const used = async () => Number(/used_memory:(\d+)/.exec(await db.info('memory'))[1]);
  const before = await used();
  const ids = [];
  for (let i = 0; i < idleSessions; i++) ids.push(await openSession(base));
  await new Promise((resolve) => setTimeout(resolve, 200)); // the journal writes on the next tick
  const after = await used();
  const keys = await db.keys(`${prefix}:*`);
  let usage = 0;
  for (const key of keys) usage += Number(await db.memory('USAGE', key));
  child.kill('SIGKILL');
  return {
    perSessionUsedMemory: (after - before) / idleSessions,
    perSessionKeyUsage: usage / idleSessions,
    keysPerSession: keys.length / idleSessions,
  };
}

const port = await freePort();
const redisServer = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
const redisUrl = `redis://127.0.0.1:${port}`;
const db = new Redis(redisUrl);
db.on('error', () => {}); // refused until redis-server listens; ioredis retries
await new Promise((resolve) => db.once('ready', resolve));
try {
  const runs = [];
  // Alternated, three times each: the machine is shared, the median is what counts.
  for (let round = 0; round < 3; round++) {
    runs.push({ durable: false, ...(await measureCalls(redisUrl, false)) });
    runs.push({ durable: true, ...(await measureCalls(redisUrl, true)) });
  }
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const off = median(runs.filter((r) => !r.durable).map((r) => r.cpuUsPerCall));
  const on = median(runs.filter((r) => r.durable).map((r) => r.cpuUsPerCall));
  console.log(`server CPU per call (median of 3 × ${calls} sequential echo calls):`);
  console.log(`  durable: false  ${off.toFixed(0)} µs`);
  console.log(`  durable: true   ${on.toFixed(0)} µs  (${(on / off).toFixed(2)}×, target ≤ 1.3×)`);
  for (const r of runs) console.log(`    run durable=${r.durable}: cpu ${r.cpuUsPerCall.toFixed(0)} µs, wall ${r.wallUsPerCall.toFixed(0)} µs`);
  const memory = await measureIdleMemory(redisUrl, db);
  console.log(`Redis memory per idle durable session (${idleSessions} sessions, initialize + initialized only):`);
  console.log(
    `  used_memory delta ${memory.perSessionUsedMemory.toFixed(0)} B, MEMORY USAGE of its keys ${memory.perSessionKeyUsage.toFixed(0)} B, ${memory.keysPerSession} keys`,
  );
} finally {
  db.disconnect();
  redisServer.kill('SIGKILL');
}
