// Random keys for event ids, drawn from a pooled buffer: one CSPRNG fill serves many sessions.
import { randomFillSync } from 'node:crypto';

/** 16 random bytes per key; 256 keys per fill (what `randomUUID()` does for its own ids). */
const keyBytes = 16;
const pool = Buffer.alloc(keyBytes * 256);
let offset = pool.length;

/**
 * 16 random bytes as base64url (22 characters), as `randomBytes(16).toString('base64url')` gives, without a call
 * into OpenSSL (and its fork check, a `getpid()` syscall) for every session opened. Each key is used once.
 */
export function randomKey(): string {
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const key = pool.toString('base64url', offset, offset + keyBytes);
  offset += keyBytes;
  return key;
}
