// bench/heap-diff.js: where an idle session's heap goes, object kind by object kind, next to another contender's.
//
//   node bench/heap-diff.js [contender] [baseline] [sessions]     defaults: pkg sdk 1000
//
// Each contender runs in its own process (as in phase b). After 50 warm-up sessions it writes a heap snapshot, then
// opens `sessions` more idle, initialized sessions (HTTP+SSE ones with their stream; Streamable HTTP ones without),
// writes another, and the difference of the two, divided by `sessions`, is what one idle session holds. Snapshots are
// taken after a full garbage collection, so the figures do not move with the machine's load. Prints the kinds whose
// bytes per session differ most between the two contenders (a concatenated string is a string V8 keeps as the pieces
// it was joined from; a `string` row holds every flat string). Needs a built dist/ for pkg contenders.
import fs from 'node:fs';
import path from 'node:path';
import { startChild, tmpDir } from './children.js';
import { Target, openSession, pool, sleep } from './client.js';
import { headersFor, isStreamable } from './contenders.js';
import { openStreamableSession } from './streamable-client.js';

const WARM_SESSIONS = 50;
const ROWS = 25;

/** Opens `count` idle, initialized sessions; throws on the first that fails. */
async function openIdle(target, contender, count) {
  const results = await pool(count, 25, async () => {
    if (isStreamable(contender)) return openStreamableSession(target);
    const session = await openSession(target);
    await session.initialize();
    return session;
  });
  const failed = results.find((result) => !result.ok);
  if (failed !== undefined) throw failed.error;
  return results.map((result) => result.value);
}

/** Writes a heap snapshot of the child (SIGUSR2, see --heapsnapshot-signal) and resolves with its path once written. */
async function snapshot(child, dir) {
  const before = new Set(fs.readdirSync(dir));
  process.kill(child.pid, 'SIGUSR2');
  for (;;) {
    await sleep(250);
    const file = fs.readdirSync(dir).find((name) => !before.has(name));
    if (file === undefined) continue;
    // V8 writes the file in one go; wait until its size stops changing.
    const full = path.join(dir, file);
    const size = fs.statSync(full).size;
    await sleep(500);
    if (size > 0 && fs.statSync(full).size === size) return full;
  }
}

/** Self size and count of each kind of object (`type`, plus the constructor's name for objects) in a snapshot. */
function kinds(file) {
  const { snapshot: meta, nodes, strings } = JSON.parse(fs.readFileSync(file, 'utf8'));
  const fields = meta.meta.node_fields;
  const types = meta.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((field) => fields.indexOf(field));
  const named = new Set(['object', 'closure', 'hidden', 'object shape']);
  const byKind = new Map();
  for (let i = 0; i < nodes.length; i += fields.length) {
    const type = types[nodes[i + typeAt]];
    const kind = named.has(type) ? `${type} ${strings[nodes[i + nameAt]].slice(0, 50)}` : type;
    const entry = byKind.get(kind) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += nodes[i + sizeAt];
    byKind.set(kind, entry);
  }
  return byKind;
}

/** Bytes and objects per idle session, by kind. */
async function perSession(contender, sessions) {
  const dir = path.join(tmpDir, `heap-${contender}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const child = await startChild(contender, { label: 'heap', nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`] });
  const target = new Target(child.port, headersFor(contender));
  const open = [];
  try {
    open.push(...(await openIdle(target, contender, WARM_SESSIONS)));
    const before = kinds(await snapshot(child, dir));
    open.push(...(await openIdle(target, contender, sessions)));
    const after = kinds(await snapshot(child, dir));
    const result = new Map();
    for (const kind of new Set([...before.keys(), ...after.keys()])) {
      const a = before.get(kind) ?? { count: 0, bytes: 0 };
      const b = after.get(kind) ?? { count: 0, bytes: 0 };
      result.set(kind, { count: (b.count - a.count) / sessions, bytes: (b.bytes - a.bytes) / sessions });
    }
    return result;
  } finally {
    for (const session of open) session.close();
    target.destroy();
    await child.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const [contender = 'pkg', baseline = 'sdk', sessionsArg = '1000'] = process.argv.slice(2);
const sessions = Number(sessionsArg);
if (!Number.isInteger(sessions) || sessions < 100) throw new TypeError(`sessions must be an integer ≥ 100, got ${sessionsArg}`);
const ours = await perSession(contender, sessions);
const theirs = await perSession(baseline, sessions);
const total = (byKind) => [...byKind.values()].reduce((sum, { bytes }) => sum + bytes, 0);
const none = { count: 0, bytes: 0 };
const rows = [...new Set([...ours.keys(), ...theirs.keys()])]
  .map((kind) => ({ kind, ours: ours.get(kind) ?? none, theirs: theirs.get(kind) ?? none }))
  .sort((a, b) => Math.abs(b.ours.bytes - b.theirs.bytes) - Math.abs(a.ours.bytes - a.theirs.bytes))
  .slice(0, ROWS);
const bytes = (n) => Math.round(n).toLocaleString('en-US');
console.log(`Heap per idle session, ${sessions} sessions: ${contender} ${bytes(total(ours))} B, ${baseline} ${bytes(total(theirs))} B`);
console.log(`(${(total(ours) / total(theirs)).toFixed(3)}×)\n`);
console.log(`| kind | ${contender}: objects, bytes | ${baseline}: objects, bytes | difference |`);
console.log('| --- | ---: | ---: | ---: |');
for (const { kind, ours: a, theirs: b } of rows) {
  console.log(`| ${kind} | ${a.count.toFixed(2)}, ${bytes(a.bytes)} | ${b.count.toFixed(2)}, ${bytes(b.bytes)} | ${bytes(a.bytes - b.bytes)} |`);
}
process.exit(0);
