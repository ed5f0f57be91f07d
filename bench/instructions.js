// bench/instructions.js: the deterministic mode of the bench: instructions per `tools/call` counted by valgrind's
// cachegrind, client and contender in one single-threaded process, so a ratio does not move with the machine's load.
//
//   npm run bench -- --instructions [contender…]     build, then every configuration (or the ones named)
//   node bench/instructions.js [contender…]          the same without the build
//   node bench/instructions.js --child <contender> <warm-up calls> <calls>   one in-process run (what valgrind runs)
//
// Each configuration runs twice under valgrind, with the same warm-up and two call counts; the difference of the two
// instruction totals divided by the difference of the call counts is the cost of one call, start-up and warm-up
// cancelled out. Env: BENCH_INSN_WARMUP (3000), BENCH_INSN_CALLS ("1000,5000"), BENCH_INSN_JOBS (valgrind runs at
// once, 1), BENCH_OUT (folder for instructions.{md,json}); BENCH_VARIANTS and BENCH_SECURED_PARTS as for the bench.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { headersFor, parseContender, wireOf } from './contenders.js';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const PROTOCOL_VERSION = '2025-11-25';

/** The configurations compared by default: each package contender next to the one it is measured against. */
export const PAIRS = [
  { title: 'HTTP+SSE, bare', ours: 'pkg', theirs: 'sdk' },
  { title: 'HTTP+SSE, secured (API key, CORS, rate limit)', ours: 'pkg-secured', theirs: 'sdk-secured' },
  { title: 'Streamable HTTP, bare', ours: 'pkg-streamable', theirs: 'sdk1-streamable' },
  { title: 'Streamable HTTP, secured (API key, CORS, rate limit)', ours: 'pkg-streamable-secured', theirs: 'sdk1-streamable-secured' },
  { title: '2026-07-28 requests (a v2 server per request)', ours: 'pkg-modern', theirs: 'sdk2-modern' },
];

// ---------------------------------------------------------------------------------------------------------------
// The in-process client: bare sockets and hand-written HTTP/1.1, so it costs the same, and little, for every
// contender of a transport. One call at a time, so the order of events is the same in every run.

/** A keep-alive connection answering one request at a time with `{ status, head, body }`. */
export class Connection {
  constructor(port) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    // latin1 maps bytes to characters one to one, so Content-Length counts characters here.
    this.socket.setEncoding('latin1');
    this.buffer = '';
    this.waiting = undefined;
    this.socket.on('data', (chunk) => {
      this.buffer += chunk;
      this.#settle();
    });
    this.socket.on('error', (error) => this.waiting?.reject(error));
  }

  request(text) {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(text);
    });
  }

  #settle() {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end === -1 || this.waiting === undefined) return;
    const head = this.buffer.slice(0, end);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    let size;
    if (length !== null) {
      size = end + 4 + Number(length[1]);
      if (this.buffer.length < size) return;
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      // Every write of an event stream is one chunk; the response is complete at the empty last chunk.
      const last = this.buffer.indexOf('\r\n0\r\n\r\n', end);
      if (last === -1 && !this.buffer.startsWith('0\r\n\r\n', end + 4)) return;
      size = last === -1 ? end + 9 : last + 7;
    } else {
      size = end + 4;
    }
    const response = { status: Number(head.slice(9, 12)), head, body: this.buffer.slice(end + 4, size) };
    this.buffer = this.buffer.slice(size);
    const { resolve } = this.waiting;
    this.waiting = undefined;
    resolve(response);
  }
}

/** An HTTP/1.1 request as text. */
export function httpRequest(method, target, headers, body = '') {
  let text = `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
  for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
  if (body !== '') text += `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
  return `${text}\r\n${body}`;
}

export const callBody = (id) => `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`;
export const answers = (text, id) => text.includes(`"id":${id}}`) || text.includes(`"id":${id},`);

export function expectStatus(response, status, what) {
  if (response.status !== status) throw new Error(`${what}: HTTP ${response.status} ${response.body.slice(0, 200)}`);
}

