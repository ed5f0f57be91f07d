// The 2026-07-28 leg at its edges: clients leaving at every stage (before and during createServer(), during the
// tool call, while the answer streams, on a listen stream, under back-pressure), every per-request server closed
// exactly once however its request ends, and close() draining requests in flight before ending listen streams.
import http from 'node:http';
import express from 'express';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { McpServer as McpServerV2 } from '@modelcontextprotocol/server';
import { createCounters } from '../../../lib/stats.js';
import { StatelessLeg } from '../../../lib/transports/streamable-http/stateless.js';
import type { ServerLike } from '../../../lib/types.js';
import { buildServerV1, waitFor } from '../../helpers/server.js';
import { deferred, modern, type RawRequest, StatelessWorld } from './stateless-fixture.js';

let world: StatelessWorld | undefined;
const pending: RawRequest[] = [];

afterEach(async () => {
  for (const request of pending.splice(0)) request.leave();
  await world?.harness.close();
  world = undefined;
});

const track = (request: RawRequest): RawRequest => (pending.push(request), request);
const stats = () => world!.harness.router.sessions.stats();
const allClosedOnce = (what: string) => waitFor(() => world!.built.length > 0 && world!.misclosed().length === 0, 5000, what);

describe('a 2026 client leaving', () => {
  it('before the router got to its request: no server is built, nothing is written', async () => {
    const parked = deferred();
    world = await StatelessWorld.start({
      // The body is parsed first, then the request waits until its client has gone: the router sees a closed response.
      before: (app) =>
        app.use(express.json(), (req, res, next) => {
          if (req.headers['x-park'] !== '1') return next();
          res.once('close', () => {
            parked.resolve();
            next();
          });
        }),
    });
    const { body, headers } = modern('tools/list', {}, 1);
    const gone = new AbortController();
    const leaving = fetch(world.url, {
      method: 'POST',
      headers: { ...headers, 'x-key': 'parked', 'x-park': '1' },
      body: JSON.stringify(body),
      signal: gone.signal,
    });
    // Wait until the server holds the request (its response exists), then leave.
    await waitFor(() => world!.responses.has('parked'), 5000, 'the request to reach the server');
    gone.abort();
    await expect(leaving).rejects.toThrow();
    await parked.promise;
    // A later request on another connection is served: the parked one was handled (and dropped) before it.
    const after = world.start('after', 'call');
    world.finishTool('after');
    expect((await after.next((m) => m.id === 'after')).result).toMatchObject({ content: [{ text: 'released after' }] });
    expect(world.createCalled.fired('parked')).toBe(false);
    expect(world.responses.get('parked')!.headersSent).toBe(false);
    await allClosedOnce('the served request to close its server');
    expect(world.errors).toEqual([]);
  });

  it('during createServer(): the server is closed as soon as it exists, and nothing is written', async () => {
    world = await StatelessWorld.start();
    const request = track(world.start('a', 'call', { gate: true }));
    await world.createCalled.of('a').promise;
    request.leave();
    await world.responseClosed.of('a').promise;
    world.releaseCreate('a');
    await allClosedOnce('the server built for a departed client to close');
    expect(world.toolStarted.fired('a')).toBe(false);
    expect(world.responses.get('a')!.headersSent).toBe(false);
    expect(stats()).toMatchObject({ statelessRequests: 0, listening: 0 });
    expect(world.errors).toEqual([]);
  });

  it("during the SDK's fetch (the tool runs, no answer yet): the Web Request aborts and the tool is cancelled", async () => {
    world = await StatelessWorld.start();
    const request = track(world.start('b', 'call'));
    await world.toolStarted.of('b').promise;
    request.leave();
    await world.toolAborted.of('b').promise;
    await allClosedOnce('the server of the cancelled call to close');
    expect(world.responses.get('b')!.headersSent).toBe(false);
  });

  it('while its answer streams: the reader is cancelled, the tool aborted, the server closed', async () => {
    world = await StatelessWorld.start();
    const request = track(world.start('c', 'call', { progress: true }));
    expect((await request.head)?.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await request.next((m) => m.method === 'notifications/progress');
    request.leave();
    await world.toolAborted.of('c').promise;
    await allClosedOnce('the server of the streaming call to close');
  });

  it('from a listen stream: listening is back to what is open within a second', async () => {
    world = await StatelessWorld.start();
    const one = track(world.start('l1', 'listen'));
    const two = track(world.start('l2', 'listen'));
    await one.next((m) => m.method === 'notifications/subscriptions/acknowledged');
    await two.next((m) => m.method === 'notifications/subscriptions/acknowledged');
    expect(stats().listening).toBe(2);
    one.leave();
    await world.responseClosed.of('l1').promise;
    await waitFor(() => stats().listening === 1, 1000, 'the departed listen stream to be released');
    expect(world.harness.router.sessions.broadcast({ method: 'notifications/tools/list_changed' })).toBe(1);
    await two.next((m) => m.method === 'notifications/tools/list_changed');
    two.leave();
    await world.responseClosed.of('l2').promise;
    await waitFor(() => stats().listening === 0, 1000, 'the second listen stream to be released');
    await allClosedOnce('both listen servers to be closed');
    expect(world.built).toHaveLength(2);
  });
});

/** A listen stream read by a client that stops reading at once (Node's http client, paused). */
async function stalledListener(url: string, key: string): Promise<{ request: http.ClientRequest; response: http.IncomingMessage }> {
  const { body, headers } = modern('subscriptions/listen', { notifications: { toolsListChanged: true } }, key);
  const request = http.request(url, { method: 'POST', headers: { ...headers, 'x-key': key } });
  request.on('error', () => {});
  const head = new Promise<http.IncomingMessage>((resolve) => request.once('response', resolve));
  request.end(JSON.stringify(body));
  const response = await head;
  response.on('error', () => {});
  response.pause();
  return { request, response };
}

/** Broadcasts padded list_changed notifications until `until()` holds, yielding to I/O between bursts. */
async function flood(world: StatelessWorld, until: () => boolean): Promise<number> {
  const pad = 'x'.repeat(32 * 1024);
  for (let sent = 0; sent < 20_000; sent++) {
    if (until()) return sent;
    world.harness.router.sessions.broadcast({ method: 'notifications/tools/list_changed', params: { pad } });
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('the flood never reached its condition');
}

describe('a listen stream under back-pressure', () => {
  it('its client leaving mid-flood releases the stream, and waiting on back-pressure left no listener behind', async () => {
    world = await StatelessWorld.start();
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => void warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const { request } = await stalledListener(world.url, 'slow');
      await waitFor(() => stats().listening === 1, 5000, 'the listen stream');
      const res = world.responses.get('slow')!;
      const before = { close: res.listenerCount('close'), drain: res.listenerCount('drain') };
      await flood(world, () => res.writableNeedDrain && res.writableLength > 256 * 1024);
      expect({ close: res.listenerCount('close'), drain: res.listenerCount('drain') }).toEqual(before);
      request.destroy();
      await world.responseClosed.of('slow').promise;
      await waitFor(() => stats().listening === 0, 1000, 'the stalled listen stream to be released');
      await allClosedOnce('the listen server to be closed');
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
      expect(stats().slowConsumerCuts).toBe(0);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('a client that stops reading and stays is cut past maxBufferedBytes, and its stream released', async () => {
    world = await StatelessWorld.start({ maxBufferedBytes: 64 * 1024 });
    const { request } = await stalledListener(world.url, 'stuck');
    await waitFor(() => stats().listening === 1, 5000, 'the listen stream');
    await flood(world, () => stats().slowConsumerCuts === 1);
    await waitFor(() => stats().listening === 0, 1000, 'the cut listen stream to be released');
    expect(world.errors.map((e) => e.code)).toEqual(['ERR_MCP_SSE_SLOW_CONSUMER']);
    // Nothing more reaches the cut stream's subscription.
    expect(world.harness.router.sessions.broadcast({ method: 'notifications/tools/list_changed' })).toBe(0);
    request.destroy();
  });
});

describe('every per-request server is closed exactly once', () => {
  it('answered as JSON or as a stream, refused by the SDK, a notification, a listen stream ended by its client', async () => {
    world = await StatelessWorld.start();
    const json = world.start('json', 'call');
    world.finishTool('json');
    expect((await json.head)?.status).toBe(200);
    await json.ended.promise;
    const streamed = world.start('streamed', 'call', { progress: true });
    await streamed.next((m) => m.method === 'notifications/progress');
    world.finishTool('streamed');
    await streamed.next((m) => m.id === 'streamed');
    // Refused by the SDK's header checks (no Mcp-Method): the SDK never asked for the server.
    const { body, headers } = modern('tools/list', {}, 9);
    const { 'Mcp-Method': _, ...withoutMethod } = headers;
    const refused = await fetch(world.url, { method: 'POST', headers: { ...withoutMethod, 'x-key': 'refused' }, body: JSON.stringify(body) });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { code: -32020 } });
    const notification = modern('notifications/cancelled', { requestId: 'x' });
    const { id: _id, ...notificationBody } = notification.body;
    const accepted = await fetch(world.url, {
      method: 'POST',
      headers: { ...notification.headers, 'x-key': 'note' },
      body: JSON.stringify(notificationBody),
    });
    expect(accepted.status).toBe(202);
    const listen = track(world.start('listen', 'listen'));
    await listen.next((m) => m.method === 'notifications/subscriptions/acknowledged');
    listen.leave();
    await world.responseClosed.of('listen').promise;
    await waitFor(() => stats().listening === 0, 1000, 'the listen stream to be released');
    await waitFor(() => world!.built.length === 5 && world!.misclosed().length === 0, 5000, 'five servers closed once each');
    expect(world.built.map((s) => s.key).sort()).toEqual(['json', 'listen', 'note', 'refused', 'streamed']);
  });

  it('refused as 2025-only (an SDK v1 server), and failures to close go to onError', async () => {
    const closes: string[] = [];
    const errors: unknown[] = [];
    let next = 0;
    world = await StatelessWorld.start({
      onError: (error) => void errors.push(error),
      createServer: () => {
        const server = buildServerV1();
        const kind = next++ === 0 ? 'v1' : 'throws';
        server.close = async () => {
          closes.push(kind);
          if (kind === 'throws') throw new Error('close failed');
        };
        return server;
      },
    });
    for (const key of ['v1', 'throws']) {
      const { body, headers } = modern('tools/list', {}, 3);
      const response = await fetch(world.url, { method: 'POST', headers: { ...headers, 'x-key': key }, body: JSON.stringify(body) });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: { code: -32000 } });
    }
    await waitFor(() => closes.length === 2, 5000, 'both servers to be closed');
    expect(closes).toEqual(['v1', 'throws']);
    expect(errors).toMatchObject([{ code: 'ERR_MCP_SSE_SERVER_CLOSE' }]);
  });
});

