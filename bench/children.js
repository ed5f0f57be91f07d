// bench/children.js: starts contender processes and guarantees none outlives the runner.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const tmpDir = path.join(benchDir, '.tmp');
const children = new Set();

/** Kills every child still running (SIGKILL): used on exit, on signals and on errors. */
export function killAll() {
  for (const c of children) {
    try {
      // A child started `detached` leads its own process group: kill the whole group (redis behind its shell).
      if (c.spawnargs[0] === 'sh') process.kill(-c.pid, 'SIGKILL');
      else c.kill('SIGKILL');
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

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function redisPing(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d;
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

/**
 * Starts a throw-away `redis-server` (no persistence) on a free port. It runs behind a shell that kills it
 * when the runner's pipe closes, so it never outlives the runner, even one killed with SIGKILL.
 */
export async function startRedis() {
  const port = await freePort();
  fs.mkdirSync(tmpDir, { recursive: true });
  const logFd = fs.openSync(path.join(tmpDir, 'redis.log'), 'w');
  const script = 'redis-server "$@" & r=$!; trap \'kill $r 2>/dev/null; wait $r\' EXIT; cat >/dev/null';
  const child = spawn('sh', ['-c', script, 'sh', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['pipe', logFd, logFd],
    detached: true,
  });
  fs.closeSync(logFd);
  children.add(child);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  exited.then(() => children.delete(child));
  const t0 = Date.now();
  while (!(await redisPing(port))) {
    if (Date.now() - t0 > 10_000) {
      killAll();
      throw new Error('redis-server did not answer PING within 10 s (see bench/.tmp/redis.log)');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  let pid;
  try {
    pid =
      Number(
        execFileSync('pgrep', ['-P', String(child.pid), 'redis-server'], { encoding: 'utf8' })
          .trim()
          .split('\n')[0],
      ) || undefined;
  } catch {}
  return {
    url: `redis://127.0.0.1:${port}`,
    pid,
    async stop() {
      child.stdin.end();
      const t = setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {}
      }, 3000);
      await exited;
      clearTimeout(t);
    },
  };
}