/**
 * HTTP+SSE's event stream on its own socket: the POST path its `endpoint` event names, and `answer(id)`, which
 * resolves once the answer to request `id` arrived on the stream (one awaited at a time).
 */
export async function sseStream(port, headers = {}) {
  const stream = net.connect(port, '127.0.0.1');
  stream.setNoDelay(true);
  stream.setEncoding('latin1');
  let text = '';
  let wanted;
  const endpoint = new Promise((resolve, reject) => {
    stream.on('error', reject);
    stream.on('data', (chunk) => {
      text += chunk;
      if (wanted === undefined) {
        const found = /event: endpoint\n(?:[a-z]+:[^\n]*\n)*?data: ([^\r\n]+)\n/.exec(text);
        if (found !== null) {
          text = '';
          resolve(found[1]);
        }
      } else if (answers(text, wanted.id)) {
        text = '';
        wanted.resolve();
      }
    });
  });
  stream.write(httpRequest('GET', '/mcp/sse', { Accept: 'text/event-stream', ...headers }));
  const postPath = await endpoint;
  const answer = (id) =>
    new Promise((resolve) => {
      wanted = { id, resolve };
    });
  return { postPath, answer };
}

/** HTTP+SSE: the event stream on one socket, POSTs on another; a call ends when both the 202 and its answer arrived. */
async function sseClient(port, headers) {
  const { postPath, answer } = await sseStream(port, headers);
  const posts = new Connection(port);
  let id = 0;
  const send = async (body, answered) => {
    const response = await posts.request(httpRequest('POST', postPath, headers, body));
    expectStatus(response, 202, `POST ${postPath}`);
    await answered;
  };
  const call = async () => {
    const answered = answer(++id);
    await send(callBody(id), answered);
  };
  const init = answer(++id);
  await send(
    `{"jsonrpc":"2.0","id":${id},"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"bench","version":"1.0.0"}}}`,
    init,
  );
  await send('{"jsonrpc":"2.0","method":"notifications/initialized"}', undefined);
  return call;
}

/** Streamable HTTP: `initialize` and `notifications/initialized` on `setup`; the headers of the session's requests. */
export async function streamableSession(setup, headers = {}) {
  const base = { Accept: 'application/json, text/event-stream', ...headers };
  const init = await setup.request(
    httpRequest(
      'POST',
      '/mcp',
      base,
      `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"${PROTOCOL_VERSION}","capabilities":{},"clientInfo":{"name":"bench","version":"1.0.0"}}}`,
    ),
  );
  expectStatus(init, 200, 'initialize');
  const sessionId = /\r\nmcp-session-id: *([^\r\n]+)/i.exec(init.head)?.[1];
  if (sessionId === undefined) throw new Error('initialize answered without Mcp-Session-Id');
  const session = { ...base, 'Mcp-Session-Id': sessionId, 'MCP-Protocol-Version': PROTOCOL_VERSION };
  expectStatus(
    await setup.request(httpRequest('POST', '/mcp', session, '{"jsonrpc":"2.0","method":"notifications/initialized"}')),
    202,
    'initialized',
  );
  return session;
}

/** Streamable HTTP: every request a POST on one keep-alive socket, answered on its own response (an event stream). */
async function streamableClient(port, headers) {
  const posts = new Connection(port);
  const session = await streamableSession(posts, headers);
  let id = 0;
  return async () => {
    const response = await posts.request(httpRequest('POST', '/mcp', session, callBody(++id)));
    expectStatus(response, 200, 'tools/call');
    if (!answers(response.body, id)) throw new Error(`tools/call ${id}: no answer in ${response.body.slice(0, 200)}`);
  };
}

