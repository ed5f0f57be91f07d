// Loads `jose` on first use. It is ESM-only: a dynamic import keeps the CommonJS build working on every Node 20
// (no require() of ES modules), and apps that never check an OAuth token never load it.
import type * as Jose from 'jose';

let loading: Promise<typeof Jose> | undefined;

export function loadJose(): Promise<typeof Jose> {
  loading ??= import('jose');
  return loading;
}
