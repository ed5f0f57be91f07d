// What the Redis bus stores and publishes: names and encodings round-trip, malformed input is rejected.
import { describe, expect, it } from 'vitest';
import {
  broadcastChannel,
  decodeBroadcast,
  decodeEntry,
  decodeInstanceMessage,
  encodeAck,
  encodeBroadcast,
  encodeDeliver,
  encodeEnvelope,
  encodeEntry,
  encodeRelay,
  encodeRelayBatch,
  instanceChannel,
  openEnvelope,
  sessionKey,
} from '../../lib/redis/protocol.js';

describe('Redis bus protocol', () => {
  it('names keys and channels under the prefix', () => {
    expect(sessionKey('p', 's1')).toBe('p:session:s1');
    expect(instanceChannel('p', 'host:1:ab')).toBe('p:instance:host:1:ab');
    expect(broadcastChannel('p')).toBe('p:broadcast');
  });

  it('round-trips directory entries, with and without a principal', () => {
    expect(decodeEntry(encodeEntry({ instanceId: 'A', principalId: 'alice' }))).toEqual({ instanceId: 'A', principalId: 'alice' });
    expect(encodeEntry({ instanceId: 'A', principalId: undefined })).toBe('{"i":"A"}');
    expect(decodeEntry('{"i":"A"}')).toEqual({ instanceId: 'A', principalId: undefined });
    for (const bad of ['', 'nope', '[]', '{"i":1}', '{"i":"A","p":2}', 'null']) expect(decodeEntry(bad)).toBeUndefined();
  });

  it('says in the directory entry that its instance reads envelopes; entries from before them do not', () => {
    expect(encodeEntry({ instanceId: 'A', principalId: 'alice', envelopes: true })).toBe('{"i":"A","p":"alice","e":1}');
    expect(decodeEntry('{"i":"A","p":"alice","e":1}')).toEqual({ instanceId: 'A', principalId: 'alice', envelopes: true });
    expect(decodeEntry('{"i":"A","p":"alice"}')?.envelopes).toBeUndefined();
  });

  it('packs several messages in one envelope and opens it again; one message travels bare', () => {
    const messages = ['{"type":"ack","id":"1","result":"accepted"}', '\u00029:x\nid: 1\ndata: {"é":"\\n"}\n\n', '', '\u0001x\ny'];
    const envelope = encodeEnvelope(messages);
    expect(envelope.startsWith('\u0003')).toBe(true);
    expect(openEnvelope(envelope)).toEqual(messages);
    // Through Redis the string is UTF-8 bytes and back: the lengths, in UTF-16 code units, still hold.
    expect(openEnvelope(Buffer.from(envelope).toString())).toEqual(messages);
    expect(encodeEnvelope(['only'])).toBe('only');
    expect(openEnvelope('only')).toEqual(['only']);
    for (const bad of ['\u0003x', '\u00035:abc', '\u0003:abc', '\u0003-1:', '\u00031.5:ab']) expect(openEnvelope(bad)).toBeUndefined();
  });

  it('round-trips deliveries with messages, principal, auth info and headers', () => {
    const delivery = {
      messages: [{ jsonrpc: '2.0' as const, id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'é\n"' } } }],
      principalId: 'alice',
      authInfo: { token: 't', clientId: 'alice', scopes: ['a'] },
      headers: { 'user-agent': 'x', 'x-multi': ['1', '2'] },
    };
    expect(decodeInstanceMessage(encodeDeliver('7', 'B', 's1', delivery))).toEqual({
      type: 'deliver',
      id: '7',
      reply: 'B',
      sessionId: 's1',
      delivery,
      envelopes: true,
    });
    const anonymous = decodeInstanceMessage(encodeDeliver('8', 'B', 's1', { messages: [], principalId: undefined, authInfo: undefined }));
    expect(anonymous).toEqual({
      type: 'deliver',
      id: '8',
      reply: 'B',
      sessionId: 's1',
      delivery: { messages: [], principalId: undefined, authInfo: undefined },
      envelopes: true,
    });
  });

  it('gives OAuth auth info its resource back as a URL', () => {
    const authInfo = {
      token: 't',
      clientId: 'c',
      scopes: [],
      resource: new URL('https://api.example.com/mcp'),
      extra: { issuer: 'https://auth.example.com' },
    };
    const decoded = decodeInstanceMessage(encodeDeliver('7', 'B', 's1', { messages: [], principalId: 'alice', authInfo }));
    const revived = decoded?.type === 'deliver' ? decoded.delivery.authInfo : undefined;
    expect(revived?.resource).toBeInstanceOf(URL);
    expect(revived).toEqual(authInfo);
  });

  it('round-trips acks and rejects malformed messages', () => {
    expect(decodeInstanceMessage(encodeAck('9', 'forbidden'))).toEqual({ type: 'ack', id: '9', result: 'forbidden' });
    for (const bad of [
      'x',
      '{}',
      '{"type":"ack","id":"1","result":"maybe"}',
      '{"type":"ack","id":1,"result":"accepted"}',
      '{"type":"deliver","id":"1","reply":"B","sessionId":"s"}',
      '{"type":"deliver","id":"1","reply":"B","sessionId":"s","delivery":{"messages":{}}}',
      '{"type":"deliver","id":"1","reply":"B","sessionId":"s","delivery":{"messages":[],"principalId":5}}',
      '{"type":"other","id":"1"}',
    ])
      expect(decodeInstanceMessage(bad)).toBeUndefined();
  });

  it('frames broadcasts as sender, newline, notification', () => {
    const json = '{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"a\\nb"}}';
    expect(decodeBroadcast(encodeBroadcast('A', json))).toEqual({ from: 'A', json });
    expect(decodeBroadcast('no newline')).toBeUndefined();
    expect(decodeBroadcast('\n{}')).toBeUndefined();
  });

  it('round-trips relay batches: acknowledgement, head, raw frames and end, and rejects malformed ones', () => {
    const data = `id: 1\ndata: {"a":"é\\n\\"x"}\n\n`;
    const full = { id: '9', result: 'accepted' as const, head: { status: 200, headers: { 'Content-Type': 'text/event-stream' } }, data, end: true };
    const encoded = encodeRelayBatch(full);
    expect(encoded.endsWith(`\n${data}`)).toBe(true);
    expect(decodeInstanceMessage(encoded)).toEqual({ type: 'batch', ...full });
    expect(decodeInstanceMessage(encodeRelayBatch({ id: '9', data: 'more', end: false }))).toEqual({
      type: 'batch',
      id: '9',
      data: 'more',
      end: false,
    });
    expect(decodeInstanceMessage(encodeRelayBatch({ id: '9', result: 'unknown', data: '', end: false }))).toEqual({
      type: 'batch',
      id: '9',
      result: 'unknown',
      data: '',
      end: false,
    });
    for (const bad of [
      '\u0002',
      '\u0002{}\n',
      '\u0002{"i":"1","r":"maybe"}\n',
      '\u0002{"i":"1","s":"200","h":{}}\n',
      '\u0002{"i":"1","s":200,"h":{"a":1}}\n',
    ]) {
      expect(decodeInstanceMessage(bad)).toBeUndefined();
    }
  });

  it('writes batch headers exactly as JSON.stringify did (instances from before read them), frozen head headers or not', () => {
    const headers = { 'Content-Type': 'text/event-stream', 'X-Quote': 'a"b\\c' };
    const encodedBefore = (b: {
      id: string;
      result?: string;
      head?: { status: number; headers: Record<string, string> };
      data: string;
      end: boolean;
    }) => {
      const h: Record<string, unknown> = { i: b.id };
      if (b.result !== undefined) h.r = b.result;
      if (b.head !== undefined) {
        h.s = b.head.status;
        h.h = b.head.headers;
      }
      if (b.end) h.e = 1;
      return `\u0002${JSON.stringify(h)}\n${b.data}`;
    };
    for (const head of [{ status: 200, headers }, { status: 404, headers: Object.freeze({ ...headers }) }, undefined]) {
      for (const batch of [
        { id: '7"x', result: 'accepted' as const, head, data: 'frames', end: true },
        { id: '8', head, data: '', end: false },
      ]) {
        expect(encodeRelayBatch(batch)).toBe(encodedBefore(batch));
        expect(encodeRelayBatch(batch)).toBe(encodedBefore(batch)); // the second time from the cache, for frozen headers
      }
    }
  });

  it('marks relayed requests as read by an instance that takes batches; messages without the mark do not', () => {
    const request = {
      method: 'GET' as const,
      messages: [],
      bytes: 0,
      principalId: undefined,
      authInfo: undefined,
      headers: { accept: 'text/event-stream' },
    };
    expect(decodeInstanceMessage(encodeRelay('3', 'B', 's1', request))).toMatchObject({
      type: 'relay',
      id: '3',
      reply: 'B',
      batches: true,
      envelopes: true,
    });
    const before = JSON.stringify({ type: 'relay', id: '3', reply: 'B', sessionId: 's1', request });
    expect(decodeInstanceMessage(before)).toMatchObject({ type: 'relay', batches: false, envelopes: false });
    const batchesOnly = JSON.stringify({ type: 'relay', id: '3', reply: 'B', sessionId: 's1', request, b: 1 });
    expect(decodeInstanceMessage(batchesOnly)).toMatchObject({ type: 'relay', batches: true, envelopes: false });
    const deliverBefore = JSON.stringify({ type: 'deliver', id: '3', reply: 'B', sessionId: 's1', delivery: { messages: [] } });
    expect(decodeInstanceMessage(deliverBefore)).toMatchObject({ type: 'deliver', envelopes: false });
  });
});
