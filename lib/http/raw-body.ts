// Reads a request body the router parses itself: bounded in bytes (after decompression) and in time.
import type { IncomingMessage } from 'node:http';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Transform } from 'node:stream';
import { closeConnection, problems, type HttpProblem } from './reply.js';

export interface RawBodyLimits {
  /** Bytes accepted, counted on the wire and again after decompression. */
  maxMessageSize: number;
  /** Deadline for the whole body; `0` leaves it to Node's `server.requestTimeout`. */
  bodyTimeoutMs: number;
}

export type RawBody =
  | { ok: true; text: string }
  | { ok: false; problem: HttpProblem }
  /** The client went away before the body arrived: there is no one to answer. */
  | { ok: false; problem: undefined };

/**
 * The `Content-Encoding`s an app-level `express.json()` also decodes, so a body is taken the same way with or
 * without one. Stacked codings (`gzip, br`) are refused: nobody sends them, and each layer multiplies the work.
 */
const decoders: Record<string, () => Transform> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/**
 * Collects the body as UTF-8. Refuses with 413 (and `Connection: close`, so the rest of a large body is never
 * read) once more than `maxMessageSize` bytes arrived or were decompressed, with 408 when the body is not
 * complete within `bodyTimeoutMs`, and with 415 for a `Content-Encoding` it cannot decode.
 */
export function readRawBody(req: IncomingMessage, limits: RawBodyLimits): RawBody | Promise<RawBody> {
  const { maxMessageSize: limit, bodyTimeoutMs } = limits;
  const coding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  const makeDecoder = coding === 'identity' || coding === '' ? undefined : decoders[coding];
  if (coding !== 'identity' && coding !== '' && makeDecoder === undefined) {
    return { ok: false, problem: closeConnection(problems.unsupportedEncoding()) };
  }
  if (makeDecoder === undefined && req.complete && req.readableFlowing !== true) return bufferedBody(req, limit);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let wireBytes = 0;
    let size = 0;
    let settled = false;
    const decoder = makeDecoder?.();
    const timer =
      bodyTimeoutMs > 0
        ? setTimeout(() => finish({ ok: false, problem: closeConnection(problems.bodyTimeout(bodyTimeoutMs)) }), bodyTimeoutMs)
        : undefined;
    timer?.unref();

    const finish = (result: RawBody) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // A body that arrived whole leaves a request that is over, listeners and all (onClose checks `received`):
      // only a body cut short (too large, too slow, undecodable) stops being read here.
      if (!received) {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('close', onClose);
        req.off('error', onClose);
      }
      if (decoder !== undefined) {
        decoder.off('data', onDecoded);
        decoder.off('end', onDecodedEnd);
        decoder.destroy();
      }
      resolve(result);
    };
    const tooLarge = () => finish({ ok: false, problem: closeConnection(problems.tooLarge(limit)) });
    const collect = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return tooLarge();
      chunks.push(chunk);
    };
    const text = () => (chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, size).toString('utf8'));

    const onData = (chunk: Buffer) => {
      wireBytes += chunk.length;
      // Compressed input counts too: a stream of empty deflate blocks decompresses to nothing, forever.
      if (wireBytes > limit) return tooLarge();
      if (decoder === undefined) collect(chunk);
      else decoder.write(chunk);
    };
    let received = false;
    const onEnd = () => {
      received = true;
      if (decoder === undefined) finish({ ok: true, text: text() });
      else decoder.end();
    };
    // Node closes a request once its body was read: only a close before that means the client left.
    const onClose = () => {
      if (!received) finish({ ok: false, problem: undefined });
    };
    const onDecoded = (chunk: Buffer) => collect(chunk);
    const onDecodedEnd = () => finish({ ok: true, text: text() });
    const onDecodeError = () => finish({ ok: false, problem: problems.parseError(`the body is not valid ${coding} data.`) });

    if (decoder !== undefined) {
      decoder.on('data', onDecoded);
      decoder.on('end', onDecodedEnd);
      decoder.on('error', onDecodeError);
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
    req.on('error', onClose);
  });
}

/**
 * The body when all of it is already buffered: middleware before the handler waited for I/O (a rate-limit store
 * over the network, a token introspection), so Node's parser finished the request meanwhile. Read at once, with no
 * listeners, timer or promise; the same limit holds. (Awaits that settle at once do not get here: Node runs the
 * microtasks after the request's head, before it parses a body that came in the same packet.)
 */
function bufferedBody(req: IncomingMessage, limit: number): RawBody {
  if (req.readableLength > limit) return { ok: false, problem: closeConnection(problems.tooLarge(limit)) };
  // Everything buffered, as one chunk (null for an empty body).
  const chunk = req.read() as Buffer | string | null;
  return { ok: true, text: chunk === null ? '' : typeof chunk === 'string' ? chunk : chunk.toString('utf8') };
}
