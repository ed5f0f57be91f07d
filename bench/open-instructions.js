// bench/open-instructions.js: the deterministic mode for session opens (phase d): instructions per HTTP+SSE session
// opened (`GET /mcp/sse` until the `endpoint` event), client and contender in one process under valgrind.
//
//   node bench/open-instructions.js [contender…]                     pkg and sdk by default
//   node bench/open-instructions.js --child <contender> <warm-up> <opens>   one run without valgrind
//
// As bench/instructions.js: each contender runs twice with the same warm-up and two numbers of opens (env
// BENCH_OPEN_INSN_WARMUP, default 300; BENCH_OPEN_INSN_OPENS, default "200,1000"), 50 at a time, streams kept open
// (an idle session, as in phase d; use a variant without keep-alive, `BENCH_VARIANTS='{"noka":{"keepAliveMs":0}}'`
// and `pkg~noka`, so that pings, timed by a clock valgrind slows down, are not counted); the difference of the two counts over the difference of opens is the cost of
// one open. BENCH_INSN_JOBS runs that many valgrinds at once. Prints a table; writes nothing.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { wireOf } from './contenders.js';
import { countInstructions } from './instructions.js';

const CONCURRENCY = 50;

/** Opens one HTTP+SSE stream on a bare socket; resolves with the socket once the `endpoint` event arrived. */
function openStream(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setEncoding('latin1');
    let text = '';
    const onData = (chunk) => {
      text += chunk;
      if (text.includes('event: endpoint\n') && text.includes('\n\n', text.indexOf('event: endpoint\n'))) {
        socket.off('data', onData);
        resolve(socket);
      }
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.write('GET /mcp/sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n');
  });
}

async function openMany(port, count) {
  const sockets = [];
  let started = 0;
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, count) }, async () => {
      while (started < count) {
        started++;
        sockets.push(await openStream(port));
      }
    }),
  );
  return sockets;
}

/**
 * One in-process run: `warmup` opens, then `opens` opens, then exit. Every stream stays open (a closed one would
 * be closed by the package's resume timer at some point of the measured part, which under valgrind runs long).
 */
async function child(contender, warmup, opens) {
  if (wireOf(contender) !== 'sse') throw new TypeError(`${contender}: session opens are counted on HTTP+SSE contenders only`);
  const { createContender } = await import('./contender-app.js');
  const { app, sessions } = await createContender(contender);
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address();
  await openMany(port, warmup);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const sockets = await openMany(port, opens);
  const { user, system } = process.cpuUsage(cpu0);
  process.stdout.write(
    `${JSON.stringify({ contender, warmup, opens: sockets.length, sessions: sessions.count(), ms: Math.round(performance.now() - t0), cpuUsPerOpen: Math.round((user + system) / opens) })}\n`,
  );
  process.exit(0);
}

async function main(names) {
  const contenders = names.length > 0 ? names : ['pkg', 'sdk'];
  const warmup = Number(process.env.BENCH_OPEN_INSN_WARMUP ?? 300);
  const [few, many] = (process.env.BENCH_OPEN_INSN_OPENS ?? '200,1000').split(',').map(Number);
  const jobs = Number(process.env.BENCH_INSN_JOBS ?? 1);
  const script = fileURLToPath(import.meta.url);
  const runs = contenders.flatMap((contender) => [few, many].map((opens) => ({ contender, opens })));
  const counted = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: jobs }, async () => {
      while (next < runs.length) {
        const run = runs[next++];
        const r = await countInstructions(run.contender, warmup, run.opens, script);
        console.error(`  ${run.contender} ${run.opens} opens: ${r.instructions.toLocaleString('en-US')} instructions (${r.seconds.toFixed(0)} s)`);
        counted.push({ ...run, ...r });
      }
    }),
  );
  console.log(`| contender | k instr. per session opened (${warmup} warm-up, ${many} − ${few} opens) |\n| --- | ---: |`);
  for (const contender of contenders) {
    const a = counted.find((r) => r.contender === contender && r.opens === few);
    const b = counted.find((r) => r.contender === contender && r.opens === many);
    console.log(`| \`${contender}\` | ${Math.round((b.instructions - a.instructions) / (many - few) / 1000).toLocaleString('en-US')} |`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args[0] === '--child') await child(args[1], Number(args[2]), Number(args[3]));
  else await main(args);
}
