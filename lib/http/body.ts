// Reads and validates a POSTed JSON-RPC body, raw or already parsed by an app-level express.json().
import type { IncomingMessage } from 'node:http';
import type { JSONRPCMessage } from '../types.js';
import { problems, type HttpProblem } from './reply.js';

type Id = string | number | null;

export type BodyResult =
  | { ok: true; messages: JSONRPCMessage[]; bytes: number }
  | { ok: false; problem: HttpProblem; id: Id }
  /** The client went away before the body arrived: there is no one to answer. */
  | { ok: false; problem: undefined; id: null };

interface ParsedRequest extends IncomingMessage {
  body?: unknown;
  _body?: boolean;
}

/** True for `application/json` and `application/*+json`, with any parameters. */
export function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const semicolon = value.indexOf(';');
  const type = (semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

/** Reads the body (at most `limit` bytes) and checks it is one JSON-RPC message or a non-empty batch. */
export async function readMessages(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const parsedReq = req as ParsedRequest;
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return fail(problems.tooLarge(limit));
  // An app-level body parser got there first: use its result, still enforcing our size limit.
  if (parsedReq._body === true || req.readableEnded) {
    const body = parsedReq.body;
    if (typeof body === 'string' || Buffer.isBuffer(body)) return parse(body.toString(), limit);
    if (body === undefined || body === null) return fail(problems.parseError('the request body was consumed before the router saw it.'));
    const bytes = Number.isFinite(declared) ? declared : Buffer.byteLength(JSON.stringify(body));
    if (bytes > limit) return fail(problems.tooLarge(limit));
    return validate(body, bytes);
  }
  const raw = await readRaw(req, limit);
  if (typeof raw !== 'string') return raw;
  return parse(raw, limit);
}

function parse(text: string, limit: number): BodyResult {
  const bytes = Buffer.byteLength(text);
  if (bytes > limit) return fail(problems.tooLarge(limit));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return fail(problems.parseError((error as Error).message));
  }
  return validate(value, bytes);
}

function validate(value: unknown, bytes: number): BodyResult {
  if (Array.isArray(value)) {
    if (value.length === 0) return fail(problems.invalidRequest('a batch must not be empty.'));
    for (const item of value) {
      const problem = checkMessage(item);
      if (problem !== undefined) return fail(problems.invalidRequest(problem), idOf(item));
    }
    return { ok: true, messages: value as JSONRPCMessage[], bytes };
  }
  const problem = checkMessage(value);
  if (problem !== undefined) return fail(problems.invalidRequest(problem), idOf(value));
  return { ok: true, messages: [value as JSONRPCMessage], bytes };
}

/** What is wrong with a message, or `undefined` when it is a well-formed JSON-RPC 2.0 message. */
function checkMessage(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected a JSON object.';
  const message = value as Record<string, unknown>;
  if (message.jsonrpc !== '2.0') return '"jsonrpc" must be "2.0".';
  const hasId = 'id' in message;
  if (hasId && !isId(message.id)) return '"id" must be a string or a number.';
  if ('method' in message) {
    if (typeof message.method !== 'string' || message.method === '') return '"method" must be a non-empty string.';
    if ('params' in message && (typeof message.params !== 'object' || message.params === null)) return '"params" must be an object or an array.';
    return undefined;
  }
  if (!hasId) return 'a message needs "method" (request or notification) or "id" (response).';
  const hasResult = 'result' in message;
  const hasError = 'error' in message;
  if (hasResult === hasError) return 'a response needs exactly one of "result" and "error".';
  if (hasError) {
    const error = message.error as Record<string, unknown> | null;
    if (typeof error !== 'object' || error === null || !Number.isInteger(error.code) || typeof error.message !== 'string') {
      return '"error" must be { code: integer, message: string }.';
    }
  }
  return undefined;
}

function isId(value: unknown): value is string | number {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

function idOf(value: unknown): Id {
  if (typeof value !== 'object' || value === null) return null;
  const id = (value as Record<string, unknown>).id;
  return isId(id) ? id : null;
}

function fail(problem: HttpProblem, id: Id = null): BodyResult {
  return { ok: false, problem, id };
}

/** Collects the raw body as UTF-8, stopping at `limit` bytes. */
function readRaw(req: IncomingMessage, limit: number): Promise<string | BodyResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: string | BodyResult) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      req.off('error', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Stop buffering but let the rest drain, so the 413 reaches the client.
        req.resume();
        finish(fail(problems.tooLarge(limit)));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, size).toString('utf8'));
    const onClose = () => finish({ ok: false, problem: undefined, id: null });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
    req.on('error', onClose);
  });
}
