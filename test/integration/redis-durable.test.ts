// Durable sessions across real processes: the owner of a session is SIGKILLed (or drained), and another instance
// adopts the session: SDK clients keep calling, resumes replay what was stored, lost requests fail once.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { messageOf, openRequest, openSse, postJson, sessionIdOf, type RawStream } from '../helpers/sse.js';
import { startInstance, startRedis, textOf, type Instance, type InstanceOptions, type RedisServer } from './helpers/redis.js';
import { until } from './redis/parts.js';

let redis: RedisServer;
let db: Redis;
const running: Instance[] = [];
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  redis = await startRedis();
  db = new Redis(redis.url);
});

afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close().catch(() => {})));
  await Promise.all(running.splice(0).map((instance) => instance.kill()));
});

afterAll(async () => {
  db.disconnect();
  await redis.dispose();
});

/** Starts instances sharing a fresh prefix (with options for all, or per name), and waits until their buses are connected. */
async function start(names: string[], options: Partial<InstanceOptions> | ((name: string) => Partial<InstanceOptions>) = {}): Promise<Instance[]> {
  const prefix = `durable-${randomUUID().slice(0, 8)}`;
  const optionsOf = typeof options === 'function' ? options : () => options;
  const started = await Promise.all(names.map((name) => startInstance({ redisUrl: redis.url, name, prefix, retryMs: 200, ...optionsOf(name) })));
  running.push(...started);
  for (const instance of started) await until(async () => (await instance.state()).bus.connected, 10_000, `${instance.name} connected`);
  return started;
}

const alive = (instance: Instance) => instance.process.exitCode === null && instance.process.signalCode === null;

/** A `fetch` that sends each request to the first instance of `targets` still running (a load balancer, simply). */
function firstAlive(targets: Instance[]): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input);
    const target = targets.find(alive);
    if (target === undefined) return Promise.reject(new Error('no instance left'));
    url.port = String(target.port);
    return fetch(url, init);
  };
}

/** An SDK v1 Streamable HTTP client whose requests go to the first live instance of `targets`. */
async function sdkClient(targets: Instance[]): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'durable-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${targets[0]!.baseUrl}/mcp`), { fetch: firstAlive(targets) });
  await client.connect(transport);
  closers.push(() => client.close());
  return { client, transport };
}

/** Waits until the stored frames of `sessionId` hold an entry matching `match` (the journal writes a tick later). */
async function stored(sessionId: string, match: (fields: string[]) => boolean): Promise<void> {
  await until(
    async () => {
      const [key] = await db.keys(`*:durable:${sessionId}:frames`);
      if (key === undefined) return false;
      const entries = await db.xrange(key, '-', '+');
      return entries.some(([, fields]) => match(fields));
    },
    10_000,
    `a stored frame of ${sessionId}`,
  );
}

const streamableHeaders = (extra: Record<string, string> = {}) => ({
  Accept: 'application/json, text/event-stream',
  'Content-Type': 'application/json',
  'MCP-Protocol-Version': '2025-11-25',
  ...extra,
});

const initialize = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

/** Opens a Streamable HTTP session with raw requests; returns its id. */
async function rawSession(instance: Instance, headers: Record<string, string> = {}): Promise<string> {
  const opened = await openRequest(`${instance.baseUrl}/mcp`, {
    method: 'POST',
    headers: streamableHeaders(headers),
    body: JSON.stringify(initialize),
  });
  await opened.done;
  expect(opened.status).toBe(200);
  const sessionId = String(opened.headers['mcp-session-id']);
  const initialized = await postJson(
    `${instance.baseUrl}/mcp`,
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { headers: streamableHeaders({ 'Mcp-Session-Id': sessionId, ...headers }) },
  );
  expect(initialized.status).toBe(202);
  return sessionId;
}

/** POSTs one request on a Streamable HTTP session; resolves with its open response stream. */
function rawCall(instance: Instance, sessionId: string, message: unknown, headers: Record<string, string> = {}): Promise<RawStream> {
  return openRequest(`${instance.baseUrl}/mcp`, {
    method: 'POST',
    headers: streamableHeaders({ 'Mcp-Session-Id': sessionId, ...headers }),
    body: JSON.stringify(message),
  });
}

