// Integration helpers: a throwaway redis-server on a loopback port (stoppable and restartable), and app instances
// (one process each, test/integration/fixtures/instance.js) that share it through the Redis session bus.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { freePort, requireProgram } from './programs.js';

/** Every child process these helpers started, so a crashed test run still kills them. */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly running: boolean;
  /** Starts it again on the same port (empty: nothing is saved). */
  start(): Promise<void>;
  /** Stops it (SIGTERM, then SIGKILL after 3 s) and waits for the exit; `start()` brings it back. */
  stop(): Promise<void>;
  /** Stops it for good and removes its temp dir. */
  dispose(): Promise<void>;
}

/** Starts `redis-server` on a free 127.0.0.1 port with persistence off, in a temp dir. */
export async function startRedis(): Promise<RedisServer> {
  const program = requireProgram('redis-server');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mcp-sse-redis-'));
  let child: ChildProcess | undefined;
  let output = '';

  const start = async (): Promise<void> => {
    if (child !== undefined) return;
    output = '';
    const proc = spawn(program, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(proc);
    proc.stdout!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    proc.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    child = proc;
    let exited = false;
    proc.once('exit', () => {
      exited = true;
      children.delete(proc);
      if (child === proc) child = undefined;
    });
    const deadline = Date.now() + 10_000;
    while (!(await ping(port))) {
      if (exited) throw new Error(`redis-server exited at start:\n${output}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not answer PING on port ${port} within 10 s:\n${output}`);
      await sleep(25);
    }
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (proc === undefined) return;
    child = undefined;
    await killAndWait(proc, 'SIGTERM', 3000);
  };

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return child !== undefined;
    },
    start,
    stop,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** True when something on `port` answers a Redis PING. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
  });
}

// ---- app instances ----

export interface InstanceOptions {
  redisUrl: string;
  /** Instance id in the directory (also a label in failure messages). */
  name: string;
  directoryTtlMs?: number;
  forwardTimeoutMs?: number;
  /** Key and channel prefix; tests use a fresh one so runs never see each other's keys. */
  prefix: string;
  /** The router's `jsonResponse` option (Streamable HTTP answers one JSON body, so its head comes last). */
  jsonResponse?: boolean;
  /** `redisSessionBus({ durable })`; the bus's default when unset. */
  durable?: boolean;
  /** The router's `retryMs` (how soon clients reconnect after a stream ends). */
  retryMs?: number;
  /** The router's `maxSessions` (sessions this instance holds at most). */
  maxSessions?: number;
  /** A fixed port (a restarted instance keeps its place behind nginx); a free one when unset. */
  port?: number;
  /** Guards every route with API keys `alice-key-0123456789` (principal alice) and `bob-key-0123456789` (bob). */
  auth?: boolean;
}

export interface Instance {
  readonly name: string;
  readonly port: number;
  readonly baseUrl: string;
  /** URL of the SSE endpoint (`/mcp/sse`). */
  readonly sseUrl: string;
  readonly process: ChildProcess;
  /** stdout and stderr of the process so far (the last 8 KB). */
  readonly output: string;
  /** The instance's own view: its sessions, router stats, bus stats and every error it reported. */
  state(): Promise<InstanceState>;
  /** Triggers `router.sessions.broadcast(notification)` on this instance; returns how many local sessions got it. */
  broadcast(notification: { method: string; params?: Record<string, unknown> }): Promise<number>;
  /** The `n` of every `notifications/test/seq` the given session's transport received, in order. */
  received(sessionId: string): Promise<number[]>;
  /** SIGKILL: no cleanup at all, as a crash. */
  kill(): Promise<void>;
  /** SIGTERM: closes the router (and the bus) gracefully. */
  stop(): Promise<void>;
}

export interface InstanceState {
  instanceId: string;
  sessions: string[];
  stats: { active: number; detached: number; opened: number; closed: number };
  bus: {
    sessions: number;
    forwarded: number;
    forwardRefused: number;
    received: number;
    broadcastsSent: number;
    broadcastsReceived: number;
    connected: boolean;
  };
  errors: { code: string; message: string }[];
  /** Sessions this instance's servers were built for with `adopted: true`. */
  adopted: string[];
  /** `initialize` requests from clients its servers saw. */
  initializes: number;
}

const fixture = fileURLToPath(new URL('../fixtures/instance.js', import.meta.url));

