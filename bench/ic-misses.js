// bench/ic-misses.js: the property lookups V8 cannot cache on a call, place by place.
//
//   node bench/ic-misses.js [contender] [calls]      defaults: pkg 500
//
// Node 20 gives every request and response object a hidden class of its own, so the first read or write of a field
// at each place in the code misses V8's inline caches and takes a runtime lookup (about 1–3k instructions), on every
// request. This runs one contender's deterministic round trip (`bench/instructions.js --child`: 2,000 warm-up calls,
// then `calls` more) under `node --log-ic`, and prints the misses that happen about once per call among the last
// `calls`: where (function and line), which field, and how many per call in all.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { benchDir, tmpDir } from './children.js';
import { nodeFlags } from './instructions.js';

const WARMUP = 2000;

const [contender = 'pkg', callsArg = '500'] = process.argv.slice(2);
const calls = Number(callsArg);
if (!Number.isInteger(calls) || calls < 100) throw new TypeError(`calls must be an integer ≥ 100, got ${callsArg}`);

fs.mkdirSync(tmpDir, { recursive: true });
const logName = `ic-${process.pid}.log`;
const args = ['--log-ic', `--logfile=${path.join(tmpDir, logName)}`, ...nodeFlags, path.join(benchDir, 'instructions.js')];
execFileSync(process.execPath, [...args, '--child', contender, String(WARMUP), String(calls)], { stdio: ['ignore', 'ignore', 'inherit'] });
// V8 names the file after the isolate: isolate-<address>-<pid>-<logfile name>.
const logFile = fs.readdirSync(tmpDir).find((name) => name.endsWith(`-${logName}`));
if (logFile === undefined) throw new Error(`node --log-ic wrote no ${logName} in ${tmpDir}`);
const lines = fs.readFileSync(path.join(tmpDir, logFile), 'utf8').split('\n');
fs.rmSync(path.join(tmpDir, logFile));

// Code objects by address, to name the function each miss happened in.
const code = [];
const misses = [];
for (const line of lines) {
  const fields = line.split(',');
  if (fields[0] === 'code-creation' && fields.length > 6) {
    code.push({ start: Number.parseInt(fields[4], 16), size: Number(fields[5]), name: fields[6] });
  } else if (fields[0].endsWith('IC') && fields.length > 8) {
    // kind, code address, time, line, column, old state, new state, map, field, …
    misses.push(fields);
  }
}
code.sort((a, b) => a.start - b.start);
const functionAt = (address) => {
  let low = 0;
  let high = code.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (code[middle].start <= address) low = middle;
    else high = middle - 1;
  }
  const found = code[low];
  return found !== undefined && found.start <= address && address < found.start + found.size ? found.name : '?';
};

// The last tenth of the run: the warm-up is long over, so what misses there misses on every call.
const times = misses.map((fields) => Number(fields[2]));
const last = times.reduce((a, b) => Math.max(a, b), 0);
const from = last - (last - times.reduce((a, b) => Math.min(a, b), last)) / 10;
const counts = new Map();
for (const fields of misses) {
  if (Number(fields[2]) < from) continue;
  const where = functionAt(Number.parseInt(fields[1], 16))
    .replaceAll('"', '')
    .replace(`file://${path.dirname(benchDir)}/`, '');
  const key = `${fields[0]} ${fields[8]} | ${where} | ${fields[3]}:${fields[4]}`;
  counts.set(key, (counts.get(key) ?? 0) + 1);
}
// Calls in the window: the count most places share (each per-call miss happens once a call).
const frequency = new Map();
for (const count of counts.values()) frequency.set(count, (frequency.get(count) ?? 0) + 1);
const perCall = [...frequency].filter(([count]) => count > 20).sort((a, b) => b[1] - a[1])[0]?.[0];
if (perCall === undefined) throw new Error('too few misses to tell the calls apart; raise calls');
const everyCall = [...counts].filter(([, count]) => count >= perCall * 0.9).sort((a, b) => a[0].localeCompare(b[0]));
console.log(`${contender}: ${everyCall.length} lookups miss on every call (${perCall} calls in the window)\n`);
console.log('| kind and field | function | line:column |');
console.log('| --- | --- | --- |');
for (const [key] of everyCall) console.log(`| ${key.split(' | ').join(' | ')} |`);
