import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { readRawBody } from '../../lib/http/raw-body.js';

/** A request whose body Node's parser has already finished (what a handler sees after an async middleware). */
function completeRequest(chunks: string[], headers: Record<string, string> = {}): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.headers = headers;
  for (const chunk of chunks) req.push(Buffer.from(chunk));
  req.push(null);
  req.complete = true;
  return req;
}

const limits = { maxMessageSize: 64, bodyTimeoutMs: 1000 };

describe('readRawBody on a body already buffered', () => {
  it('takes all of it at once, as one string', async () => {
    const req = completeRequest(['{"jsonrpc":', '"2.0","id":1,"method":"pi', 'ng"}']);
    const body = readRawBody(req, limits);
    expect(body).not.toBeInstanceOf(Promise);
    expect(await body).toEqual({ ok: true, text: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
  });

  it('gives an empty text for an empty body', async () => {
    expect(await readRawBody(completeRequest([]), limits)).toEqual({ ok: true, text: '' });
  });

  it('refuses more than maxMessageSize bytes with 413, closing the connection', async () => {
    const body = await readRawBody(completeRequest(['x'.repeat(40), 'y'.repeat(40)]), limits);
    expect(body.ok).toBe(false);
    expect(!body.ok && body.problem?.status).toBe(413);
    expect(!body.ok && body.problem?.headers).toMatchObject({ Connection: 'close' });
  });

  it('still decodes a compressed body through its stream', async () => {
    const { gzipSync } = await import('node:zlib');
    const req = new IncomingMessage(new Socket());
    req.headers = { 'content-encoding': 'gzip' };
    req.push(gzipSync('{"a":1}'));
    req.push(null);
    req.complete = true;
    const body = readRawBody(req, limits);
    expect(body).toBeInstanceOf(Promise);
    expect(await body).toEqual({ ok: true, text: '{"a":1}' });
  });
});
