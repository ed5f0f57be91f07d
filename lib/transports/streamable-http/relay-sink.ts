// The relaying instance's side of a relay: the client's response, written from the owner's answer as it arrives.
import type { ServerResponse } from 'node:http';
import type { RelayFailure, RelaySink } from '../../bus.js';
import { problems, replyError } from '../../http/reply.js';

/**
 * Writes an answer relayed from the session's owner to the client's response. A client that stops reading is cut
 * once the backlog passes `maxBufferedBytes` (the owner hears of it through the handle). An answer that ends or
 * fails before its head answers a 503 error envelope, never a bare `200`.
 */
export function sinkFor(
  res: ServerResponse,
  maxBufferedBytes: number,
  id: string | number | undefined,
  /** Durable sessions: true when an owner that vanished before answering anything is to be tried again (adopted). */
  lost?: () => boolean,
): RelaySink {
  let streaming = false;
  let unflushed = false;
  const fail = (reason: RelayFailure): void => {
    if (res.destroyed || res.writableEnded) return;
    if (!res.headersSent && reason === 'bus_unavailable' && lost?.() === true) return;
    if (!res.headersSent) return replyError(res, reason === 'shutting_down' ? problems.draining() : problems.busUnavailable(), id);
    // A stream ends (its client resumes with Last-Event-ID); a JSON body cut short would look whole: drop it.
    if (streaming) res.end();
    else res.destroy();
  };
  return {
    head: (status, headers) => {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(status, headers);
      if (headers['Content-Type'] !== 'text/event-stream') return;
      streaming = true;
      res.socket?.setNoDelay(true);
      res.setTimeout(0);
      // Node sends a head with the first write: a stream with nothing to write yet (a standalone GET before
      // 2025-11-25) must flush it, or its client waits for the first event. Pieces of one batch go in one packet.
      unflushed = true;
      queueMicrotask(() => {
        if (unflushed && !res.destroyed && !res.writableEnded) res.flushHeaders();
        unflushed = false;
      });
    },
    write: (chunk) => {
      unflushed = false;
      if (res.destroyed || res.writableEnded) return;
      res.write(chunk);
      (res as ServerResponse & { flush?: () => void }).flush?.();
      if (res.writableLength > maxBufferedBytes) res.destroy();
    },
    end: (chunk) => {
      if (res.destroyed || res.writableEnded) return;
      if (!res.headersSent) return fail('bus_unavailable');
      res.end(chunk);
    },
    fail,
  };
}
