// The protocol versions of the Streamable HTTP endpoint: which ones sessions speak, and what sets the eras apart.

/** Versions a session client may name in `MCP-Protocol-Version` (the SDK's list), newest first. */
export const sessionProtocolVersions = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07'] as const;

/** What a request without `MCP-Protocol-Version` is taken to speak (the spec's rule). */
export const defaultProtocolVersion = '2025-03-26';

/** The first version whose clients take priming events (empty data) and resume POST streams. */
const pollingVersion = '2025-11-25';

const dateForm = /^\d{4}-\d{2}-\d{2}$/;

/**
 * True when a client at `version` takes priming events: 2025-11-25 or later. Versions are dates; anything else
 * (client input such as `"9999"` or `"2025-11-25-beta"`) is not a version that primes.
 */
export function primesStreams(version: string): boolean {
  return dateForm.test(version) && version >= pollingVersion;
}

export function isSessionVersion(version: string): boolean {
  return (sessionProtocolVersions as readonly string[]).includes(version);
}

/** A protocol version after the session ones, in date form: the stateless era (2026-07-28 and later). */
export function isStatelessVersion(version: string | string[] | undefined): boolean {
  return typeof version === 'string' && dateForm.test(version) && version > sessionProtocolVersions[0];
}
