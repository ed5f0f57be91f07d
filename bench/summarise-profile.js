// bench/summarise-profile.js: top self-time functions (and packages) of a V8 .cpuprofile, and the package's own functions mapped to lib/.
// Usage: node bench/summarise-profile.js <file.cpuprofile> [top=30] [calls, to print µs per call]
import fs from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where a function lives: `dist`, `bench`, a node_modules package, `node:internal`, or V8 itself. */
function owner(url) {
  if (!url) return '(v8/native)';
  if (url.startsWith('node:')) return 'node:internal';
  const p = url.replace(/^file:\/\//, '');
  const nm = p.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = p.slice(nm + 14).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (p.startsWith(root)) return path.relative(root, p).split('/')[0];
  return p;
}

function shortUrl(url) {
  if (!url) return '';
  const p = url.replace(/^file:\/\//, '');
  const nm = p.lastIndexOf('/node_modules/');
  if (nm !== -1) return p.slice(nm + 14);
  return p.startsWith(root) ? path.relative(root, p) : p;
}

const sourceMaps = new Map();
/** `lib/…ts:line` for a frame in the built package (dist/), through its source map; else `undefined`. */
function libLocation(url, line, column) {
  const p = url.replace(/^file:\/\//, '');
  if (!p.startsWith(path.join(root, 'dist') + path.sep)) return undefined;
  if (!sourceMaps.has(p)) {
    let map;
    try {
      map = new SourceMap(JSON.parse(fs.readFileSync(`${p}.map`, 'utf8')));
    } catch {}
    sourceMaps.set(p, map);
  }
  const entry = sourceMaps.get(p)?.findEntry(line, column);
  if (!entry?.originalSource) return undefined;
  const source = path.relative(root, path.resolve(path.dirname(p), entry.originalSource));
  return `${source}:${entry.originalLine + 1}`;
}

/**
 * Self time per function (from timeDeltas, so it is exact for any sampling interval) and per owner; then the
 * functions of the package itself (dist/, shown at their lib/ source), which is what a change to lib/ can move.
 */
export function summarise(profile, { top = 30, calls } = {}) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the gap before sample i; charge the gap after it (the next delta) to sample i.
    const dt = timeDeltas[i + 1] ?? 0;
    self.set(samples[i], (self.get(samples[i]) ?? 0) + dt);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0) || 1;
  const fns = new Map();
  const own = new Map();
  const owners = new Map();
  let idle = 0;
  for (const [id, us] of self) {
    const { callFrame: f } = byId.get(id);
    const name = f.functionName || '(anonymous)';
    if (name === '(idle)') idle += us;
    const key = `${name} ${shortUrl(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const lib = f.url ? libLocation(f.url, f.lineNumber, f.columnNumber) : undefined;
    if (lib !== undefined) own.set(`${name} ${lib}`, (own.get(`${name} ${lib}`) ?? 0) + us);
    const o = name.startsWith('(') && !f.url ? name : owner(f.url);
    owners.set(o, (owners.get(o) ?? 0) + us);
  }
  const busy = total - idle || 1;
  const pct = (us) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  const ms = (us) => `${(us / 1000).toFixed(1).padStart(8)} ms${calls ? `${(us / calls).toFixed(1).padStart(8)} µs/call` : ''}`;
  const lines = [];
  lines.push(
    `profile: ${(total / 1e6).toFixed(2)} s sampled, ${(idle / 1e6).toFixed(2)} s idle; percentages are of non-idle time` +
      (calls ? `; ${calls} calls in the window, ${((total - idle) / calls).toFixed(0)} µs of main-thread time per call` : ''),
  );
  lines.push('');
  lines.push(`top ${top} functions by self time:`);
  for (const [k, us] of [...fns]
    .filter(([k]) => !k.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)) {
    lines.push(`${pct(us)} ${ms(us)}  ${k}`);
  }
  lines.push('');
  lines.push('self time by owner (package / folder):');
  for (const [k, us] of [...owners]
    .filter(([k]) => k !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, 20)) {
    lines.push(`${pct(us)} ${ms(us)}  ${k}`);
  }
  if (own.size > 0) {
    const total = [...own.values()].reduce((a, b) => a + b, 0);
    lines.push('');
    lines.push(
      `the package's own functions (dist/ mapped to lib/), ${(total / 1000).toFixed(1)} ms${calls ? `, ${(total / calls).toFixed(1)} µs/call` : ''} in all:`,
    );
    for (const [k, us] of [...own].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${pct(us)} ${ms(us)}  ${k}`);
  }
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node bench/summarise-profile.js <file.cpuprofile> [top]');
    process.exit(2);
  }
  console.log(
    summarise(JSON.parse(fs.readFileSync(file, 'utf8')), { top: Number(process.argv[3] ?? 30), calls: Number(process.argv[4]) || undefined }),
  );
}
