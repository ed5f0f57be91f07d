// Reads and validates a POSTed JSON-RPC body, raw or already parsed by an app-level express.json().
import type { IncomingMessage } from 'node:http';
import type { JSONRPCMessage } from '../types.js';
import { maxJsonDepth, measureJson, nestedDeeperThan, type JsonShapeProblem } from './json-shape.js';
import { readRawBody, type RawBody, type RawBodyLimits } from './raw-body.js';
import { closeConnection, problems, type HttpProblem } from './reply.js';

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

/** What a body may be; every field is an option of the router. */
export interface BodyLimits extends RawBodyLimits {
  maxBatchSize: number;
}

/** True for `application/json` and `application/*+json`, with any parameters. */
export function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const semicolon = value.indexOf(';');
  const type = (semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

/**
 * Reads the body and checks it is one JSON-RPC message or a non-empty batch of at most `maxBatchSize`, within
 * `maxMessageSize` and `maxJsonDepth`. Never throws: every problem is an answer. A body already buffered (or
 * parsed by an app-level parser) is answered at once, without a promise.
 */
export function readMessages(req: IncomingMessage, limits: BodyLimits): BodyResult | Promise<BodyResult> {
  try {
    const declared = Number(req.headers['content-length']);
    const preParsed = isPreParsed(req);
    if (declared > limits.maxMessageSize) {
      // A body still on the wire is never read: the connection closes after the answer.
      const problem = problems.tooLarge(limits.maxMessageSize);
      return preParsed ? fail(problem, idOf((req as ParsedRequest).body)) : fail(closeConnection(problem));
    }
    // An app-level body parser got there first: check what it produced, which is what reaches the server.
    if (preParsed) return checkPreParsed((req as ParsedRequest).body, limits);
    const raw = readRawBody(req, limits);
    return raw instanceof Promise ? raw.then((body) => parseRaw(body, limits)) : parseRaw(raw, limits);
  } catch {
    // Nothing above throws on what a client can send; a pre-parsed body with a throwing getter (a custom parser's
    // object) is still a bad body, never a 500 page.
    return fail(problems.invalidRequest('the body could not be read.'));
  }
}

function parseRaw(raw: RawBody, limits: BodyLimits): BodyResult {
  if (!raw.ok) return raw.problem === undefined ? { ok: false, problem: undefined, id: null } : fail(raw.problem);
  return parse(raw.text, limits);
}

/** The id of a body an app-level parser already parsed, for error answers that never read the body themselves. */
export function preParsedIdOf(req: IncomingMessage): Id {
  try {
    return isPreParsed(req) ? idOf((req as ParsedRequest).body) : null;
  } catch {
    return null;
  }
}

/**
 * An app-level parser read the whole body, so the request is complete. Asked first: a request whose body is still
 * on the wire (nearly every one) skips the other two reads, and `_body`, absent from most requests, is the costly
 * one (V8 searches the whole prototype chain of a request object it sees for the first time).
 */
function isPreParsed(req: IncomingMessage): boolean {
  return req.complete && ((req as ParsedRequest)._body === true || req.readableEnded);
}

function checkPreParsed(body: unknown, limits: BodyLimits): BodyResult {
  // express.text() or express.raw(): the bytes as sent (after decompression), parsed here.
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    if (body.length > limits.maxMessageSize) return fail(problems.tooLarge(limits.maxMessageSize));
    return parse(body.toString(), limits);
  }
  if (body === undefined || body === null) return fail(problems.parseError('the request body was consumed before the router saw it.'));
  // Measured as compact JSON: a Content-Length says nothing about it when the body came compressed.
  const shape = measureJson(body, limits.maxMessageSize);
  if (!shape.ok) return refuseShape(shape.over, body, limits.maxMessageSize);
  return validate(body, shape.bytes, limits.maxBatchSize);
}

function parse(text: string, limits: BodyLimits): BodyResult {
  const bytes = Buffer.byteLength(text);
  if (bytes > limits.maxMessageSize) return fail(problems.tooLarge(limits.maxMessageSize));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return fail(problems.parseError((error as Error).message));
  }
  // The size is known; the depth is not bounded by JSON.parse, and JSON.stringify overflows on deep values.
  if (nestedDeeperThan(value)) return fail(problems.nestingTooDeep(maxJsonDepth), idOf(value));
  return validate(value, bytes, limits.maxBatchSize);
}

function refuseShape(over: JsonShapeProblem, value: unknown, maxMessageSize: number): BodyResult {
  if (over === 'size') return fail(problems.tooLarge(maxMessageSize), idOf(value));
  if (over === 'depth') return fail(problems.nestingTooDeep(maxJsonDepth), idOf(value));
  return fail(problems.invalidRequest('the body holds a value JSON cannot represent.'), idOf(value));
}

function validate(value: unknown, bytes: number, maxBatchSize: number): BodyResult {
  if (Array.isArray(value)) {
    if (value.length === 0) return fail(problems.invalidRequest('a batch must not be empty.'));
    // Before looking at any item: a batch of 90,000 is refused in constant time.
    if (value.length > maxBatchSize) return fail(problems.batchTooLarge(value.length, maxBatchSize));
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
