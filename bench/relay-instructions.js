// bench/relay-instructions.js: the deterministic measure of the Redis bus: instructions per `tools/call` answered
// locally vs relayed (Streamable HTTP) or forwarded (HTTP+SSE) to the session's owner, counted by valgrind.
//
//   node bench/relay-instructions.js [streamable|sse …]       both wires (or the ones named), local and relayed; needs dist/
//   node bench/relay-instructions.js --child <wire> <mode> <redis url> <warm-up calls> <calls>   one run (what valgrind runs)
//
// Two routers (instances A and B, each its own `redisSessionBus`) and the client live in one single-threaded process,
// so valgrind counts both instances' work; redis-server (started here, outside valgrind) and the kernel are not
// counted. The session is opened on A; `local` sends the calls to A, `relayed` to B, which relays them (Streamable
// HTTP) or forwards them (HTTP+SSE: the answer still arrives on A's event stream) through Redis to A. Each run is
// done with two call counts; the difference of the instruction totals over the difference of the call counts is
// the cost of one call, start-up and warm-up cancelled out. Env: BENCH_INSN_WARMUP (2000), BENCH_INSN_CALLS
// ("500,2500"), BENCH_INSN_JOBS (valgrind runs at once, 1), BENCH_RELAY_DURABLE (1; 0 for `durable: false`),
// BENCH_RELAY_DIST (a build to measure instead of dist/), BENCH_OUT (folder for relay-instructions.{md,json},
// default bench/.tmp).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  answers,
  cachegrind,
  callBody,
  Connection,
  expectStatus,
  httpRequest,
  nodeFlags,
  pool,
  sseStream,
  streamableSession,
} from './instructions.js';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const WIRES = { streamable: 'Streamable HTTP (relayed)', sse: 'HTTP+SSE (forwarded)' };
const MODES = ['local', 'relayed'];

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Streamable HTTP: `initialize` and `notifications/initialized` on A, then each call a POST to `target` (A or B)
 * on one keep-alive socket. `call(false)` returns the status instead of throwing on a refusal (the probe).
 */
async function streamableClient(portA, target) {
  const session = await streamableSession(new Connection(portA));
  const posts = new Connection(target);
  let id = 0;
  return async (strict = true) => {
    const response = await posts.request(httpRequest('POST', '/mcp', session, callBody(++id)));
    if (!strict && response.status !== 200) return response.status;
    expectStatus(response, 200, 'tools/call');
    if (!answers(response.body, id)) throw new Error(`tools/call ${id}: no answer in ${response.body.slice(0, 200)}`);
    return 200;
  };
}

/** HTTP+SSE: the event stream on A; each call a POST to `target` (A or B), done once its 202 and its answer (on A) came. */
async function sseClient(portA, target) {
  const { postPath, answer } = await sseStream(portA);
  let id = 0;
  const exchange = async (posts, body, strict = true) => {
    const answered = answer(++id);
    const response = await posts.request(httpRequest('POST', postPath, {}, body(id)));
    if (!strict && response.status !== 202) return response.status;
    expectStatus(response, 202, `POST ${postPath}`);
    await answered;
    return 202;
  };
  const setup = new Connection(portA);
  await exchange(
    setup,
    (n) =>
      `{"jsonrpc":"2.0","id":${n},"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"bench","version":"1.0.0"}}}`,
  );
  expectStatus(await setup.request(httpRequest('POST', postPath, {}, '{"jsonrpc":"2.0","method":"notifications/initialized"}')), 202, 'initialized');
  const posts = new Connection(target);
  return (strict = true) => exchange(posts, callBody, strict);
}

/** One in-process run: instances A and B on one Redis, the session on A, `warmup` then `calls` calls to A or B. */
async function child(wire, mode, redisUrl, warmup, calls) {
  // BENCH_RELAY_DIST: a build elsewhere (e.g. of another commit, to compare), instead of this checkout's dist/.
  const distDir = process.env.BENCH_RELAY_DIST
    ? pathToFileURL(`${path.resolve(process.env.BENCH_RELAY_DIST)}/`)
    : new URL('../dist/', import.meta.url);
  const { createMcpSseRouter } = await import(new URL('index.js', distDir).href);
  const { redisSessionBus } = await import(new URL('redis.js', distDir).href);
  const { buildServer } = await import('./mcp-server.js');
  const express = (await import('express')).default;
  const durable = process.env.BENCH_RELAY_DURABLE !== '0';
  const prefix = `insn${process.pid}`;
  // The bench's Redis contenders (bench/contender-app.js), with `durable` chosen here.
  const listen = () => {
    const app = express();
    app.disable('x-powered-by');
    app.use('/mcp', createMcpSseRouter({ createServer: () => buildServer(), bus: redisSessionBus({ url: redisUrl, prefix, durable }) }));
    return new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s.address().port));
    });
  };
  const portA = await listen();
  const portB = await listen();
  const make = wire === 'sse' ? sseClient : streamableClient;
  const call = await make(portA, mode === 'local' ? portA : portB);
  // B learns the owner from the directory, written just after the session opened: wait until it relays.
  const t0 = performance.now();
  while ((await call(false)) >= 300) {
    if (performance.now() - t0 > 60_000) throw new Error('instance B never relayed to the session on A');
    await pause(50);
  }
  for (let i = 0; i < warmup; i++) await call();
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < calls; i++) await call();
  const { user, system } = process.cpuUsage(cpu0);
  const ms = performance.now() - started;
  process.stdout.write(`${JSON.stringify({ wire, mode, warmup, calls, ms: Math.round(ms), cpuUsPerCall: Math.round((user + system) / calls) })}\n`);
  // No teardown: both runs of a configuration end the same way, and nothing after the last call is counted twice.
  process.exit(0);
}

