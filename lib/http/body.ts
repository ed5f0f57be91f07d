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

/**
 * What is wrong with a message, or `undefined` when it is one the MCP SDKs accept (their `JSONRPCMessageSchema`:
 * integer or string ids, object params and results, no other members). A server drops a message it cannot classify
 * without answering, so a request it never answers would hold its POST stream, and its session, forever.
 */
function checkMessage(value: unknown): string | undefined {
  if (!isObject(value)) return 'expected a JSON object.';
  const message = value;
  if (message.jsonrpc !== '2.0') return '"jsonrpc" must be "2.0".';
  const hasId = 'id' in message;
  if (hasId && !(typeof message.id === 'string' || Number.isSafeInteger(message.id))) return '"id" must be a string or an integer.';
  if ('method' in message) {
    if (typeof message.method !== 'string' || message.method === '') return '"method" must be a non-empty string.';
    if ('params' in message) {
      const problem = checkObjectWithMeta(message.params, 'params');
      if (problem !== undefined) return problem;
    }
    return unexpectedMember(message, hasId ? requestMembers : notificationMembers);
  }
  if (!hasId) return 'a message needs "method" (request or notification) or "id" (response).';
  const hasResult = 'result' in message;
  const hasError = 'error' in message;
  if (hasResult === hasError) return 'a response needs exactly one of "result" and "error".';
  if (hasResult) return checkObjectWithMeta(message.result, 'result') ?? unexpectedMember(message, resultMembers);
  const error = message.error;
  if (!isObject(error) || !Number.isSafeInteger(error.code) || typeof error.message !== 'string') {
    return '"error" must be { code: integer, message: string }.';
  }
  return unexpectedMember(message, errorMembers);
}

const requestMembers = new Set(['jsonrpc', 'id', 'method', 'params']);
const notificationMembers = new Set(['jsonrpc', 'method', 'params']);
const resultMembers = new Set(['jsonrpc', 'id', 'result']);
const errorMembers = new Set(['jsonrpc', 'id', 'error']);

function unexpectedMember(message: Record<string, unknown>, allowed: Set<string>): string | undefined {
  for (const key of Object.keys(message)) if (!allowed.has(key)) return `unexpected member ${JSON.stringify(key.slice(0, 40))}.`;
  return undefined;
}

/** `params` and `result` are objects; a `_meta` in them is an object with a string or integer `progressToken`. */
function checkObjectWithMeta(value: unknown, field: string): string | undefined {
  if (!isObject(value)) return `"${field}" must be an object.`;
  if (!('_meta' in value)) return undefined;
  const meta = value._meta;
  if (!isObject(meta)) return `"${field}._meta" must be an object.`;
  if ('progressToken' in meta && !(typeof meta.progressToken === 'string' || Number.isSafeInteger(meta.progressToken))) {
    return `"${field}._meta.progressToken" must be a string or an integer.`;
  }
  const task = meta['io.modelcontextprotocol/related-task'];
  if (task !== undefined && !(isObject(task) && typeof task.taskId === 'string')) {
    return `"${field}._meta" has a related task without a string "taskId".`;
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
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
