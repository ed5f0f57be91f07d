// Event ids of this package: `<session key>.<seq>` on a session's main stream, `<session key>.<stream>.<seq>` on others.

/** Where an event id points: a session (by its random key), one of its streams, and a sequence number. */
export interface EventPosition {
  key: string;
  stream: number;
  seq: number;
}

/** The id of event `seq` on `stream`; stream `0` (the SSE stream, or the standalone GET stream) has no stream part. */
export function formatEventId(key: string, stream: number, seq: number): string {
  return stream === 0 ? `${key}.${seq}` : `${key}.${stream}.${seq}`;
}

const decimal = /^(0|[1-9][0-9]*)$/;

/** Parses an id as this package writes them, or `undefined` for anything else (ids are client input). */
export function parseEventId(id: string): EventPosition | undefined {
  const parts = id.split('.');
  if (parts.length !== 2 && parts.length !== 3) return undefined;
  const key = parts[0]!;
  if (key === '') return undefined;
  // Plain decimal digits only: Number() would also take '', ' 5', '0x10', '1e3'.
  const numbers = parts.slice(1).map((part) => (decimal.test(part) ? Number(part) : NaN));
  if (!numbers.every(Number.isSafeInteger)) return undefined;
  return parts.length === 2 ? { key, stream: 0, seq: numbers[0]! } : { key, stream: numbers[0]!, seq: numbers[1]! };
}