describe('close() drains the 2026 leg', () => {
  it('lets a call in flight deliver, refuses new requests with 503, then ends listen streams gracefully', async () => {
    world = await StatelessWorld.start();
    const listen = track(world.start('listen', 'listen'));
    await listen.next((m) => m.method === 'notifications/subscriptions/acknowledged');
    const call = world.start('call', 'call', { progress: true });
    await world.toolStarted.of('call').promise;
    const closing = world.harness.router.close({ timeoutMs: 10_000 });
    let closed = false;
    void closing.then(() => (closed = true));
    const late = world.start('late', 'call');
    expect((await late.head)?.status).toBe(503);
    await late.next((m) => m.error !== undefined);
    expect(late.messages[0]).toMatchObject({ id: 'late', error: { data: { reason: 'shutting_down' } } });
    // The listen stream is still served while the call runs.
    expect(world.harness.router.sessions.broadcast({ method: 'notifications/tools/list_changed' })).toBe(1);
    await listen.next((m) => m.method === 'notifications/tools/list_changed');
    world.finishTool('call');
    expect((await call.next((m) => m.id === 'call')).result).toMatchObject({ content: [{ text: 'released call' }] });
    // Then the listen stream ends with the SDK's graceful closing result for its subscription.
    expect((await listen.next((m) => m.id === 'listen')).result).toMatchObject({ resultType: 'complete' });
    await listen.ended.promise;
    await closing;
    expect(closed).toBe(true);
    expect(stats().listening).toBe(0);
    expect(world.misclosed()).toEqual([]);
    expect(world.createCalled.fired('late')).toBe(false);
  });

  it('a request still in createServer() when the drain starts is served too', async () => {
    world = await StatelessWorld.start();
    const call = world.start('slow-start', 'call', { gate: true });
    await world.createCalled.of('slow-start').promise;
    const closing = world.harness.router.close({ timeoutMs: 10_000 });
    world.releaseCreate('slow-start');
    await world.toolStarted.of('slow-start').promise;
    world.finishTool('slow-start');
    expect((await call.next((m) => m.id === 'slow-start')).result).toMatchObject({ content: [{ text: 'released slow-start' }] });
    await closing;
    expect(world.misclosed()).toEqual([]);
  });
});

