import { describe, expect, it } from 'vitest';
import { randomKey } from '../../lib/session/random-key.js';

describe('randomKey', () => {
  it('gives 16 random bytes as base64url, a new key every time, across pool refills', () => {
    const keys = Array.from({ length: 1000 }, () => randomKey());
    for (const key of keys) {
      expect(key).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(Buffer.from(key, 'base64url')).toHaveLength(16);
    }
    expect(new Set(keys).size).toBe(keys.length);
  });
});