/** 2026-07-28: every request a POST carrying its protocol version (in `_meta` and headers); no session, no handshake. */
function modernClient(port, headers) {
  const posts = new Connection(port);
  const session = {
    Accept: 'application/json, text/event-stream',
    'MCP-Protocol-Version': '2026-07-28',
    'Mcp-Method': 'tools/call',
    'Mcp-Name': 'echo',
    ...headers,
  };
  const meta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1.0.0"},"io.modelcontextprotocol/clientCapabilities":{}}`;
  let id = 0;
  return async () => {
    const body = `{"jsonrpc":"2.0","id":${++id},"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"},${meta}}}`;
    const response = await posts.request(httpRequest('POST', '/mcp', session, body));
    expectStatus(response, 200, 'tools/call (2026-07-28)');
    if (!answers(response.body, id)) throw new Error(`tools/call ${id}: no answer in ${response.body.slice(0, 200)}`);
  };
}

/** One in-process run: the contender's app on a loopback port, `warmup` calls, then `calls` calls, then exit. */
async function child(contender, warmup, calls) {
  const { createContender } = await import('./contender-app.js');
  const { app } = await createContender(contender);
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address();
  const headers = Object.fromEntries(Object.entries(headersFor(contender)).map(([k, v]) => [k, v]));
  const clients = { sse: sseClient, streamable: streamableClient, modern: modernClient };
  const call = await clients[wireOf(contender)](port, headers);
  for (let i = 0; i < warmup; i++) await call();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < calls; i++) await call();
  const { user, system } = process.cpuUsage(cpu0);
  const ms = performance.now() - t0;
  // CPU per call (client and contender) is a quick, noisy check without valgrind: `--child <contender> 2000 3000`.
  const cpuUsPerCall = Math.round((user + system) / calls);
  process.stdout.write(`${JSON.stringify({ contender, warmup, calls, ms: Math.round(ms), cpuUsPerCall })}\n`);
  // No teardown: both runs of a configuration end the same way, and nothing after the last call is counted twice.
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------------------------
// The driver: both runs of every configuration under valgrind, then the table.

// --predictable-gc-schedule: V8's heap growing, idle-time and memory-reducer GCs otherwise follow the wall clock, which valgrind
// stretches by as much as the machine is loaded: without it a slow run counts more (or fewer) collections per call.
// --initial-old-space-size=1024 (MB): no mark-compact at all in either run; one costs as much as hundreds of calls, so
// whether a run holds one more of them moved a figure by ±30%. Young-generation scavenges (about one per 35 calls, in
// proportion to what a call allocates) are still counted.
export const nodeFlags = ['--single-threaded', '--predictable-gc-schedule', '--initial-old-space-size=1024', '--hash-seed=1', '--random-seed=1'];

/**
 * Instructions of one `--child` run under cachegrind (the cache simulation off: only the count is wanted); `script`
 * is the file whose `--child` mode runs (bench/open-instructions.js reuses this for session opens).
 */
export function countInstructions(contender, warmup, calls, script = fileURLToPath(import.meta.url)) {
  return cachegrind([...nodeFlags, script, '--child', contender, String(warmup), String(calls)], `${contender} ${calls}`);
}

/** Runs `node <args>` under cachegrind; resolves with its instruction count and how long it took. */
export function cachegrind(args, label) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const run = spawn('valgrind', ['--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null', process.execPath, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    run.stdout.on('data', (c) => (out += c));
    run.stderr.on('data', (c) => (err += c));
    run.on('error', reject);
    run.on('close', (code) => {
      const refs = /I\s+refs:\s+([\d,]+)/.exec(err);
      if (code !== 0 || refs === null) {
        reject(new Error(`valgrind ${label}: exit ${code}\n${err.split('\n').slice(-15).join('\n')}\n${out}`));
        return;
      }
      resolve({ instructions: Number(refs[1].replaceAll(',', '')), seconds: (performance.now() - started) / 1000 });
    });
  });
}

/** Runs `fn` over `items`, `jobs` at a time; the results in order. */
export async function pool(items, jobs, fn) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(jobs, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]);
      }
    }),
  );
  return results;
}

const thousands = (n) => Math.round(n / 1000).toLocaleString('en-US');

