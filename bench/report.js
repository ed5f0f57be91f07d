// bench/report.js: the metric tables (markdown, stdout) and the SVG bar chart, one group per transport, normalised to each group's SDK baseline = 1.0.
import { HAND_WIRED } from './contenders.js';

/** Every reported figure: which phase produced it, how to print it, and the package's goal where it has one. */
export const METRICS = [
  { key: 'callsPerSec', phase: 'roundTrip', label: 'a. round trip: calls/s', unit: 'calls/s', better: 'higher', digits: 0 },
  { key: 'p50', phase: 'roundTrip', label: 'a. round trip: p50 latency', unit: 'ms', better: 'lower', digits: 2 },
  { key: 'p99', phase: 'roundTrip', label: 'a. round trip: p99 latency', unit: 'ms', better: 'lower', digits: 2 },
  {
    key: 'cpuUsPerCall',
    phase: 'roundTrip',
    label: 'a. server CPU per call',
    unit: 'µs',
    better: 'lower',
    digits: 0,
    goals: {
      pkg: { ratio: 0.93 },
      'pkg-secured': { ratio: 0.8, vs: 'sdk-secured' },
      'pkg-streamable': { ratio: 0.6 },
      'pkg-streamable-secured': { ratio: 0.8, vs: 'sdk1-streamable-secured' },
      // 2026-07-28: the router should add no cost over the SDK's own handler serving the same per-request server.
      'pkg-modern': { ratio: 1 },
    },
  },
  {
    key: 'rssPerSession',
    phase: 'idleMemory',
    label: 'b. idle RSS per session',
    unit: 'bytes',
    better: 'lower',
    digits: 0,
    goals: { pkg: { ratio: 1.0 } },
  },
  { key: 'heapPerSession', phase: 'idleMemory', label: 'b. idle heap per session', unit: 'bytes', better: 'lower', digits: 0 },
  {
    key: 'fanoutMs',
    phase: 'fanOut',
    label: 'c. broadcast fan-out (all streams got it)',
    unit: 'ms',
    better: 'lower',
    digits: 1,
    goals: { pkg: { ratio: 0.8 } },
  },
  { key: 'serverLoopMs', phase: 'fanOut', label: 'c. broadcast: server-side call', unit: 'ms', better: 'lower', digits: 1 },
  { key: 'sessionsPerSec', phase: 'openRate', label: 'd. session open rate', unit: 'sessions/s', better: 'higher', digits: 0 },
  { key: 'cpuUsPerOpen', phase: 'openRate', label: 'd. server CPU per session opened', unit: 'µs', better: 'lower', digits: 0 },
  {
    key: 'retainedHeapMB',
    phase: 'slowConsumer',
    label: 'e. slow consumer: heap+external growth (after gc)',
    unit: 'MB',
    better: 'lower',
    digits: 1,
    goals: { pkg: { max: 6, text: 'bounded near 4 MiB' } },
  },
  { key: 'retainedRssMB', phase: 'slowConsumer', label: 'e. slow consumer: RSS growth (after gc)', unit: 'MB', better: 'lower', digits: 1 },
  { key: 'peakRssMB', phase: 'slowConsumer', label: 'e. slow consumer: peak RSS growth', unit: 'MB', better: 'lower', digits: 1 },
  {
    key: 'heapGrowthMB',
    phase: 'churn',
    label: 'f. churn: heap growth (after gc)',
    unit: 'MB',
    better: 'lower',
    digits: 2,
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

function goalText(goal, baseline) {
  if (!goal) return '';
  return goal.ratio !== undefined ? `≤ ${goal.ratio}× ${goal.vs ?? baseline}` : goal.text;
}

function goalMet(goal, value, ratio) {
  if (!goal || !Number.isFinite(value)) return undefined;
  return goal.ratio !== undefined ? ratio <= goal.ratio : value <= goal.max;
}

/** The metrics a group has figures for (the slow consumer, e, is measured on HTTP+SSE only). */
function metricsOf(results, group) {
  return METRICS.filter(
    (m) => group.contenders.some((c) => values(results, m, c) !== undefined) || group.contenders.some((c) => results.errors[`${m.phase}:${c}`]),
  );
}

function values(results, m, c) {
  const v = results.values[m.key]?.[c];
  return v === null ? undefined : v;
}

/** One line per group: the package's CPU per call against its baseline, which is what the goals are about. */
export function headline(results) {
  const lines = [];
  for (const g of results.groups) {
    const ours = { sse: 'pkg', streamable: 'pkg-streamable', modern: 'pkg-modern' }[g.wire];
    const cpu = results.values.cpuUsPerCall ?? {};
    if (!Number.isFinite(cpu[ours]) || !Number.isFinite(cpu[g.baseline])) continue;
    const goal = METRICS.find((m) => m.key === 'cpuUsPerCall').goals[ours];
    const r = cpu[ours] / cpu[g.baseline];
    let line =
      `${g.title}: \`${ours}\` ${fmt(cpu[ours], 0)} µs server CPU per call vs \`${g.baseline}\` ${fmt(cpu[g.baseline], 0)} µs` +
      `${g.baselines.length > 1 ? ' (the faster SDK transport)' : ''}: **${r.toFixed(2)}×** (goal ≤ ${goal.ratio}×, ${r <= goal.ratio ? 'met' : 'missed'})`;
    for (const other of g.baselines.filter((b) => b !== g.baseline && Number.isFinite(cpu[b]))) {
      line += `; vs \`${other}\` ${fmt(cpu[other], 0)} µs: ${(cpu[ours] / cpu[other]).toFixed(2)}×`;
    }
    lines.push(`${line}.`);
  }
  const cpu = results.values.cpuUsPerCall ?? {};
  // The secured path against the same libraries wired by hand around the SDK's transport.
  for (const [ours, theirs] of Object.entries(HAND_WIRED)) {
    if (!Number.isFinite(cpu[ours]) || !Number.isFinite(cpu[theirs])) continue;
    const r = cpu[ours] / cpu[theirs];
    lines.push(
      `Secured path: \`${ours}\` ${fmt(cpu[ours], 0)} µs vs \`${theirs}\` (wired by hand) ${fmt(cpu[theirs], 0)} µs: ` +
        `**${r.toFixed(2)}×** (goal ≤ 0.8×, ${r <= 0.8 ? 'met' : 'missed'}).`,
    );
  }
  // The same MCP server on both sides: the package with SDK v2's McpServer against the v2 transport.
  if (Number.isFinite(cpu['pkg-streamable-v2']) && Number.isFinite(cpu['sdk2-streamable'])) {
    lines.push(
      `Same server on both sides (SDK v2 McpServer): \`pkg-streamable-v2\` ${fmt(cpu['pkg-streamable-v2'], 0)} µs vs \`sdk2-streamable\` ` +
        `${fmt(cpu['sdk2-streamable'], 0)} µs: ${(cpu['pkg-streamable-v2'] / cpu['sdk2-streamable']).toFixed(2)}×.`,
    );
  }
  return lines;
}

/** The results: a headline, then one table per transport, one row per figure, `value (ratio×)` to the group's baseline. */
export function markdown(results) {
  const { machine } = results;
  const out = [];
  out.push(`# express-mcp-sse benchmark${results.quick ? ' (QUICK smoke run: small sizes, not representative)' : ''}`);
  out.push('');
  out.push(
    `Machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.os}, ${machine.date}. ` +
      `Open-file limit ${machine.nofile}. Load average (1 min) ${machine.loadavg1m.before} before, ${machine.loadavg1m.after} after ` +
      `(the bench itself adds about 2). Run took ${fmt(results.durationS, 0)} s.`,
  );
  out.push('');
  for (const line of headline(results)) out.push(`- ${line}`);
  out.push('');
  out.push(
    "Each cell: the figure, then its ratio to the group's baseline. Lower is better except calls/s and sessions/s. " +
      `Round trip (a): ${results.config.rtSessions} sessions × ${results.config.rtInflight} calls in flight for every contender.`,
  );
  for (const g of results.groups) {
    out.push('');
    out.push(`## ${g.title}: ratios to \`${g.baseline}\`${g.baselines.length > 1 ? ' (the SDK transport with the lower CPU per call in a)' : ''}`);
    out.push('');
    out.push(`| metric | unit | ${g.contenders.join(' | ')} | goal |`);
    out.push(`| --- | --- | ${g.contenders.map(() => '---:').join(' | ')} | --- |`);
    for (const m of metricsOf(results, g)) {
      const base = values(results, m, g.baseline);
      const cells = g.contenders.map((c) => {
        const v = values(results, m, c);
        if (v === undefined) return results.errors[`${m.phase}:${c}`] ? 'error' : 'n/a';
        const r = ratioOf(v, base);
        // A goal against another contender (secured vs hand-wired) is judged on that ratio.
        const goal = m.goals?.[c];
        const met = goalMet(goal, v, goal?.vs === undefined ? r : ratioOf(v, values(results, m, goal.vs)));
        const mark = met === undefined ? '' : met ? ' ✓' : ' ✗';
        return `${fmt(v, m.digits)}${Number.isFinite(r) ? ` (${r.toFixed(2)}×)` : ''}${mark}`;
      });
      const goals = Object.entries(m.goals ?? {})
        .filter(([c]) => g.contenders.includes(c))
        .map(([c, goal]) => `${c}: ${goalText(goal, g.baseline)}`)
        .join('; ');
      out.push(`| ${m.label} | ${m.unit} | ${cells.join(' | ')} | ${goals} |`);
    }
    const redis = results.redis?.[g.wire];
    if (redis) out.push(`| g. forwarded vs local request (Redis bus) | | ${redis.text} |${' |'.repeat(g.contenders.length)}`);
  }
  out.push('');
  out.push("✓/✗: the package's goal for that figure met or missed (goals, not assertions).");
  out.push('');
  out.push('## Details');
  out.push('');
  for (const [phase, byContender] of Object.entries(results.details)) {
    out.push(
      `- **${phase}**: ` +
        Object.entries(byContender)
          .map(([c, d]) => `${c}: ${describeDetail(phase, d)}`)
          .join('; '),
    );
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
      return (
        `${fmt(d.calls, 0)} calls measured, ${d.errors} errors, server CPU ${fmt(d.serverCpuUtil * 100, 0)}%, client ${fmt(d.clientCpuUsPerCall, 0)} µs/call` +
        (d.rounds ? `; CPU µs/call by round: ${d.rounds.map((r) => fmt(r.cpuUsPerCall, 0)).join(' / ')}` : '')
      );
    case 'idleMemory':
      return `${d.sessions} sessions${d.failed ? `, ${d.failed} failed` : ''}`;
    case 'fanOut':
      return `${d.sessions} streams${d.failed ? ` (${d.failed} failed to open)` : ''}, min received ${d.minReceived}, runs ${d.runs.map((r) => fmt(r.ms, 0)).join('/')} ms`;
    case 'openRate':
      return `${d.sessions} sessions${d.failed ? `, ${d.failed} failed` : ''}`;
    case 'slowConsumer':
      return `sent ${fmt(d.sentMB, 1)} MB in ${fmt(d.floodMs, 0)} ms, stopped by ${d.stoppedBy}; then the client read ${fmt(d.clientReadMB, 1)} MB and the stream was ${d.streamAfter}${d.slowConsumerCuts !== undefined ? ` (slowConsumerCuts counter: ${d.slowConsumerCuts})` : ''}`;
    case 'churn':
      return `${d.cycles} cycles at ${fmt(d.cyclesPerSec, 0)}/s, ${d.failed} failed, RSS ${fmt(d.rssGrowthMB, 1)} MB, sessions left ${d.sessionsLeft} after ${fmt(d.drainSeconds, 1)} s`;
    default:
      return JSON.stringify(d);
  }
}

const COLORS = {
  pkg: '#2f7ed8',
  'pkg-secured': '#8bbc21',
  sdk: '#910000',
  ceiling: '#888888',
  'pkg-streamable': '#1a4f9c',
  'pkg-streamable-secured': '#5e8a12',
  'pkg-streamable-v2': '#6fa8dc',
  'sdk1-streamable': '#c0392b',
  'sdk2-streamable': '#e08e0b',
  'sdk-secured': '#d46a6a',
  'sdk1-streamable-secured': '#e67e73',
};

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Horizontal bars, one section per transport and one group of bars per figure; every bar is the contender's
 * ratio to its section's baseline (= 1.0, the dashed line).
 */
export function svg(results) {
  const cap = 3;
  const labelW = 330;
  const plotW = 520;
  const barH = 13;
  const width = labelW + plotW + 120;
  const x = (r) => labelW + (Math.min(Math.max(r, 0), cap) / cap) * plotW;
  const sections = results.groups
    .map((g) => ({
      g,
      rows: metricsOf(results, g).filter((m) => Number.isFinite(values(results, m, g.baseline))),
    }))
    .filter((s) => s.rows.length > 0);
  const body = [];
  let y = 44;
  for (const { g, rows } of sections) {
    const groupH = g.contenders.length * barH + 14;
    y += 10;
    body.push(
      `<text x="10" y="${y + 12}" font-size="13" font-weight="bold">${esc(`${g.title}: ratio to ${g.baseline} = 1.0${g.baselines.length > 1 ? ' (the faster SDK transport)' : ''}`)}</text>`,
    );
    let lx = 10;
    for (const c of g.contenders) {
      body.push(
        `<rect x="${lx}" y="${y + 20}" width="12" height="12" fill="${COLORS[c] ?? '#444'}"/><text x="${lx + 16}" y="${y + 30}">${esc(c)}</text>`,
      );
      lx += 30 + c.length * 7;
    }
    const top = y + 46;
    rows.forEach((m, i) => {
      const y0 = top + i * groupH;
      if (i % 2 === 0) body.push(`<rect x="0" y="${y0 - 4}" width="${width}" height="${groupH}" fill="#f4f4f4"/>`);
      body.push(`<text x="10" y="${y0 + groupH / 2 - 4}">${esc(m.label)}</text>`);
      body.push(
        `<text x="10" y="${y0 + groupH / 2 + 10}" fill="#666" font-size="10">${esc(`${m.unit}, ${m.better} is better; ${g.baseline} = ${fmt(values(results, m, g.baseline), m.digits)}`)}</text>`,
      );
      g.contenders.forEach((c, j) => {
        const r = ratioOf(values(results, m, c), values(results, m, g.baseline));
        const yb = y0 + j * barH;
        if (!Number.isFinite(r)) {
          body.push(`<text x="${labelW + 4}" y="${yb + barH - 3}" fill="#999" font-size="10">${esc(c)}: n/a</text>`);
          return;
        }
        const w = Math.max(1, x(r) - labelW);
        body.push(`<rect x="${labelW}" y="${yb}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${COLORS[c] ?? '#444'}"/>`);
        body.push(
          `<text x="${(labelW + w + 4).toFixed(1)}" y="${yb + barH - 3}" font-size="10">${esc(`${r.toFixed(2)}×${r > cap ? ' ▶' : ''}`)}</text>`,
        );
      });
    });
    const bottom = top + rows.length * groupH;
    body.push(`<line x1="${x(1)}" y1="${top - 6}" x2="${x(1)}" y2="${bottom}" stroke="#000" stroke-dasharray="4 3"/>`);
    for (const t of [0, 0.5, 1, 1.5, 2, 2.5, 3]) {
      body.push(`<text x="${x(t)}" y="${bottom + 14}" text-anchor="middle" font-size="10" fill="#555">${t}×</text>`);
    }
    y = bottom + 20;
  }
  const height = y + 24;
  const parts = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  parts.push(
    `<text x="10" y="20" font-size="15" font-weight="bold">express-mcp-sse benchmark: ratio to the SDK's transports${results.quick ? ' — QUICK run' : ''}</text>`,
  );
  parts.push(
    `<text x="10" y="38" fill="#555">${esc(`${results.machine.cpu}, ${results.machine.cores} cores, Node ${results.machine.node}, ${results.machine.date.slice(0, 10)}`)}</text>`,
  );
  parts.push(...body);
  parts.push(
    `<text x="${labelW}" y="${height - 10}" font-size="10" fill="#555">bars past ${cap}× are clipped (▶). Figures and ratios: results.md</text>`,
  );
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
