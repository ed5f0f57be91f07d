// bench/report.js: the metric table (markdown, stdout), results.json and the SVG bar chart normalised to sdk = 1.0.

/** Every reported figure: which phase produced it, how to print it, and the package's goal where it has one. */
export const METRICS = [
  { key: 'callsPerSec', phase: 'roundTrip', label: 'a. round trip: calls/s', unit: 'calls/s', better: 'higher', digits: 0 },
  { key: 'p50', phase: 'roundTrip', label: 'a. round trip: p50 latency', unit: 'ms', better: 'lower', digits: 2 },
  { key: 'p99', phase: 'roundTrip', label: 'a. round trip: p99 latency', unit: 'ms', better: 'lower', digits: 2 },
  {
    key: 'cpuUsPerCall', phase: 'roundTrip', label: 'a. server CPU per call', unit: 'µs', better: 'lower', digits: 0,
    goals: { pkg: { ratio: 0.93 }, 'pkg-secured': { ratio: 1.0 } },
  },
  {
    key: 'rssPerSession', phase: 'idleMemory', label: 'b. idle RSS per session', unit: 'bytes', better: 'lower', digits: 0,
    goals: { pkg: { ratio: 1.0 } },
  },
  { key: 'heapPerSession', phase: 'idleMemory', label: 'b. idle heap per session', unit: 'bytes', better: 'lower', digits: 0 },
  {
    key: 'fanoutMs', phase: 'fanOut', label: 'c. broadcast fan-out (all streams got it)', unit: 'ms', better: 'lower', digits: 1,
    goals: { pkg: { ratio: 0.8 } },
  },
  { key: 'serverLoopMs', phase: 'fanOut', label: 'c. broadcast: server-side call', unit: 'ms', better: 'lower', digits: 1 },
  { key: 'sessionsPerSec', phase: 'openRate', label: 'd. session open rate', unit: 'sessions/s', better: 'higher', digits: 0 },
  { key: 'cpuUsPerOpen', phase: 'openRate', label: 'd. server CPU per session opened', unit: 'µs', better: 'lower', digits: 0 },
  {
    key: 'retainedHeapMB', phase: 'slowConsumer', label: 'e. slow consumer: heap+external growth (after gc)', unit: 'MB', better: 'lower', digits: 1,
    goals: { pkg: { max: 6, text: 'bounded near 4 MiB' } },
  },
  { key: 'retainedRssMB', phase: 'slowConsumer', label: 'e. slow consumer: RSS growth (after gc)', unit: 'MB', better: 'lower', digits: 1 },
  { key: 'peakRssMB', phase: 'slowConsumer', label: 'e. slow consumer: peak RSS growth', unit: 'MB', better: 'lower', digits: 1 },
  {
    key: 'heapGrowthMB', phase: 'churn', label: 'f. churn: heap growth (after gc)', unit: 'MB', better: 'lower', digits: 2,
    goals: { pkg: { max: 5, text: '< 5 MB' } },
  },
];

