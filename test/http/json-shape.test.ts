import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { maxJsonDepth, measureJson, nestedDeeperThan } from '../../lib/http/json-shape.js';

const nested = (levels: number): unknown => JSON.parse('['.repeat(levels) + ']'.repeat(levels));

describe('measureJson', () => {
  it('gives the byte length of JSON.stringify for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        expect(measureJson(value, Infinity, Infinity)).toEqual({ ok: true, bytes: Buffer.byteLength(JSON.stringify(value)) });
      }),
      { numRuns: 500 },
    );
  });

  it('counts unicode, escapes and lone surrogates as JSON.stringify writes them', () => {
    const value = { 'ké\ny': ['€', '\u0000', '\ud800', '😀', 'a"b\\c'], n: [-0, 1e21, 0.1, Number.NaN], t: true, f: false, z: null, u: undefined };
    expect(measureJson(value, Infinity)).toEqual({ ok: true, bytes: Buffer.byteLength(JSON.stringify(value)) });
  });

  it('stops at the byte budget: exactly at it passes, one byte over is refused', () => {
    const value = { jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(1000) } };
    const bytes = Buffer.byteLength(JSON.stringify(value));
    expect(measureJson(value, bytes)).toEqual({ ok: true, bytes });
    expect(measureJson(value, bytes - 1)).toEqual({ ok: false, over: 'size' });
    // A huge array is refused from its length alone, before any element is visited.
    expect(measureJson(new Array(10_000_000).fill(0), 64 * 1024)).toEqual({ ok: false, over: 'size' });
  });

  it(`allows ${maxJsonDepth} nested containers and refuses one more, without recursion`, () => {
    expect(measureJson(nested(maxJsonDepth), Infinity).ok).toBe(true);
    expect(measureJson(nested(maxJsonDepth + 1), Infinity)).toEqual({ ok: false, over: 'depth' });
    expect(measureJson(nested(1_000_000), Infinity)).toEqual({ ok: false, over: 'depth' });
  });

  it('refuses what JSON.stringify would throw on, without throwing', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(measureJson(cyclic, Infinity)).toEqual({ ok: false, over: 'depth' });
    expect(measureJson({ id: 10n }, Infinity)).toEqual({ ok: false, over: 'type' });
  });
});

describe('nestedDeeperThan', () => {
  it(`agrees with measureJson on depth for any JSON value, and takes ${maxJsonDepth} levels but not one more`, () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 8 }), (value, maxDepth) => {
        const measured = measureJson(value, Infinity, maxDepth);
        expect(nestedDeeperThan(value, maxDepth)).toBe(!measured.ok && measured.over === 'depth');
      }),
      { numRuns: 500 },
    );
    expect(nestedDeeperThan(nested(maxJsonDepth))).toBe(false);
    expect(nestedDeeperThan(nested(maxJsonDepth + 1))).toBe(true);
    expect(nestedDeeperThan(nested(1_000_000))).toBe(true);
  });
});
