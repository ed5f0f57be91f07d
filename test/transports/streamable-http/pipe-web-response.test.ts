// pipeWebResponse and ClientPresence on a real HTTP server: every wait settles (client gone before, during, or
// under back-pressure), the SDK's stream is cancelled, a client that stops reading is cut, no listener is left.
import http, { type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ClientPresence } from '../../../lib/transports/streamable-http/client-presence.js';
import { pipeWebResponse } from '../../../lib/transports/streamable-http/pipe-web-response.js';
import { deferred } from './stateless-fixture.js';

let server: http.Server | undefined;

afterEach(async () => {
  vi.useRealTimers();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** A server handing each request's response to the test; a client request that never reads its body. */
async function serve(): Promise<{ next: Promise<ServerResponse>; request: http.ClientRequest }> {
  const res = deferred<ServerResponse>();
  server = http.createServer((_req, response) => res.resolve(response));
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server!.once('listening', resolve));
  const request = http.get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  request.on('error', () => {});
  request.on('response', (response) => {
    response.on('error', () => {});
    response.pause();
  });
  return { next: res.promise, request };
}

/** A Web Response whose body the test feeds, and that says when it was cancelled. */
function controlled() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const cancelled = deferred();
  const body = new ReadableStream<Uint8Array>({
    start: (c) => void (controller = c),
    cancel: () => cancelled.resolve(),
  });
  return { response: new Response(body, { headers: { 'Content-Type': 'text/event-stream' } }), controller, cancelled };
}

const listeners = (res: ServerResponse) => ({
  close: res.listenerCount('close'),
  drain: res.listenerCount('drain'),
  finish: res.listenerCount('finish'),
});
const limits = { maxBufferedBytes: 1 << 30, onCut: () => {} };

describe('pipeWebResponse', () => {
  it('with the client already gone, writes nothing and cancels the stream', async () => {
    const { next, request } = await serve();
    const res = await next;
    request.destroy();
    await new Promise((resolve) => res.once('close', resolve));
    const presence = new ClientPresence(res);
    expect(presence.gone).toBe(true);
    const { response, cancelled } = controlled();
    await pipeWebResponse(response, res, presence, limits);
    await cancelled.promise;
    expect(res.headersSent).toBe(false);
  });

  it('settles when the client leaves while it waits for the next chunk, cancelling the stream and leaving no listener', async () => {
    const { next, request } = await serve();
    const res = await next;
    const before = listeners(res);
    const presence = new ClientPresence(res);
    const { response, controller, cancelled } = controlled();
    const piping = pipeWebResponse(response, res, presence, limits);
    controller.enqueue(new TextEncoder().encode('data: one\n\n'));
    request.destroy();
    await piping;
    await cancelled.promise;
    presence.release();
    expect(listeners(res)).toEqual(before);
  });

  it('settles when the client leaves under back-pressure, with a constant number of listeners while it floods', async () => {
    const { next, request } = await serve();
    const res = await next;
    const presence = new ClientPresence(res);
    const { response, controller, cancelled } = controlled();
    const piping = pipeWebResponse(response, res, presence, limits);
    const during = listeners(res);
    const chunk = new Uint8Array(64 * 1024);
    while (!(res.writableNeedDrain && res.writableLength > 1 << 20)) {
      controller.enqueue(chunk);
      await new Promise((resolve) => setImmediate(resolve));
      expect(listeners(res)).toEqual(during);
    }
    request.destroy();
    await piping;
    await cancelled.promise;
    expect(presence.gone).toBe(true);
  });

  it('cuts a client that stops reading past maxBufferedBytes plus the largest chunk', async () => {
    const { next } = await serve();
    const res = await next;
    const presence = new ClientPresence(res);
    const cuts: number[] = [];
    const { response, controller, cancelled } = controlled();
    const piping = pipeWebResponse(response, res, presence, { maxBufferedBytes: 128 * 1024, onCut: (backlog) => void cuts.push(backlog) });
    const chunk = new Uint8Array(16 * 1024);
    while (cuts.length === 0) {
      controller.enqueue(chunk);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await piping;
    await cancelled.promise;
    expect(cuts[0]).toBeGreaterThan(128 * 1024 + 16 * 1024);
    expect(res.destroyed).toBe(true);
  });

  it('cuts a client whose backlog stops shrinking, below maxBufferedBytes too', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { next } = await serve();
    const res = await next;
    const presence = new ClientPresence(res);
    const cuts: number[] = [];
    const { response, controller, cancelled } = controlled();
    const piping = pipeWebResponse(response, res, presence, { maxBufferedBytes: 1 << 30, onCut: (backlog) => void cuts.push(backlog) });
    const chunk = new Uint8Array(64 * 1024);
    // Fill the socket until Node holds a backlog, and let the backlog check run (it starts the stall watch).
    while (!(res.writableNeedDrain && res.writableLength > 256 * 1024)) {
      controller.enqueue(chunk);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(cuts).toEqual([]);
    vi.advanceTimersByTime(2000);
    expect(cuts).toHaveLength(1);
    await piping;
    await cancelled.promise;
    expect(res.destroyed).toBe(true);
  });

  it('ends the response when the stream ends, and resolves once it finished', async () => {
    const { next } = await serve();
    const res = await next;
    const presence = new ClientPresence(res);
    const { response, controller } = controlled();
    const piping = pipeWebResponse(response, res, presence, limits);
    controller.enqueue(new TextEncoder().encode('data: last\n\n'));
    controller.close();
    await piping;
    expect(res.writableFinished).toBe(true);
    expect(presence.gone).toBe(false);
  });
});