export function fmt(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return 'n/a';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function ratioOf(value, base) {
  if (!Number.isFinite(value) || !Number.isFinite(base) || base === 0) return NaN;
  return value / base;
}

function goalText(goal) {
  if (!goal) return '';
  return goal.ratio !== undefined ? `≤ ${goal.ratio}× sdk` : goal.text;
}

function goalMet(goal, value, ratio) {
  if (!goal || !Number.isFinite(value)) return undefined;
  return goal.ratio !== undefined ? ratio <= goal.ratio : value <= goal.max;
}

/** The results table: one row per figure, one column per contender, `value (ratio×)` against sdk. */
export function markdown(results) {
  const { contenders, values, machine } = results;
  const out = [];
  out.push(`# express-mcp-sse benchmark${results.quick ? ' (QUICK smoke run: small sizes, not representative)' : ''}`);
  out.push('');
  out.push(`Machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.os}, ${machine.date}. ` +
    `Open-file limit ${machine.nofile}. Load average (1 min) ${machine.loadavg1m.before} before, ${machine.loadavg1m.after} after ` +
    `(the bench itself adds about 2). Run took ${fmt(results.durationS, 0)} s.`);
  out.push('');
  out.push('Each cell: the figure, then its ratio to the `sdk` contender. Lower is better except calls/s and sessions/s.');
  out.push('');
  out.push(`| metric | unit | ${contenders.join(' | ')} | goal (pkg) |`);
  out.push(`| --- | --- | ${contenders.map(() => '---:').join(' | ')} | --- |`);
  for (const m of METRICS) {
    const base = values[m.key]?.sdk;
    const cells = contenders.map((c) => {
      const v = values[m.key]?.[c];
      if (v === undefined || v === null) return results.errors[`${m.phase}:${c}`] ? 'error' : 'n/a';
      const r = ratioOf(v, base);
      const goal = m.goals?.[c];
      const met = goalMet(goal, v, r);
      const mark = met === undefined ? '' : met ? ' ✓' : ' ✗';
      return `${fmt(v, m.digits)}${Number.isFinite(r) ? ` (${r.toFixed(2)}×)` : ''}${mark}`;
    });
    const goals = Object.entries(m.goals ?? {}).map(([c, g]) => `${c}: ${goalText(g)}`).join('; ');
    out.push(`| ${m.label} | ${m.unit} | ${cells.join(' | ')} | ${goals} |`);
  }
  out.push(`| g. forwarded vs local POST (Redis bus) | | ${results.redis.text} |${' |'.repeat(contenders.length)}`);
  out.push('');
  out.push('✓/✗: the package\'s goal for that figure met or missed (goals, not assertions).');
  out.push('');
  out.push('## Details');
  out.push('');
  for (const [phase, byContender] of Object.entries(results.details)) {
    out.push(`- **${phase}**: ` + Object.entries(byContender)
      .map(([c, d]) => `${c}: ${describeDetail(phase, d)}`).join('; '));
  }
  if (Object.keys(results.errors).length) {
    out.push('');
    out.push('## Errors');
    out.push('');
    for (const [k, e] of Object.entries(results.errors)) out.push(`- ${k}: ${e}`);
  }
  if (results.notes.length) {
    out.push('');
    out.push('## Notes');
    out.push('');
    for (const n of results.notes) out.push(`- ${n}`);
  }
  if (Object.keys(results.childStderr).length) {
    out.push('');
    out.push('## Contender stderr');
    out.push('');
    for (const [c, logs] of Object.entries(results.childStderr)) {
      for (const l of logs) out.push(`- ${c} (${l.label}): ${l.lines} line(s), first: \`${l.first.split('\n')[0].slice(0, 160)}\``);
    }
  }
  out.push('');
  return out.join('\n');
}

function describeDetail(phase, d) {
  if (!d) return 'n/a';
  switch (phase) {
    case 'roundTrip':
      return `${fmt(d.calls, 0)} calls measured, ${d.errors} errors, server CPU ${fmt(d.serverCpuUtil * 100, 0)}%, client ${fmt(d.clientCpuUsPerCall, 0)} µs/call` +
        (d.rounds ? `; CPU µs/call by round: ${d.rounds.map((r) => fmt(r.cpuUsPerCall, 0)).join(' / ')}` : '');
    case 'idleMemory':
      return `${d.sessions} sessions${d.failed ? `, ${d.failed} failed` : ''}`;
    case 'fanOut':
      return `${d.sessions} streams${d.failed ? ` (${d.failed} failed to open)` : ''}, min received ${d.minReceived}, runs ${d.runs.map((r) => fmt(r.ms, 0)).join('/')} ms`;
    case 'openRate':
      return `${d.sessions} sessions${d.failed ? `, ${d.failed} failed` : ''}`;
    case 'redis':
      return JSON.stringify(d);
    case 'slowConsumer':
      return `sent ${fmt(d.sentMB, 1)} MB in ${fmt(d.floodMs, 0)} ms, stopped by ${d.stoppedBy}; then the client read ${fmt(d.clientReadMB, 1)} MB and the stream was ${d.streamAfter}${d.slowConsumerCuts !== undefined ? ` (slowConsumerCuts counter: ${d.slowConsumerCuts})` : ''}`;
    case 'churn':
      return `${d.cycles} cycles at ${fmt(d.cyclesPerSec, 0)}/s, ${d.failed} failed, RSS ${fmt(d.rssGrowthMB, 1)} MB, sessions left ${d.sessionsLeft} after ${fmt(d.drainSeconds, 1)} s`;
    default:
      return JSON.stringify(d);
  }
}

const COLORS = { pkg: '#2f7ed8', 'pkg-secured': '#8bbc21', sdk: '#910000', ceiling: '#888888' };

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Horizontal bars, one group per figure, every bar the contender's ratio to sdk (= 1.0, the dashed line). */
export function svg(results) {
  const { contenders, values } = results;
  const rows = METRICS.filter((m) => Number.isFinite(values[m.key]?.sdk));
  const cap = 3;
  const labelW = 330;
  const plotW = 520;
  const barH = 13;
  const groupH = contenders.length * barH + 14;
  const top = 58;
  const height = top + rows.length * groupH + 40;
  const width = labelW + plotW + 120;
  const x = (r) => labelW + (Math.min(Math.max(r, 0), cap) / cap) * plotW;
  const parts = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  parts.push(`<text x="10" y="20" font-size="15" font-weight="bold">express-mcp-sse benchmark: ratio to the SDK's SSEServerTransport (sdk = 1.0)${results.quick ? ' — QUICK run' : ''}</text>`);
  let lx = 10;
  for (const c of contenders) {
    parts.push(`<rect x="${lx}" y="32" width="12" height="12" fill="${COLORS[c] ?? '#444'}"/><text x="${lx + 16}" y="42">${esc(c)}</text>`);
    lx += 30 + c.length * 7;
  }
  parts.push(`<text x="${lx + 10}" y="42" fill="#555">${esc(`${results.machine.cpu}, ${results.machine.cores} cores, Node ${results.machine.node}, ${results.machine.date.slice(0, 10)}`)}</text>`);
  rows.forEach((m, i) => {
    const y0 = top + i * groupH;
    if (i % 2 === 0) parts.push(`<rect x="0" y="${y0 - 4}" width="${width}" height="${groupH}" fill="#f4f4f4"/>`);
    parts.push(`<text x="10" y="${y0 + groupH / 2 - 4}">${esc(m.label)}</text>`);
    parts.push(`<text x="10" y="${y0 + groupH / 2 + 10}" fill="#666" font-size="10">${esc(`${m.unit}, ${m.better} is better; sdk = ${fmt(values[m.key].sdk, m.digits)}`)}</text>`);
    contenders.forEach((c, j) => {
      const v = values[m.key]?.[c];
      const r = ratioOf(v, values[m.key].sdk);
      const y = y0 + j * barH;
      if (!Number.isFinite(r)) {
        parts.push(`<text x="${labelW + 4}" y="${y + barH - 3}" fill="#999" font-size="10">${esc(c)}: n/a</text>`);
        return;
      }
      const w = Math.max(1, x(r) - labelW);
      parts.push(`<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${COLORS[c] ?? '#444'}"/>`);
      const clipped = r > cap ? ' ▶' : '';
      parts.push(`<text x="${(labelW + w + 4).toFixed(1)}" y="${y + barH - 3}" font-size="10">${esc(`${r.toFixed(2)}×${clipped}`)}</text>`);
    });
  });
  const x1 = x(1);
  const bottom = top + rows.length * groupH;
  parts.push(`<line x1="${x1}" y1="${top - 6}" x2="${x1}" y2="${bottom}" stroke="#000" stroke-dasharray="4 3"/>`);
  for (const t of [0, 0.5, 1, 1.5, 2, 2.5, 3]) {
    parts.push(`<text x="${x(t)}" y="${bottom + 14}" text-anchor="middle" font-size="10" fill="#555">${t}×</text>`);
  }
  parts.push(`<text x="${labelW}" y="${bottom + 30}" font-size="10" fill="#555">bars past ${cap}× are clipped (▶). Figures and ratios: results.md</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
