// bench/children.js: starts contender processes and guarantees none outlives the runner.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const tmpDir = path.join(benchDir, '.tmp');
const children = new Set();

/** Kills every child still running (SIGKILL): used on exit, on signals and on errors. */
export function killAll() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {}
  }
  children.clear();
}

process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\nbench: ${sig}, killing contender processes`);
    killAll();
    process.exit(130);
  });
}

/** stderr lines each contender wrote, by contender: reported in the results. */
export const childLogs = {};

/**
 * Starts `node --expose-gc bench/server.js <contender>` and resolves with `{ port, pid, stop }` once it prints
 * its port. Its stderr goes to bench/.tmp/<contender>.<label>.log.
 */
export async function startChild(contender, { label = 'run', nodeArgs = [], env = {}, startTimeoutMs = 20_000 } = {}) {
  fs.mkdirSync(tmpDir, { recursive: true });
  const logPath = path.join(tmpDir, `${contender}.${label}.log`);
  const logFd = fs.openSync(logPath, 'w');
  const child = spawn(process.execPath, ['--expose-gc', ...nodeArgs, path.join(benchDir, 'server.js'), contender], {
    stdio: ['pipe', 'pipe', logFd],
    env: { ...process.env, ...env },
  });
  fs.closeSync(logFd);
  children.add(child);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  exited.then(() => children.delete(child));

  const info = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => done(new Error(`${contender} did not print its port within ${startTimeoutMs} ms`)), startTimeoutMs);
    function done(err, value) {
      clearTimeout(timer);
      child.stdout.removeAllListeners('data');
      if (err) {
        child.kill('SIGKILL');
        const log = fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8').slice(-2000) : '';
        reject(new Error(`${err.message}\n${log}`));
      } else resolve(value);
    }
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl !== -1) {
        try {
          done(null, JSON.parse(out.slice(0, nl)));
        } catch (err) {
          done(err);
        }
      }
    });
    exited.then(({ code, signal }) => done(new Error(`${contender} exited (${code ?? signal}) before listening`)));
  });
  child.stdout.resume();

  async function stop({ graceMs = 3000 } = {}) {
    child.stdin.end();
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
    const log = fs.readFileSync(logPath, 'utf8');
    const lines = log.split('\n').filter((l) => l.trim() !== '');
    if (lines.length > 0) {
      (childLogs[contender] ??= []).push({ label, lines: lines.length, first: lines.slice(0, 5).join('\n'), logPath });
    }
  }
  return { contender, port: info.port, pid: info.pid, child, stop };
}

/** utime + stime of a process, in clock ticks, from /proc/<pid>/stat. */
export function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
