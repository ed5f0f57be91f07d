// Finds the external programs the integration suite needs; a missing one fails the run with what to install.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

const installHints: Record<string, string> = {
  'redis-server': 'apt-get install redis-server',
  'redis-cli': 'apt-get install redis-tools',
  nginx: 'apt-get install nginx',
  chromium: 'apt-get install chromium',
};

/** Absolute path of `name` from PATH (plus /usr/sbin and /usr/bin); throws, saying what to install, when missing. */
export function requireProgram(name: string): string {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin']) {
    if (dir !== '' && existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  try {
    return execFileSync('which', [name], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`${name} is not on PATH; the integration tests need it. Install it (${installHints[name] ?? name}) and run again.`);
  }
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
