// Helpers for the browser suite: Debian's Chromium through playwright-core, the example app as a child process,
// a tiny static server for cross-origin pages, and readers for the console page's activity log and requests.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page, type Request } from 'playwright-core';
import { freePort, requireProgram } from './programs.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Launches headless Chromium from PATH; throws (never skips) when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: requireProgram('chromium'),
    headless: true,
    // playwright gives every launch a fresh temporary profile, so no --user-data-dir is needed.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
    timeout: 30_000,
  });
}

/** Kinds of event stream the example app's test route can cut. */
export type StreamKind = 'sse' | 'get' | 'post';
export type CutStreams = Record<StreamKind | 'cut', number>;

export interface ExampleApp {
  readonly port: number;
  readonly origin: string;
  /** Everything the app printed, for failure messages. */
  output(): string;
  /** Current `GET /health` session stats. */
  stats(): Promise<SessionStats>;
  /**
   * Destroys open event streams (the `EXAMPLE_TEST_HOOKS` route): every kind, or those named in `only` (`sse` for
   * legacy `/mcp/sse` streams, `get` and `post` for Streamable HTTP streams on `/mcp`). Resolves with the counts.
   */
  cutStreams(only?: StreamKind[]): Promise<CutStreams>;
  /** SIGTERM (graceful drain), then SIGKILL after 5 s. Safe to call twice. */
  stop(): Promise<void>;
  /** Stops the app and starts a new process on the same port with the same environment. */
  restart(): Promise<void>;
}

/** What `GET /health` reports: the router's `sessions.stats()`. */
export interface SessionStats {
  active: number;
  detached: number;
  opened: number;
  closed: number;
  resumed: number;
  byTransport: Record<'sse' | 'streamable-http', { active: number; detached: number }>;
}

/** Environment variables of the outer shell that would change the example app's behaviour. */
const appEnvKeys = ['PORT', 'HOST', 'API_KEY', 'JWT_SECRET', 'CORS_ORIGINS', 'REDIS_URL', 'EXAMPLE_TEST_HOOKS'];

const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

/** Starts `node example-app/server.js` on a free port with the test hooks on; resolves once it listens. */
export async function startExampleApp(env: Record<string, string> = {}): Promise<ExampleApp> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  let output = '';
  let child: ChildProcess | undefined;

  const spawnApp = async (): Promise<void> => {
    const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !appEnvKeys.includes(key)));
    const proc = spawn(process.execPath, ['example-app/server.js'], {
      cwd: repoRoot,
      env: { ...base, ...env, PORT: String(port), HOST: '127.0.0.1', EXAMPLE_TEST_HOOKS: '1', DEBUG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    liveChildren.add(proc);
    proc.once('exit', () => liveChildren.delete(proc));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error('did not listen within 15 s')), 15_000);
      const fail = (error: Error) => {
        clearTimeout(timer);
        proc.kill('SIGKILL');
        reject(new Error(`The example app failed to start (${error.message}); did you run \`npm run build\`?\n${output}`));
      };
      proc.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Streamable HTTP at')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      proc.once('exit', (code, signal) => fail(new Error(`exited with ${code ?? signal}`)));
      proc.once('error', fail);
    });
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  await spawnApp();
  return {
    port,
    origin,
    output: () => output,
    stats: async () => ((await (await fetch(`${origin}/health`)).json()) as { sessions: SessionStats }).sessions,
    cutStreams: async (only) => {
      const query = only === undefined ? '' : `?only=${only.join(',')}`;
      const response = await fetch(`${origin}/__test/cut-streams${query}`, { method: 'POST' });
      if (!response.ok) throw new Error(`POST /__test/cut-streams answered ${response.status}; is EXAMPLE_TEST_HOOKS on?`);
      return (await response.json()) as CutStreams;
    },
    stop,
    restart: async () => {
      await stop();
      await spawnApp();
    },
  };
}

export interface StaticSite {
  readonly origin: string;
  /** Changes the page every GET answers with (a site's origin may be needed before its page can be written). */
  setHtml(html: string): void;
  close(): Promise<void>;
}

/** A plain node:http server answering every GET with one HTML page: a page of another origin. */
export async function serveHtml(html = '<!doctype html><title>empty</title>'): Promise<StaticSite> {
  let page = html;
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(page);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  return {
    origin: `http://127.0.0.1:${port}`,
    setHtml: (next) => (page = next),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** One line of the console's activity log, as the page rendered it. */
export interface LogEntry {
  kind: string;
  dir: string | undefined;
  method: string | undefined;
  eventId: string | undefined;
  text: string;
}

export async function logEntries(page: Page): Promise<LogEntry[]> {
  return page.$$eval('#log > li', (items) =>
    items.map((item) => ({
      kind: (item as HTMLElement).dataset.kind ?? '',
      dir: (item as HTMLElement).dataset.dir,
      method: (item as HTMLElement).dataset.method,
      eventId: (item as HTMLElement).dataset.eventId,
      text: item.querySelector('.text')?.textContent ?? '',
    })),
  );
}

/** Waits until the status pill shows `state` (its data-state: ready, resumed, reconnecting, error…). */
export async function waitForStatus(page: Page, state: string, timeout = 15_000): Promise<void> {
  await page.waitForSelector(`#status-pill[data-state="${state}"]`, { timeout });
}

/** Starts recording every text the status pill shows; read it back with `statusHistory()`. */
export async function recordStatus(page: Page): Promise<void> {
  await page.evaluate(() => {
    const pill = document.getElementById('status-pill')!;
    const history: string[] = [pill.textContent ?? ''];
    (window as unknown as { statusHistory: string[] }).statusHistory = history;
    new MutationObserver(() => history.push(pill.textContent ?? '')).observe(pill, { childList: true, characterData: true, subtree: true });
  });
}

export async function statusHistory(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { statusHistory: string[] }).statusHistory);
}

/** One request the page sent to the Streamable HTTP endpoint (`/mcp`), with the JSON-RPC method of a POST body. */
export interface McpRequest {
  httpMethod: string;
  rpcMethod: string | undefined;
  headers: Record<string, string>;
  url: string;
}

/** Records every request the page sends to `/mcp` itself (not `/mcp/sse` or `/mcp/messages`). */
export function recordMcpRequests(page: Page): McpRequest[] {
  const requests: McpRequest[] = [];
  page.on('request', (request: Request) => {
    if (new URL(request.url()).pathname !== '/mcp') return;
    const body = request.method() === 'POST' ? (JSON.parse(request.postData() ?? '{}') as { method?: string }) : undefined;
    requests.push({ httpMethod: request.method(), rpcMethod: body?.method, headers: request.headers(), url: request.url() });
  });
  return requests;
}
