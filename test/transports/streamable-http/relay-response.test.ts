// RelayResponse (lib/transports/streamable-http/relay-response.ts): what the owner's transport writes for a relayed
// request reaches the sink in order, ends once, and closes like a real response.
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { RelaySink } from '../../../lib/bus.js';
import { RelayResponse } from '../../../lib/transports/streamable-http/relay-response.js';

function recordingSink(): RelaySink & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    head: (status, headers) => void calls.push(`head ${status} ${JSON.stringify(headers)}`),
    write: (chunk) => void calls.push(`write ${chunk}`),
    end: (chunk) => void calls.push(chunk === undefined ? 'end' : `end ${chunk}`),
  };
}

describe('RelayResponse', () => {
  it('passes head, frames and the last frame to the sink, at once and in order, then closes a tick later', async () => {
    const sink = recordingSink();
    const res = new RelayResponse(sink);
    const closed = once(res, 'close');
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'X-Many': ['a', 'b'], 'Content-Length': 3 });
    expect(res.headersSent).toBe(true);
    expect(res.write('one')).toBe(true);
    res.write(Buffer.from('two'));
    res.end('three');
    expect(sink.calls).toEqual([
      'head 200 {"Content-Type":"text/event-stream","X-Many":"a, b","Content-Length":"3"}',
      'write one',
      'write two',
      'end three',
    ]);
    expect(res.writableEnded).toBe(true);
    let closedYet = false;
    void closed.then(() => (closedYet = true));
    await Promise.resolve();
    expect(closedYet).toBe(false);
    await closed;
  });

  it('sends the implicit head of a real response when the status was set and end() or write() came first', () => {
    const ended = recordingSink();
    const noContent = new RelayResponse(ended);
    noContent.statusCode = 202;
    noContent.end();
    expect(ended.calls).toEqual(['head 202 {"Content-Length":"0"}', 'end']);
    const withBody = recordingSink();
    const accepted = new RelayResponse(withBody);
    accepted.statusCode = 202;
    accepted.end('Accepted');
    expect(withBody.calls).toEqual(['head 202 {"Content-Length":"8"}', 'end Accepted']);
    const written = recordingSink();
    const stream = new RelayResponse(written);
    stream.write('data');
    expect(written.calls).toEqual(['head 200 {}', 'write data']);
  });

  it('keeps the first head, and drops what is written after the end instead of throwing', () => {
    const sink = recordingSink();
    const res = new RelayResponse(sink);
    res.writeHead(202, {}).writeHead(500, {});
    res.end();
    expect(res.write('late')).toBe(false);
    res.end('later');
    res.destroy();
    expect(sink.calls).toEqual(['head 202 {}', 'end']);
  });

  it('ends the relay once when destroyed (the client left), and emits close', async () => {
    const sink = recordingSink();
    const res = new RelayResponse(sink);
    res.writeHead(200, {});
    res.write('frame');
    const closed = once(res, 'close');
    res.destroy();
    res.destroy();
    expect(res.destroyed).toBe(true);
    expect(res.write('after')).toBe(false);
    await closed;
    expect(sink.calls).toEqual(['head 200 {}', 'write frame', 'end']);
  });

  it("flattens a session's frozen stream headers once, into a frozen object every response shares", () => {
    const heads: Record<string, string>[] = [];
    const sink = { ...recordingSink(), head: (_status: number, headers: Record<string, string>) => void heads.push(headers) };
    const shared = Object.freeze({ 'Content-Type': 'text/event-stream', 'Mcp-Session-Id': 's1' });
    new RelayResponse(sink).writeHead(200, shared);
    new RelayResponse(sink).writeHead(200, shared);
    new RelayResponse(sink).writeHead(200, { ...shared });
    expect(heads[0]).toEqual(shared);
    expect(heads[1]).toBe(heads[0]);
    expect(Object.isFrozen(heads[0])).toBe(true);
    expect(heads[2]).not.toBe(heads[0]);
    expect(heads[2]).toEqual(shared);
  });

  it('never reports back-pressure: the instance holding the client applies it', () => {
    const res = new RelayResponse(recordingSink());
    expect(res.writableLength).toBe(0);
    expect(res.writableNeedDrain).toBe(false);
    expect(res.asServerResponse()).toBe(res);
  });
});
