// The dispatcher's promise: middleware of another package that writes after a response ended cannot end the process.
import { errorMonitor, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express, { type RequestHandler } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { dispatch, fromAnotherPackage } from '../../lib/http/dispatch.js';

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

async function serve(routes: Parameters<typeof dispatch>[0]): Promise<string> {
  const app = express();
  app.use(dispatch(routes));
  const server = app.listen(0);
  await once(server, 'listening');
  close = () => new Promise((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('dispatch', () => {
  it('gives a response a listener for late errors where middleware of another package runs', async () => {
    const late: Error[] = [];
    // A misbehaving middleware: it answers, then writes again, which Node reports as an 'error' on the response.
    const answersTwice: RequestHandler = (_req, res) => {
      res.end('first');
      // A monitor sees the error without counting as a listener: without the router's, the process would end.
      res.on(errorMonitor, (error) => late.push(error));
      res.write('again');
    };
    const url = await serve({ '/twice': { byMethod: { GET: [fromAnotherPackage(answersTwice)] }, other: [] } });
    const response = await fetch(`${url}/twice`);
    expect(await response.text()).toBe('first');
    await expect.poll(() => late.map((error) => (error as NodeJS.ErrnoException).code)).toEqual(['ERR_STREAM_WRITE_AFTER_END']);
  });

  it('adds nothing to a response where only the router`s own handlers run', async () => {
    const listeners: number[] = [];
    const own: RequestHandler = (_req, res) => {
      listeners.push(res.listenerCount('error'));
      res.end('ok');
    };
    const foreign = fromAnotherPackage<RequestHandler>((_req, _res, next) => next());
    const url = await serve({
      '/own': { byMethod: { GET: [own] }, other: [] },
      '/guarded': { byMethod: { GET: [foreign, own] }, other: [] },
    });
    await (await fetch(`${url}/own`)).text();
    await (await fetch(`${url}/guarded`)).text();
    expect(listeners).toEqual([0, 1]);
  });
});
