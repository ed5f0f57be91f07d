// SseStream over a real HTTP response: byte counting, the owner's end-of-stream hook, close() and back-pressure.
import http, { type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { McpSseError } from '../../lib/errors.js';
import { SseStream, type StreamOwner } from '../../lib/sse/stream.js';
import { waitFor } from '../helpers/server.js';

interface Fixture {
  stream: SseStream;
  ended: { cut: McpSseError | undefined }[];
  bytes: number[];
  received: () => string;
  clientClosed: Promise<void>;
  destroyClient: () => void;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function open(maxBufferedBytes = 1024 * 1024): Promise<Fixture> {
  const ended: Fixture['ended'] = [];
  const bytes: number[] = [];
  let resolveStream: (stream: SseStream) => void;
  const streamReady = new Promise<SseStream>((resolve) => (resolveStream = resolve));
  const server = http.createServer((_req, res: ServerResponse) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    const owner: StreamOwner = {
      maxBufferedBytes,
      countBytes: (size) => bytes.push(size),
      streamEnded: (_stream, cut) => ended.push({ cut }),
    };
    resolveStream(new SseStream(res, owner));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let body = '';
  let request!: http.ClientRequest;
  const clientClosed = new Promise<void>((resolve) => {
    request = http.get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('close', () => resolve());
    });
    request.on('error', () => resolve());
  });
  const stream = await streamReady;
  cleanups.push(() => {
    request.destroy();
    server.closeAllConnections();
    server.close();
  });
  return { stream, ended, bytes, received: () => body, clientClosed, destroyClient: () => request.destroy() };
}

describe('SseStream', () => {
  it('writes frames, counts their bytes and stamps the time of the last write', async () => {
    const { stream, bytes, received } = await open();
    const before = Date.now();
    stream.write('data: é\n\n');
    stream.keepAlive(Date.parse('2026-01-01T00:00:00Z'));
    await waitFor(() => received().includes(': ping 2026-01-01T00:00:00.000Z\n\n'), 5000, 'both frames');
    expect(received()).toBe('data: é\n\n: ping 2026-01-01T00:00:00.000Z\n\n');
    expect(bytes[0]).toBe(Buffer.byteLength('data: é\n\n'));
    expect(stream.lastWriteAt).toBeGreaterThanOrEqual(before);
  });

  it('tells its owner once when the client goes away', async () => {
    const { stream, ended, destroyClient } = await open();
    destroyClient();
    await waitFor(() => ended.length > 0, 5000, 'the end hook');
    expect(ended).toEqual([{ cut: undefined }]);
    stream.write('data: late\n\n');
    expect(ended).toHaveLength(1);
  });

  it('close() ends the response without telling the owner; end() tells it once the client has the end', async () => {
    const first = await open();
    first.stream.close();
    await first.clientClosed;
    expect(first.ended).toEqual([]);
    const second = await open();
    second.stream.end('retry: 10\n\n');
    await second.clientClosed;
    await waitFor(() => second.ended.length > 0, 5000, 'the end hook');
    expect(second.received()).toBe('retry: 10\n\n');
    expect(second.ended).toEqual([{ cut: undefined }]);
  });

  it('asks for no wait while the socket has room', async () => {
    const { stream } = await open();
    stream.write('data: small\n\n');
    expect(stream.backPressure()).toBeUndefined();
  });
});
