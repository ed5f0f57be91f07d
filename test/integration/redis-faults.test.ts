// Faults of a multi-instance deployment (separate processes sharing Redis): an instance killed with SIGKILL,
// and Redis stopped and restarted under live sessions.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { connectClient, sleep, startInstance, startRedis, textOf, type Instance, type RedisServer, type RoutedClient } from './helpers/redis.js';

const TTL = 1500;
let redis: RedisServer | undefined;
let prefix: string;
let A: Instance, B: Instance;
const instances: Instance[] = [];
const clients: RoutedClient[] = [];

beforeEach(async () => {
  redis = await startRedis();
  prefix = `faults-${randomUUID().slice(0, 8)}`;
  // Sessions that end with their instance are what the test named "durable: false" is about.
  const durable = !expect.getState().currentTestName?.includes('durable: false');
  const started = await Promise.all(['A', 'B'].map((name) => startInstance({ redisUrl: redis!.url, name, prefix, directoryTtlMs: TTL, durable })));
  instances.push(...started);
  [A, B] = started as [Instance, Instance];
  await waitUntil(async () => (await Promise.all(instances.map((i) => i.state()))).every((s) => s.bus.connected), 10_000, 'buses connected');
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(instances.splice(0).map((i) => i.stop()));
  await redis?.dispose();
  redis = undefined;
});

async function client(sseUrl: string, postTo?: string): Promise<RoutedClient> {
  const c = await connectClient(sseUrl, postTo);
  clients.push(c);
  return c;
}

async function waitUntil(predicate: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!(await predicate())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

const postSeq = (url: string, n: number) =>
  fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/test/seq', params: { n } }),
  });

describe('Redis session bus faults', () => {
  it('with durable: false, answers 404 for the sessions of an instance killed with SIGKILL once its directory entries expire', async () => {
    const c = await client(A.sseUrl, B.baseUrl);
    expect(textOf(await c.client.callTool({ name: 'add', arguments: { a: 1, b: 1 } }))).toBe('2');
    const url = `${B.baseUrl}/mcp/messages?sessionId=${c.sessionId}`;

    await A.kill();
    const killedAt = Date.now();
    const statuses: number[] = [];
    let last: Response;
    for (;;) {
      last = await postSeq(url, statuses.length);
      statuses.push(last.status);
      if (last.status === 404) break;
      if (Date.now() - killedAt > TTL + 3000) throw new Error(`still no 404 ${Date.now() - killedAt} ms after the kill: ${statuses}`);
      await last.arrayBuffer();
      await sleep(50);
    }
    const elapsed = Date.now() - killedAt;
    console.log(`404 ${elapsed} ms after the kill (${statuses.length - 1} × 503 before it)`);
    // Entries are refreshed every TTL/3 with a TTL of TTL: gone at most TTL after the kill (plus timer slack).
    expect(elapsed).toBeLessThan(TTL + 750);
    expect(new Set(statuses.slice(0, -1))).toEqual(new Set(statuses.length > 1 ? [503] : []));
    expect(await last.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { data: { reason: 'session_not_found' } } });
    expect((await B.state()).errors).toEqual([]);
  });

  it('keeps local sessions working while Redis is down, answers 503 for forwards, and recovers by itself', async () => {
    const local = await client(A.sseUrl);
    const remote = await client(A.sseUrl, B.baseUrl);
    expect(textOf(await local.client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }))).toBe('3');
    expect(textOf(await remote.client.callTool({ name: 'add', arguments: { a: 3, b: 4 } }))).toBe('7');
    const forwardUrl = `${B.baseUrl}/mcp/messages?sessionId=${remote.sessionId}`;

    await redis!.stop();
    await waitUntil(async () => !(await A.state()).bus.connected && !(await B.state()).bus.connected, 5000, 'buses to notice');

    // Local: untouched.
    for (let i = 0; i < 5; i++) expect(textOf(await local.client.callTool({ name: 'add', arguments: { a: i, b: 10 } }))).toBe(String(i + 10));
    // Forwarded: 503 with a JSON-RPC envelope, fast.
    const before = Date.now();
    const refused = await fetch(forwardUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'probe', method: 'ping' }),
    });
    expect(Date.now() - before).toBeLessThan(1000);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toMatchObject({ jsonrpc: '2.0', id: 'probe', error: { code: -32000, data: { reason: 'bus_unavailable' } } });
    await expect(remote.client.callTool({ name: 'add', arguments: { a: 0, b: 0 } })).rejects.toThrow(/503/);
    // A broadcast still reaches this instance's sessions, and says the others were missed.
    expect(await B.broadcast({ method: 'notifications/message', params: { level: 'info', data: 'during outage' } })).toBe(0);

    const [aDown, bDown] = await Promise.all([A.state(), B.state()]);
    expect(aDown.errors.length).toBeGreaterThanOrEqual(1);
    expect(aDown.errors.length).toBeLessThanOrEqual(2); // one per connection, not one per retry
    for (const error of aDown.errors) {
      expect(error.code).toBe('ERR_MCP_SSE_BUS');
      expect(error.message).toMatch(new RegExp(`Redis at 127\\.0\\.0\\.1:${redis!.port}`));
    }
    expect(bDown.errors.some((e) => /broadcast reached only this instance/.test(e.message))).toBe(true);

    await redis!.start();
    const restartedAt = Date.now();
    const statuses: number[] = [];
    for (;;) {
      const response = await postSeq(forwardUrl, statuses.length);
      statuses.push(response.status);
      await response.arrayBuffer();
      if (response.status === 202) break;
      if (Date.now() - restartedAt > 10_000) throw new Error(`forwarding did not recover within 10 s: ${statuses}`);
      await sleep(50);
    }
    const recoveredMs = Date.now() - restartedAt;
    console.log(`forwarding recovered ${recoveredMs} ms after Redis restarted (${statuses.length} probes)`);
    // Never a 404 while the directory is being rebuilt: the session was alive all along.
    expect(new Set(statuses.slice(0, -1))).toEqual(new Set(statuses.length > 1 ? [503] : []));
    expect(recoveredMs).toBeLessThan(5000);

    expect(textOf(await remote.client.callTool({ name: 'add', arguments: { a: 20, b: 22 } }))).toBe('42');
    expect(textOf(await local.client.callTool({ name: 'add', arguments: { a: 1, b: 1 } }))).toBe('2');
    const aUp = await A.state();
    expect(aUp.sessions).toEqual(expect.arrayContaining([local.sessionId, remote.sessionId]));
    expect(aUp.stats.closed).toBe(0);
    // The directory was rebuilt in the empty Redis.
    const admin = new Redis(redis!.url, { maxRetriesPerRequest: 1 });
    try {
      expect(await admin.exists(`${prefix}:session:${local.sessionId}`, `${prefix}:session:${remote.sessionId}`)).toBe(2);
    } finally {
      admin.disconnect();
    }
    expect([...aUp.errors, ...(await B.state()).errors].filter((e) => e.code !== 'ERR_MCP_SSE_BUS')).toEqual([]);
  });
});