/**
 * The flags of bench/instructions.js, and a garbage collector scheduled by allocation alone: by default V8 sizes the
 * heap and times idle and memory-reducing collections from wall-clock speeds, which valgrind and the machine's load
 * change from run to run (here, with timers and Redis round trips, that moved a figure by several percent).
 */
const flags = nodeFlags.includes('--predictable-gc-schedule') ? nodeFlags : [...nodeFlags, '--predictable-gc-schedule'];

/** Instructions of one `--child` run under cachegrind. */
function countInstructions(wire, mode, redisUrl, warmup, calls) {
  const args = [...flags, fileURLToPath(import.meta.url), '--child', wire, mode, redisUrl, String(warmup), String(calls)];
  return cachegrind(args, `${wire} ${mode} ${calls}`);
}

async function main(names) {
  const env = process.env;
  const warmup = Number(env.BENCH_INSN_WARMUP ?? 2000);
  const [few, many] = (env.BENCH_INSN_CALLS ?? '500,2500').split(',').map(Number);
  const jobs = Number(env.BENCH_INSN_JOBS ?? 1);
  if (![warmup, few, many, jobs].every(Number.isInteger) || !(many > few) || jobs < 1) {
    throw new TypeError('BENCH_INSN_WARMUP, BENCH_INSN_CALLS ("fewer,more") and BENCH_INSN_JOBS must be whole numbers');
  }
  const wires = names.length > 0 ? names : Object.keys(WIRES);
  for (const w of wires) if (WIRES[w] === undefined) throw new TypeError(`Unknown wire "${w}": use ${Object.keys(WIRES).join(' or ')}.`);
  const { startRedis } = await import('./children.js');
  const redis = await startRedis();
  const startedAt = performance.now();
  const durable = env.BENCH_RELAY_DURABLE !== '0';
  console.error(
    `relay instructions: ${wires.join(', ')}, durable ${durable}; ${warmup} warm-up calls, then ${few} and ${many} calls, under valgrind`,
  );
  try {
    const runs = wires.flatMap((wire) => MODES.flatMap((mode) => [few, many].map((calls) => ({ wire, mode, calls }))));
    const counted = await pool(runs, jobs, async ({ wire, mode, calls }) => {
      const r = await countInstructions(wire, mode, redis.url, warmup, calls);
      console.error(`  ${wire} ${mode} ${calls} calls: ${r.instructions.toLocaleString('en-US')} instructions (${r.seconds.toFixed(0)} s)`);
      return { wire, mode, calls, ...r };
    });
    const perCall = {};
    for (const wire of wires) {
      perCall[wire] = {};
      for (const mode of MODES) {
        const [a, b] = counted.filter((r) => r.wire === wire && r.mode === mode);
        perCall[wire][mode] = (b.instructions - a.instructions) / (many - few);
      }
    }
    const results = {
      machine: { cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, date: new Date().toISOString() },
      config: { warmup, calls: [few, many], durable, nodeFlags: flags, tool: 'valgrind --tool=cachegrind --cache-sim=no' },
      perCall,
      runs: counted,
      minutes: (performance.now() - startedAt) / 60_000,
    };
    const md = markdown(results);
    const outDir = env.BENCH_OUT ? path.resolve(env.BENCH_OUT) : path.join(benchDir, '.tmp');
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, 'relay-instructions.md'), md);
    fs.writeFileSync(path.join(outDir, 'relay-instructions.json'), `${JSON.stringify(results, null, 2)}\n`);
    console.log(md);
    console.error(`wrote ${path.relative(process.cwd(), path.join(outDir, 'relay-instructions'))}.{md,json}`);
  } finally {
    await redis.stop();
  }
}

function markdown({ machine, config, perCall, minutes }) {
  const k = (n) => Math.round(n / 1000).toLocaleString('en-US');
  const out = ['# express-mcp-sse: instructions per call, local vs through the Redis bus (deterministic mode)', ''];
  out.push(
    `${config.tool}, Node ${machine.node} ${config.nodeFlags.join(' ')}, ${machine.date}; two routers (durable: ${config.durable}) and ` +
      `the client in one process on one redis-server (its work and the kernel's are not counted); ${config.warmup} warm-up calls, ` +
      `then (instructions of ${config.calls[1]} calls − of ${config.calls[0]} calls) / ${config.calls[1] - config.calls[0]}. ` +
      `Took ${minutes.toFixed(1)} min.`,
  );
  out.push('', '| wire | local k instr./call | through the bus k instr./call | ratio |', '| --- | ---: | ---: | ---: |');
  for (const [wire, { local, relayed }] of Object.entries(perCall)) {
    out.push(`| ${WIRES[wire]} | ${k(local)} | ${k(relayed)} | **${(relayed / local).toFixed(2)}×** |`);
  }
  out.push('');
  return out.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args[0] === '--child') await child(args[1], args[2], args[3], Number(args[4]), Number(args[5]));
  else await main(args);
}
