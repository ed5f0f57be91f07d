import { describe, expect, it } from 'vitest';
import { formatComment, formatEvent, formatMessage, formatRetry, sseHeaders } from '../../lib/sse/format.js';

describe('SSE framing', () => {
  it('frames a message event on one data line', () => {
    expect(formatMessage('k.1', '{"jsonrpc":"2.0","method":"x"}')).toBe('event: message\nid: k.1\ndata: {"jsonrpc":"2.0","method":"x"}\n\n');
  });

  it('splits string data at every kind of line break', () => {
    expect(formatEvent('note', 'a\nb\r\nc\rd', 'k.2')).toBe('event: note\nid: k.2\ndata: a\ndata: b\ndata: c\ndata: d\n\n');
  });

  it('JSON-encodes non-string data', () => {
    expect(formatEvent('obj', { a: 'x\ny' }, undefined)).toBe('event: obj\ndata: {"a":"x\\ny"}\n\n');
    expect(formatEvent('n', 42, 'i')).toBe('event: n\nid: i\ndata: 42\n\n');
  });

  it('rejects CR or LF in event and id', () => {
    expect(() => formatEvent('a\nb', 'x', undefined)).toThrow(TypeError);
    expect(() => formatEvent('ok', 'x', 'id\r')).toThrow(/must not contain CR or LF/);
  });

  it('writes retry hints and comments that cannot break frames', () => {
    expect(formatRetry(5000)).toBe('retry: 5000\n\n');
    expect(formatComment('ping\nevent: fake')).toBe(': ping event: fake\n\n');
  });

  it('has frozen headers with the values DESIGN.md fixes', () => {
    expect(Object.isFrozen(sseHeaders)).toBe(true);
    expect(sseHeaders).toEqual({
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
  });
});