describe('StatelessLeg.close(deadline)', () => {
  it('past its deadline, closes what still runs: the held call is cancelled and answered 503, its server closed once', async () => {
    const counters = createCounters();
    let draining = false;
    const started = deferred();
    const aborted = deferred();
    let closes = 0;
    const leg = new StatelessLeg({
      options: {
        keepAliveMs: 0,
        jsonResponse: false,
        maxBufferedBytes: 1 << 20,
        createServer: () => {
          const server = new McpServerV2({ name: 'forever', version: '1.0.0' }, { capabilities: { tools: {} } });
          server.registerTool('forever', {}, async (ctx) => {
            started.resolve();
            await new Promise<void>((resolve) => ctx.mcpReq.signal.addEventListener('abort', () => resolve(), { once: true }));
            aborted.resolve();
            return { content: [] };
          });
          const close = server.close.bind(server);
          server.close = async () => {
            closes++;
            await close();
          };
          return server as ServerLike;
        },
      },
      counters,
      report: () => {},
      get draining() {
        return draining;
      },
    });
    const app = express();
    app.post('/mcp', express.json(), (req, res) => void leg.handle(req, res, req.body));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { body, headers } = modern('tools/call', { name: 'forever', arguments: {} }, 5);
      const answer = fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, { method: 'POST', headers, body: JSON.stringify(body) });
      await started.promise;
      draining = true;
      const deadline = new AbortController();
      const closing = leg.close(deadline.signal);
      deadline.abort();
      await aborted.promise;
      const response = await answer;
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ id: 5, error: { data: { reason: 'shutting_down' } } });
      await closing;
      expect(closes).toBe(1);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