/** Starts the instance fixture in its own Node process and waits until it listens. */
export async function startInstance(options: InstanceOptions): Promise<Instance> {
  const child = fork(fixture, [], {
    env: {
      ...process.env,
      REDIS_URL: options.redisUrl,
      INSTANCE_ID: options.name,
      PREFIX: options.prefix,
      DIRECTORY_TTL_MS: options.directoryTtlMs === undefined ? '' : String(options.directoryTtlMs),
      FORWARD_TIMEOUT_MS: options.forwardTimeoutMs === undefined ? '' : String(options.forwardTimeoutMs),
      JSON_RESPONSE: options.jsonResponse === true ? '1' : '',
      DURABLE: options.durable === false ? '0' : '',
      AUTH: options.auth === true ? '1' : '',
      PORT: options.port === undefined ? '' : String(options.port),
      LOG_503: process.env.LOG_503 ?? '',
      ROUTER_FIRST: process.env.ROUTER_FIRST ?? '',
      RETRY_MS: options.retryMs === undefined ? '' : String(options.retryMs),
      MAX_SESSIONS: options.maxSessions === undefined ? '' : String(options.maxSessions),
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  children.add(child);
  let output = '';
  const append = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8000));
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  child.once('exit', () => children.delete(child));

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`instance ${options.name} did not start within 15 s:\n${output}`)), 15_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    child.once('exit', (code, signal) => fail(new Error(`instance ${options.name} exited at start (${code ?? signal}):\n${output}`)));
    child.on('message', (message: { type?: string; port?: number }) => {
      if (message?.type === 'ready' && typeof message.port === 'number') {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        child.once('exit', () => children.delete(child));
        resolve(message.port);
      }
    });
  });

  const baseUrl = `http://127.0.0.1:${port}`;
  const control = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const response = await fetch(`${baseUrl}/control${path}`, { ...init, signal: AbortSignal.timeout(5000) });
    if (!response.ok) throw new Error(`instance ${options.name}: ${path} answered ${response.status}: ${await response.text()}`);
    return (await response.json()) as T;
  };
  return {
    name: options.name,
    port,
    baseUrl,
    sseUrl: `${baseUrl}/mcp/sse`,
    process: child,
    get output() {
      return output;
    },
    state: () => control<InstanceState>('/state'),
    broadcast: async (notification) =>
      (
        await control<{ written: number }>('/broadcast', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(notification),
        })
      ).written,
    received: async (sessionId) => (await control<{ received: number[] }>(`/received?sessionId=${encodeURIComponent(sessionId)}`)).received,
    kill: () => killAndWait(child, 'SIGKILL', 3000),
    stop: () => killAndWait(child, 'SIGTERM', 5000),
  };
}

/** Sends `signal`, then SIGKILL after `graceMs`; resolves once the process has exited. */
export async function killAndWait(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---- SDK clients whose POSTs go elsewhere ----

export interface RoutedClient {
  client: Client;
  /** The session id, from the endpoint the transport POSTs to (known after connect). */
  readonly sessionId: string;
  /** Where the transport's POSTs go now: a base URL like `http://127.0.0.1:1234`, or undefined for the stream's own host. */
  postTo: string | undefined;
  close(): Promise<void>;
}

/**
 * Connects an SDK v1 client (with a roots/list handler) to `sseUrl`. Its POSTs go to `postTo` (another instance)
 * through the transport's `fetch` option, so its stream and its messages live on different instances.
 */
export async function connectClient(sseUrl: string, postTo?: string): Promise<RoutedClient> {
  let sessionId: string | undefined;
  const routed: RoutedClient = {
    client: new Client({ name: 'redis-test-client', version: '1.0.0' }, { capabilities: { roots: {} } }),
    get sessionId() {
      if (sessionId === undefined) throw new Error('no POST yet, so no session id');
      return sessionId;
    },
    postTo,
    close: () => routed.client.close().catch(() => {}),
  };
  const routedFetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    if (init?.method !== 'POST') return fetch(input, init);
    const url = new URL(input instanceof Request ? input.url : input);
    sessionId = url.searchParams.get('sessionId') ?? undefined;
    if (routed.postTo !== undefined) {
      const target = new URL(routed.postTo);
      url.host = target.host;
      url.protocol = target.protocol;
    }
    return fetch(url, init);
  };
  routed.client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///client-root', name: 'root' }] }));
  await routed.client.connect(new SSEClientTransport(new URL(sseUrl), { fetch: routedFetch }));
  return routed;
}

/** The text of a tool result's first content item. */
export const textOf = (result: unknown): string => (result as { content: { text: string }[] }).content[0]!.text;