/** The JSON-RPC messages of a stream, without its priming event. */
const messagesOf = (stream: RawStream) => stream.events.filter((e) => e.data !== '').map(messageOf);

const echo = (id: number, text: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text } } });
const seqNote = (n: number) => ({ method: 'notifications/test/seq', params: { n } });

describe('durable sessions on the Redis bus', () => {
  it('keeps a Streamable HTTP session when its owner is SIGKILLed between calls: same id, no second initialize, adopted', async () => {
    const [A, B] = await start(['A', 'B']);
    const { client, transport } = await sdkClient([A!, B!]);
    const sessionId = transport.sessionId!;
    for (let i = 0; i < 3; i++) expect(textOf(await client.callTool({ name: 'echo', arguments: { text: `a${i}` } }))).toBe(`a${i}`);
    expect((await A!.state()).sessions).toContain(sessionId);
    await A!.kill();
    for (let i = 0; i < 20; i++) expect(textOf(await client.callTool({ name: 'echo', arguments: { text: `b${i}` } }))).toBe(`b${i}`);
    expect(transport.sessionId).toBe(sessionId);
    const b = await B!.state();
    expect(b.sessions).toContain(sessionId);
    expect(b.adopted).toEqual([sessionId]);
    expect(b.initializes).toBe(0);
    expect(b.errors).toEqual([]);
  });

  it('applies the caps to adoption: a full instance answers 503 and leaves the session to one with room', async () => {
    const [A, B, C] = await start(['A', 'B', 'C'], (name) => (name === 'B' ? { maxSessions: 1 } : {}));
    const sessionId = await rawSession(A!);
    // B's one session is busy (its standalone stream is open), so nothing can be evicted for an adoption.
    const own = await rawSession(B!);
    const standalone = await openRequest(`${B!.baseUrl}/mcp`, { headers: streamableHeaders({ 'Mcp-Session-Id': own }) });
    expect(standalone.status).toBe(200);
    await A!.kill();
    const refused = await rawCall(B!, sessionId, echo(1, 'x'));
    await refused.done;
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBeDefined();
    expect((await B!.state()).sessions).toEqual([own]);
    // The lease was released at once: the next instance adopts it.
    const served = await rawCall(C!, sessionId, echo(2, 'y'));
    await served.done;
    expect(served.status).toBe(200);
    expect(messagesOf(served).at(-1)).toMatchObject({ id: 2, result: { content: [{ text: 'y' }] } });
    expect((await C!.state()).adopted).toEqual([sessionId]);
    expect((await B!.state()).adopted).toEqual([]);
    standalone.destroy();
  });

  it('keeps sessions durable across a Redis restart: calls go on, and an owner killed afterwards is still adopted', async () => {
    const [A, B] = await start(['A', 'B']);
    const { client, transport } = await sdkClient([A!, B!]);
    const sessionId = transport.sessionId!;
    await client.setLoggingLevel('debug');
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'before' } }))).toBe('before');
    // Redis restarts empty (persistence is off): the journal of every session is gone.
    await redis.stop();
    // The owner serves its own session without Redis.
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'during' } }))).toBe('during');
    await redis.start();
    for (const instance of [A!, B!]) await until(async () => (await instance.state()).bus.connected, 10_000, `${instance.name} reconnected`);
    // The owner writes its sessions again once it is back.
    await until(async () => (await db.keys(`*:durable:${sessionId}`)).length === 1, 10_000, 'the session stored again');
    const [record] = await db.keys(`*:durable:${sessionId}`);
    expect(await db.hget(record!, 'initialize')).toContain('"initialize"');
    expect(await db.lrange(`${record}:state`, 0, -1)).toEqual([expect.stringContaining('logging/setLevel')]);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'after' } }))).toBe('after');
    // Frames are stored again too (the append script is loaded into the new Redis on first use).
    await stored(sessionId, (fields) => fields.join(' ').includes('after'));
    await A!.kill();
    for (let i = 0; i < 10; i++) expect(textOf(await client.callTool({ name: 'echo', arguments: { text: `b${i}` } }))).toBe(`b${i}`);
    expect(transport.sessionId).toBe(sessionId);
    const b = await B!.state();
    expect(b.adopted).toEqual([sessionId]);
    expect(b.initializes).toBe(0);
  });

  it('keeps the 404 with durable: false', async () => {
    const [A, B] = await start(['A', 'B'], { durable: false, directoryTtlMs: 600 });
    const sessionId = await rawSession(A!);
    await A!.kill();
    // The directory entry expires within directoryTtlMs: from then on the session is unknown.
    await until(async () => (await db.keys(`*:session:${sessionId}`)).length === 0, 10_000, 'the directory entry to expire');
    const call = await rawCall(B!, sessionId, echo(1, 'x'));
    await call.done;
    expect(call.status).toBe(404);
    expect((await B!.state()).adopted).toEqual([]);
  });

  it('resumes the standalone stream on another instance after the owner died: the missed notifications once, in order', async () => {
    const [A, B] = await start(['A', 'B']);
    const sessionId = await rawSession(A!);
    const standalone = await openRequest(`${A!.baseUrl}/mcp`, { headers: { ...streamableHeaders({ 'Mcp-Session-Id': sessionId }) } });
    expect(standalone.status).toBe(200);
    await A!.broadcast(seqNote(1));
    const first = await standalone.next((e) => e.data !== '');
    expect(messageOf(first)).toMatchObject({ params: { n: 1 } });
    standalone.destroy();
    for (const n of [2, 3, 4]) await A!.broadcast(seqNote(n));
    await stored(sessionId, (fields) => fields.join(' ').includes('"n":4'));
    await A!.kill();
    const resumed = await openRequest(`${B!.baseUrl}/mcp`, {
      headers: streamableHeaders({ 'Mcp-Session-Id': sessionId, 'Last-Event-ID': first.id! }),
    });
    expect(resumed.status).toBe(200);
    await resumed.until((events) => events.length >= 3, 5000, 'the missed notifications');
    await B!.broadcast(seqNote(5));
    await resumed.until((events) => events.length >= 4, 5000, 'a live notification');
    expect(resumed.events.map((e) => (messageOf(e).params as { n: number }).n)).toEqual([2, 3, 4, 5]);
    resumed.destroy();
    expect((await B!.state()).adopted).toEqual([sessionId]);
  });

  it('answers a request lost with its instance with request_lost on resume, once, and ends the stream', async () => {
    const [A, B] = await start(['A', 'B']);
    const sessionId = await rawSession(A!);
    const call = await rawCall(A!, sessionId, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'slow', arguments: { ms: 30_000 } } });
    const priming = await call.next();
    expect(priming.data).toBe('');
    await stored(sessionId, (fields) => fields[2] === 'r' && fields[3] === '7');
    await A!.kill();
    const resumed = await openRequest(`${B!.baseUrl}/mcp`, {
      headers: streamableHeaders({ 'Mcp-Session-Id': sessionId, 'Last-Event-ID': priming.id! }),
    });
    expect(resumed.status).toBe(200);
    await resumed.done;
    expect(messagesOf(resumed)).toEqual([
      { jsonrpc: '2.0', id: 7, error: { code: -32000, message: expect.any(String), data: { reason: 'request_lost' } } },
    ]);
    // The session lives on: the next call is served.
    const next = await rawCall(B!, sessionId, echo(8, 'after'));
    await next.done;
    expect(messagesOf(next).at(-1)).toMatchObject({ id: 8, result: { content: [{ text: 'after' }] } });
  });

  it('fails an SDK client call in flight at a SIGKILL once, with request_lost, and serves the next call', async () => {
    const [A, B] = await start(['A', 'B']);
    const { client, transport } = await sdkClient([A!, B!]);
    const sessionId = transport.sessionId!;
    const call = client.callTool({ name: 'slow', arguments: { ms: 2000 } }).then(
      () => 'succeeded',
      (error: Error) => error.message,
    );
    await stored(sessionId, (fields) => fields[2] === 'r' && fields[3] !== '0');
    await A!.kill();
    expect(await call).toMatch(/lost with the instance/);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'next' } }))).toBe('next');
    expect(transport.sessionId).toBe(sessionId);
    expect((await B!.state()).adopted).toEqual([sessionId]);
  });

  it('adopts a legacy HTTP+SSE session on a resume after the owner died: endpoint first, then the missed events; POSTs work', async () => {
    const [A, B] = await start(['A', 'B']);
    const stream = await openSse(`${A!.sseUrl}`);
    const sessionId = sessionIdOf(stream.endpoint!);
    const postTo = (instance: Instance) => `${instance.baseUrl}/mcp/messages?sessionId=${sessionId}`;
    expect((await postJson(postTo(A!), { ...initialize, params: { ...initialize.params, protocolVersion: '2024-11-05' } })).status).toBe(202);
    await stream.next((e) => e.event === 'message');
    expect((await postJson(postTo(A!), { jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);
    expect((await postJson(postTo(A!), echo(1, 'one'))).status).toBe(202);
    const one = await stream.next((e) => e.event === 'message');
    expect(messageOf(one)).toMatchObject({ id: 1, result: { content: [{ text: 'one' }] } });
    stream.destroy();
    // Sent while no stream is attached: its answer waits in the replay (and in Redis).
    expect((await postJson(postTo(A!), echo(2, 'two'))).status).toBe(202);
    await stored(sessionId, (fields) => fields.join(' ').includes('"id":2'));
    await A!.kill();
    const resumed = await openSse(B!.sseUrl, { lastEventId: one.id! });
    expect(resumed.status).toBe(200);
    expect(sessionIdOf(resumed.endpoint!)).toBe(sessionId);
    expect(resumed.events[0]!.event).toBe('endpoint');
    const two = await resumed.next((e) => e.event === 'message');
    expect(messageOf(two)).toMatchObject({ id: 2, result: { content: [{ text: 'two' }] } });
    expect((await postJson(postTo(B!), echo(3, 'three'))).status).toBe(202);
    expect(messageOf(await resumed.next((e) => e.event === 'message'))).toMatchObject({ id: 3, result: { content: [{ text: 'three' }] } });
    resumed.destroy();
    const b = await B!.state();
    expect(b.adopted).toEqual([sessionId]);
    expect(b.initializes).toBe(0);
  });

  it('resumes a legacy HTTP+SSE stream on any instance: relayed from a live owner, adopted from a dead one', async () => {
    const [A, B, C] = await start(['A', 'B', 'C']);
    const stream = await openSse(`${A!.sseUrl}`);
    const sessionId = sessionIdOf(stream.endpoint!);
    const postTo = (instance: Instance) => `${instance.baseUrl}/mcp/messages?sessionId=${sessionId}`;
    expect((await postJson(postTo(A!), { ...initialize, params: { ...initialize.params, protocolVersion: '2024-11-05' } })).status).toBe(202);
    const init = await stream.next((e) => e.event === 'message');
    expect((await postJson(postTo(B!), { jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);
    // A proxy cuts the stream while its owner lives: the resume lands on B, which relays A's stream.
    stream.destroy();
    await until(async () => (await A!.state()).stats.detached === 1, 10_000, 'A saw the stream drop');
    expect((await postJson(postTo(C!), echo(1, 'one'))).status).toBe(202);
    const viaB = await openSse(B!.sseUrl, { lastEventId: init.id! });
    expect(viaB.status).toBe(200);
    expect(viaB.events[0]!.event).toBe('endpoint');
    expect(sessionIdOf(viaB.endpoint!)).toBe(sessionId);
    const one = await viaB.next((e) => e.event === 'message');
    expect(messageOf(one)).toMatchObject({ id: 1, result: { content: [{ text: 'one' }] } });
    expect((await postJson(postTo(C!), echo(2, 'two'))).status).toBe(202);
    const two = await viaB.next((e) => e.event === 'message');
    expect(messageOf(two)).toMatchObject({ id: 2, result: { content: [{ text: 'two' }] } });
    expect((await B!.state()).sessions).not.toContain(sessionId);
    // Then the owner dies: the next resume, on C, adopts the session; a later one on B is relayed from C.
    viaB.destroy();
    await stored(sessionId, (fields) => fields.join(' ').includes('"id":2'));
    await A!.kill();
    const viaC = await openSse(C!.sseUrl, { lastEventId: two.id! });
    expect(sessionIdOf(viaC.endpoint!)).toBe(sessionId);
    expect((await postJson(postTo(B!), echo(3, 'three'))).status).toBe(202);
    const three = await viaC.next((e) => e.event === 'message');
    expect(messageOf(three)).toMatchObject({ id: 3, result: { content: [{ text: 'three' }] } });
    viaC.destroy();
    await until(async () => (await C!.state()).stats.detached === 1, 10_000, 'C saw the stream drop');
    expect((await postJson(postTo(C!), echo(4, 'four'))).status).toBe(202);
    const again = await openSse(B!.sseUrl, { lastEventId: three.id! });
    expect(sessionIdOf(again.endpoint!)).toBe(sessionId);
    expect(messageOf(await again.next((e) => e.event === 'message'))).toMatchObject({ id: 4, result: { content: [{ text: 'four' }] } });
    again.destroy();
    // The relaying instance's client left: the owner's side of the relayed stream ends too (the session waits for a resume).
    await until(async () => (await C!.state()).stats.detached === 1, 10_000, 'C saw the relayed stream end');
    expect((await C!.state()).adopted).toEqual([sessionId]);
    expect((await B!.state()).adopted).toEqual([]);
    for (const instance of [B!, C!]) expect((await instance.state()).initializes).toBe(0);
  });

  it('adopts a legacy HTTP+SSE session on a POST after the owner died; its answer waits for the resume', async () => {
    const [A, B] = await start(['A', 'B']);
    const stream = await openSse(`${A!.sseUrl}`);
    const sessionId = sessionIdOf(stream.endpoint!);
    const postTo = (instance: Instance) => `${instance.baseUrl}/mcp/messages?sessionId=${sessionId}`;
    expect((await postJson(postTo(A!), { ...initialize, params: { ...initialize.params, protocolVersion: '2024-11-05' } })).status).toBe(202);
    const init = await stream.next((e) => e.event === 'message');
    expect((await postJson(postTo(A!), { jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);
    await stored(sessionId, (fields) => fields.join(' ').includes('"id":0'));
    await A!.kill();
    expect((await postJson(postTo(B!), echo(1, 'one'))).status).toBe(202);
    const resumed = await openSse(B!.sseUrl, { lastEventId: init.id! });
    expect(messageOf(await resumed.next((e) => e.event === 'message'))).toMatchObject({ id: 1, result: { content: [{ text: 'one' }] } });
    resumed.destroy();
    expect((await B!.state()).adopted).toEqual([sessionId]);
  });

  it('keeps principal binding across adoption: 403 for another principal, the owner principal served', async () => {
    const [A, B] = await start(['A', 'B'], { auth: true });
    const alice = { 'X-API-Key': 'alice-key-0123456789' };
    const sessionId = await rawSession(A!, alice);
    await A!.kill();
    const bob = await rawCall(B!, sessionId, echo(1, 'bob'), { 'X-API-Key': 'bob-key-0123456789' });
    await bob.done;
    expect(bob.status).toBe(403);
    expect((await B!.state()).adopted).toEqual([]);
    const mine = await rawCall(B!, sessionId, echo(2, 'alice'), alice);
    await mine.done;
    expect(mine.status).toBe(200);
    expect(messagesOf(mine).at(-1)).toMatchObject({ id: 2, result: { content: [{ text: 'alice' }] } });
    expect((await B!.state()).adopted).toEqual([sessionId]);
  });

  it('hands sessions over on drain: after SIGTERM, the next calls are adopted elsewhere at once', async () => {
    const [A, B] = await start(['A', 'B']);
    const { client, transport } = await sdkClient([A!, B!]);
    const sessionId = transport.sessionId!;
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'before' } }))).toBe('before');
    const stopping = A!.stop();
    await stopping;
    const started = Date.now();
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'after' } }))).toBe('after');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(transport.sessionId).toBe(sessionId);
    const b = await B!.state();
    expect(b.adopted).toEqual([sessionId]);
    expect(b.initializes).toBe(0);
  });
});
