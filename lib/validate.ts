// Generic validators of option values: each returns the value (or its default) or throws a TypeError naming the option.
import { optionError } from './errors.js';

/** The longest delay `setTimeout` takes; a longer one fires at once. */
export const maxTimerMs = 2 ** 31 - 1;

export function timerMs(name: string, value: number | undefined, fallback: number): number {
  const ms = nonNegativeInt(name, value, fallback);
  if (ms > maxTimerMs) throw optionError(`Option "${name}" must be at most ${maxTimerMs} ms (about 24.8 days), got ${describeValue(value)}.`);
  return ms;
}

export function path(name: string, value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/.test(value)) {
    throw optionError(`Option "${name}" must be a path starting with "/", got ${describeValue(value)}.`);
  }
  return value;
}

export function nonNegativeInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) throw optionError(`Option "${name}" must be an integer >= 0, got ${describeValue(value)}.`);
  return value;
}

export function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw optionError(`Option "${name}" must be an integer >= 1, got ${describeValue(value)}.`);
  return value;
}

export function limit(name: string, value: number | undefined): number {
  if (value === undefined || value === Infinity) return Infinity;
  if (!Number.isSafeInteger(value) || value < 1)
    throw optionError(`Option "${name}" must be an integer >= 1 or Infinity, got ${describeValue(value)}.`);
  return value;
}

const sizeUnits: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

export function size(name: string, value: number | string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number') return positiveInt(name, value, fallback);
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(value) : null;
  const bytes = match ? Math.floor(Number(match[1]) * sizeUnits[(match[2] ?? 'b').toLowerCase()]!) : NaN;
  if (!(bytes >= 1)) throw optionError(`Option "${name}" must be a byte count or a size like "4mb", got ${describeValue(value)}.`);
  return bytes;
}

export function boolean(name: string, value: boolean | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw optionError(`Option "${name}" must be true or false, got ${describeValue(value)}.`);
  return value;
}

export function stringList(name: string, value: string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) {
    throw optionError(`Option "${name}" must be an array of non-empty strings, got ${describeValue(value)}.`);
  }
  return [...value];
}

export function plainObjectOrFalse(name: string, value: unknown, fallback: false): object | false {
  if (value === undefined) return fallback;
  if (value === false) return false;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw optionError(`Option "${name}" must be an options object or false, got ${describeValue(value)}.`);
  }
  return value;
}

export function optionalFunction(name: string, value: unknown): unknown {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw optionError(`Option "${name}" must be a function, got ${describeValue(value)}.`);
  return value;
}

/** A short description of a bad option value for error messages. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** Integer option with a lower bound, in milliseconds (`directoryTtlMs`, `forwardTimeoutMs`). */
export function intAtLeast(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw optionError(`Option "${name}" must be an integer >= ${min} (milliseconds), got ${describeValue(value)}.`);
  }
  return value;
}
