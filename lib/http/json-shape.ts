// Measures a parsed JSON value without serialising it: its size as compact JSON and its nesting depth, both bounded.

/** Containers nested deeper than this are refused: JSON.stringify overflows the stack a few thousand levels down. */
export const maxJsonDepth = 128;

/** `size`: more than `maxBytes`; `depth`: nested deeper than `maxDepth`; `type`: a value JSON cannot hold. */
export type JsonShapeProblem = 'size' | 'depth' | 'type';

export type JsonShape = { ok: true; bytes: number } | { ok: false; over: JsonShapeProblem };

/**
 * The byte length of `JSON.stringify(value)`, computed without building the string and without recursion (a body
 * 40,000 levels deep would overflow the stack), stopping as soon as the value is known to pass `maxBytes` or
 * `maxDepth`. The cost is bounded by `maxBytes`, however large the value is. Never throws on JSON values; a getter
 * or proxy that throws is the caller's to catch.
 */
export function measureJson(value: unknown, maxBytes: number, maxDepth: number = maxJsonDepth): JsonShape {
  const values: unknown[] = [value];
  const depths: number[] = [0];
  let bytes = 0;
  while (values.length > 0) {
    const item = values.pop();
    const depth = depths.pop()!;
    switch (typeof item) {
      case 'string':
        // Every UTF-16 unit takes at least one byte: a string too long for the budget is refused before encoding it.
        if (bytes + item.length + 2 > maxBytes) return { ok: false, over: 'size' };
        bytes += stringBytes(item);
        break;
      case 'number':
        bytes += Number.isFinite(item) ? String(item).length : 4;
        break;
      case 'boolean':
        bytes += item ? 4 : 5;
        break;
      case 'object': {
        if (item === null) {
          bytes += 4;
          break;
        }
        if (depth >= maxDepth) return { ok: false, over: 'depth' };
        if (Array.isArray(item)) {
          const length = item.length;
          // Brackets and commas now; each element adds at least one byte when measured.
          bytes += 2 + Math.max(length - 1, 0);
          if (bytes + length > maxBytes) return { ok: false, over: 'size' };
          for (let i = length - 1; i >= 0; i--) {
            values.push(item[i]);
            depths.push(depth + 1);
          }
          break;
        }
        bytes += 2;
        let members = 0;
        for (const key in item) {
          if (!Object.hasOwn(item, key)) continue;
          const member = (item as Record<string, unknown>)[key];
          if (member === undefined || typeof member === 'function' || typeof member === 'symbol') continue;
          // "key": and a comma before every member but the first.
          bytes += stringBytes(key) + 1 + (members > 0 ? 1 : 0);
          members++;
          if (bytes > maxBytes) return { ok: false, over: 'size' };
          values.push(member);
          depths.push(depth + 1);
        }
        break;
      }
      case 'undefined':
      case 'function':
      case 'symbol':
        // Only reachable as array elements (object members were skipped above) or the top value: JSON writes null.
        bytes += 4;
        break;
      default:
        // bigint: JSON.stringify would throw.
        return { ok: false, over: 'type' };
    }
    if (bytes > maxBytes) return { ok: false, over: 'size' };
  }
  return { ok: true, bytes };
}

/**
 * True when `value` nests containers deeper than `maxDepth`: the check for bodies whose size is already known.
 * Visits containers only, without recursion.
 */
export function nestedDeeperThan(value: unknown, maxDepth: number = maxJsonDepth): boolean {
  const containers: object[] = [];
  const depths: number[] = [];
  if (typeof value === 'object' && value !== null) {
    containers.push(value);
    depths.push(0);
  }
  while (containers.length > 0) {
    const container = containers.pop()!;
    const depth = depths.pop()!;
    if (depth >= maxDepth) return true;
    const members = Array.isArray(container) ? container : Object.values(container);
    for (const member of members) {
      if (typeof member === 'object' && member !== null) {
        containers.push(member);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

/** Printable ASCII but the quote and the backslash: JSON writes such a string as is, between quotes. */
const plainString = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function stringBytes(text: string): number {
  return plainString.test(text) ? text.length + 2 : Buffer.byteLength(JSON.stringify(text));
}