export async function main(names) {
  const env = process.env;
  const warmup = Number(env.BENCH_INSN_WARMUP ?? 3000);
  const [few, many] = (env.BENCH_INSN_CALLS ?? '1000,5000').split(',').map(Number);
  const jobs = Number(env.BENCH_INSN_JOBS ?? 1);
  if (![warmup, few, many, jobs].every(Number.isInteger) || !(many > few) || jobs < 1) {
    throw new TypeError('BENCH_INSN_WARMUP, BENCH_INSN_CALLS ("fewer,more") and BENCH_INSN_JOBS must be whole numbers');
  }
  const contenders = names.length > 0 ? names : PAIRS.flatMap((p) => [p.ours, p.theirs]);
  for (const c of contenders) parseContender(c);
  const startedAt = performance.now();
  console.error(`instructions: ${contenders.join(', ')}; ${warmup} warm-up calls, then ${few} and ${many} calls, under valgrind`);
  const runs = contenders.flatMap((contender) => [few, many].map((calls) => ({ contender, calls })));
  const counted = await pool(runs, jobs, async ({ contender, calls }) => {
    const r = await countInstructions(contender, warmup, calls);
    console.error(`  ${contender} ${calls} calls: ${r.instructions.toLocaleString('en-US')} instructions (${r.seconds.toFixed(0)} s)`);
    return { contender, calls, ...r };
  });
  const perCall = {};
  for (const contender of contenders) {
    const [a, b] = counted.filter((r) => r.contender === contender);
    perCall[contender] = (b.instructions - a.instructions) / (many - few);
  }
  const results = {
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, date: new Date().toISOString() },
    config: { warmup, calls: [few, many], nodeFlags, tool: 'valgrind --tool=cachegrind --cache-sim=no' },
    perCall,
    runs: counted,
    minutes: (performance.now() - startedAt) / 60_000,
  };
  const md = markdown(results);
  const all = PAIRS.every((p) => contenders.includes(p.ours) && contenders.includes(p.theirs));
  const outDir = env.BENCH_OUT ? path.resolve(env.BENCH_OUT) : all ? benchDir : path.join(benchDir, '.tmp');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'instructions.md'), md);
  fs.writeFileSync(path.join(outDir, 'instructions.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(md);
  console.error(`wrote ${path.relative(process.cwd(), path.join(outDir, 'instructions'))}.{md,json}`);
}

function markdown({ machine, config, perCall, minutes }) {
  const out = ['# express-mcp-sse: instructions per call (deterministic mode)', ''];
  out.push(
    `${config.tool}, Node ${machine.node} ${config.nodeFlags.join(' ')}, ${machine.date}; client and contender in one process, ` +
      `one call at a time; ${config.warmup} warm-up calls, then (instructions of ${config.calls[1]} calls − of ${config.calls[0]} calls) ` +
      `/ ${config.calls[1] - config.calls[0]}. Took ${minutes.toFixed(1)} min.`,
  );
  out.push('', '| configuration | package | k instr./call | compared with | k instr./call | ratio |', '| --- | --- | ---: | --- | ---: | ---: |');
  const paired = new Set();
  for (const p of PAIRS) {
    if (perCall[p.ours] === undefined || perCall[p.theirs] === undefined) continue;
    paired.add(p.ours).add(p.theirs);
    const ratio = perCall[p.ours] / perCall[p.theirs];
    out.push(
      `| ${p.title} | \`${p.ours}\` | ${thousands(perCall[p.ours])} | \`${p.theirs}\` | ${thousands(perCall[p.theirs])} | **${ratio.toFixed(2)}×** |`,
    );
  }
  const rest = Object.keys(perCall).filter((c) => !paired.has(c));
  if (rest.length > 0) {
    out.push('', '| contender | k instr./call |', '| --- | ---: |');
    for (const c of rest) out.push(`| \`${c}\` | ${thousands(perCall[c])} |`);
  }
  out.push('');
  return out.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args[0] === '--child') await child(args[1], Number(args[2]), Number(args[3]));
  else await main(args.filter((a) => a !== '--instructions'));
}
