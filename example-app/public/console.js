// The example app's browser console: a small MCP client over either transport, on the browser's own fetch and
// EventSource, with no framework and no build step.
//
// This file is the UI and the MCP conversation (handshake, request ids, tools, calls). Moving the messages is a
// transport's job, behind one interface (transport.js): Streamable HTTP (transport-streamable.js, the default) or
// the legacy HTTP+SSE (transport-sse.js). The switch in the header picks one; the choice is kept in localStorage
// and in the URL (`?transport=streamable` or `?transport=sse`).

import { RpcError } from './rpc-error.js';
import { createTransport, transports } from './transport.js';

const CLIENT_INFO = { name: 'express-mcp-sse console', version: '0.1.0' };
const params = new URLSearchParams(location.search);
/** Where each transport lives, relative to this page; `?mcp=/other/mcp` or `?sse=/other/sse` points elsewhere. */
const PATHS = { streamable: params.get('mcp'), sse: params.get('sse') };
const HANDSHAKE_TIMEOUT_MS = 15_000;
const MAX_LOG_ENTRIES = 2000;
const KEY_STORAGE = 'express-mcp-sse-console:api-key';
const TRANSPORT_STORAGE = 'express-mcp-sse-console:transport';

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const ui = {
  pill: $('status-pill'),
  detail: $('status-detail'),
  sessionId: $('session-id'),
  transportSwitch: $('transport-switch'),
  connectForm: /** @type {HTMLFormElement} */ ($('connect-form')),
  apiKey: /** @type {HTMLInputElement} */ ($('api-key')),
  connect: /** @type {HTMLButtonElement} */ ($('connect-button')),
  disconnect: /** @type {HTMLButtonElement} */ ($('disconnect-button')),
  toolCount: $('tool-count'),
  toolsEmpty: $('tools-empty'),
  toolList: $('tool-list'),
  refreshTools: /** @type {HTMLButtonElement} */ ($('refresh-tools')),
  toolName: $('call-tool-name'),
  description: $('call-description'),
  callForm: /** @type {HTMLFormElement} */ ($('call-form')),
  args: /** @type {HTMLTextAreaElement} */ ($('call-args')),
  argsError: $('args-error'),
  resetArgs: /** @type {HTMLButtonElement} */ ($('reset-args')),
  schema: $('call-schema'),
  call: /** @type {HTMLButtonElement} */ ($('call-button')),
  progressRow: $('progress-row'),
  progressLabel: $('progress-label'),
  progress: /** @type {HTMLProgressElement} */ ($('call-progress')),
  progressText: $('progress-text'),
  result: $('result'),
  log: $('log'),
  clearLog: /** @type {HTMLButtonElement} */ ($('clear-log')),
};

const state = {
  /** @type {'streamable' | 'sse'} Which transport the switch picked. */
  kind: /** @type {'streamable' | 'sse'} */ ('streamable'),
  /** @type {import('./transport.js').Transport | null} The live transport; hooks of any other one are ignored. */
  transport: null,
  /** @type {string | null} */
  sessionId: null,
  /** Bumped for every new session and every disconnect, so a stale handshake stops halfway. */
  generation: 0,
  nextId: 1,
  /** @type {Map<number | string, PendingRequest>} */
  pending: new Map(),
  /** @type {Array<{ name: string, title?: string, description?: string, inputSchema?: object }>} */
  tools: [],
  /** @type {string | null} */
  selected: null,
  /** Arguments edited per tool, so switching tools keeps what was typed. */
  drafts: new Map(),
  /** Progress token of the latest call; its notifications drive the progress bar. */
  activeProgressToken: null,
  callCount: 0,
};

/**
 * @typedef {object} PendingRequest
 * @property {string} method
 * @property {(result: any) => void} resolve
 * @property {(error: Error) => void} reject
 * @property {(result: any) => string} describe   one-line summary of the result for the log
 * @property {ReturnType<typeof setTimeout>} [timer]
 */

// ---------------------------------------------------------------- status and log

/** @param {'idle'|'connecting'|'initializing'|'ready'|'reconnecting'|'resumed'|'closed'|'error'} phase */
function setStatus(phase, text, detail = '') {
  ui.pill.dataset.state = phase;
  ui.pill.textContent = text;
  ui.detail.textContent = detail;
  document.body.dataset.phase = phase;
  const live = state.transport !== null;
  ui.disconnect.disabled = !live;
  ui.connect.textContent = live ? 'Reconnect' : 'Connect';
  updateCallButton();
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

/**
 * Appends one line to the activity log.
 * @param {string} kind  stream | request | response | log | progress | broadcast | notice | error
 * @param {string} text
 * @param {{ dir?: 'in'|'out', eventId?: string, level?: string, method?: string, title?: string }} [meta]
 */
function log(kind, text, meta = {}) {
  const atBottom = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 24;
  const item = document.createElement('li');
  item.className = 'entry';
  item.dataset.kind = kind;
  if (meta.dir) item.dataset.dir = meta.dir;
  if (meta.eventId) item.dataset.eventId = meta.eventId;
  if (meta.level) item.dataset.level = meta.level;
  if (meta.method) item.dataset.method = meta.method;
  if (meta.title) item.title = meta.title;

  const now = new Date();
  const time = document.createElement('time');
  time.dateTime = now.toISOString();
  time.textContent = `${timeFormat.format(now)}.${String(now.getMilliseconds()).padStart(3, '0')}`;
  const badge = document.createElement('span');
  badge.className = 'badge';
  badge.textContent = meta.level && kind === 'log' ? meta.level : kind;
  const dir = document.createElement('span');
  dir.className = 'dir';
  dir.textContent = meta.dir === 'out' ? '→' : meta.dir === 'in' ? '←' : '·';
  dir.setAttribute('aria-label', meta.dir === 'out' ? 'sent' : meta.dir === 'in' ? 'received' : '');
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  item.append(time, dir, badge, body);
  ui.log.append(item);
  while (ui.log.childElementCount > MAX_LOG_ENTRIES) ui.log.firstElementChild?.remove();
  if (atBottom) ui.log.scrollTop = ui.log.scrollHeight;
}

/** Short, single-line JSON for log lines. */
function brief(value, max = 140) {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const line = (text ?? 'undefined').replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

// ---------------------------------------------------------------- the connection

function connect() {
  endTransport('reconnecting by hand');
  const key = ui.apiKey.value.trim();
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage may be off (private mode); the key then lives only in the input.
  }
  /** @type {import('./transport.js').Transport} */
  let transport;
  // Hooks of a transport that is no longer the live one (disconnected, switched) are ignored.
  const live =
    (handler) =>
    (...args) =>
      transport === state.transport && handler(...args);
  transport = createTransport(state.kind, {
    path: PATHS[state.kind],
    apiKey: key,
    hooks: {
      onSession: live(onSession),
      onSessionId: live(onSessionId),
      onMessage: live(handleMessage),
      onDrop: live((detail) => setStatus('reconnecting', 'reconnecting…', detail)),
      onResume: live((detail) => setStatus('resumed', 'resumed', detail)),
      onLost: live((ids, error) => {
        for (const id of ids) settle(id, error);
      }),
      onFail: live(onFail),
      log: live(log),
    },
  });
  state.transport = transport;
  setStatus('connecting', 'connecting…', `${transports[state.kind].label} · ${transport.endpoint.pathname}`);
  transport.connect();
}

/** Stops the live transport on purpose, failing whatever was still waiting for a reply; says what became of the session. */
function endTransport(reason) {
  const transport = state.transport;
  state.transport = null;
  state.generation++;
  const said = transport?.close() ?? '';
  failPending(new Error(`Connection closed (${reason}).`));
  onSessionId(null);
  return transport === null ? null : said;
}

function disconnect() {
  const said = endTransport('disconnected');
  if (said === null) return;
  setStatus('closed', 'disconnected', said);
  log('stream', `Disconnected. ${said}`);
  renderTools([]);
}

/** A session is ready to initialize: the first one, or a new one because the server lost the old one. */
function onSession({ replaced, reason }) {
  if (replaced) failPending(new Error(reason ?? 'The session was replaced.'));
  void handshake(replaced);
}

function onSessionId(sessionId) {
  state.sessionId = sessionId;
  ui.sessionId.textContent = sessionId ?? '—';
  ui.sessionId.title = sessionId ? `Session id: ${sessionId}` : 'Not connected';
  updateCallButton();
}

/** The transport gave up (the server refused it): say why, and point at the API key when that is the reason. */
function onFail(message, { status }) {
  const hadSession = state.sessionId !== null;
  endTransport('refused');
  setStatus('error', hadSession ? 'disconnected' : 'refused', message);
  log('error', message);
  if (status === 401) ui.apiKey.focus();
}

/** The switch: remember the choice (storage and URL), then connect with the new transport. */
function chooseTransport(kind, { reconnect }) {
  if (!Object.hasOwn(transports, kind)) kind = 'streamable';
  state.kind = kind;
  for (const input of ui.transportSwitch.querySelectorAll('input[name="transport"]')) {
    /** @type {HTMLInputElement} */ (input).checked = /** @type {HTMLInputElement} */ (input).value === kind;
  }
  try {
    localStorage.setItem(TRANSPORT_STORAGE, kind);
  } catch {
    // No storage: the URL still remembers.
  }
  const url = new URL(location.href);
  url.searchParams.set('transport', kind);
  history.replaceState(history.state, '', url);
  if (!reconnect) return;
  log('notice', `Switched to ${transports[kind].label}`);
  connect();
}

/** The URL's choice first, then the remembered one, else Streamable HTTP. */
function initialTransport() {
  const fromUrl = params.get('transport');
  if (fromUrl !== null && Object.hasOwn(transports, fromUrl)) return fromUrl;
  try {
    const saved = localStorage.getItem(TRANSPORT_STORAGE);
    if (saved !== null && Object.hasOwn(transports, saved)) return saved;
  } catch {
    // No storage: the default.
  }
  return 'streamable';
}

// ---------------------------------------------------------------- JSON-RPC over the transport

/** Hands one message to the live transport; rejects when it was refused or nothing is connected. */
function post(message) {
  if (state.transport === null) return Promise.reject(new Error('Not connected.'));
  return state.transport.send(message);
}

/**
 * Sends a request; resolves with its result when the reply arrives on the stream (possibly after a resume).
 * @param {string} method
 * @param {object} [params]
 * @param {{ timeoutMs?: number, describe?: (result: any) => string, logText?: string }} [options]
 */
function request(method, params, options = {}) {
  const id = state.nextId++;
  const message = params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params };
  return new Promise((resolve, reject) => {
    /** @type {PendingRequest} */
    const entry = { method, resolve, reject, describe: options.describe ?? ((result) => brief(result)) };
    if (options.timeoutMs) {
      entry.timer = setTimeout(() => settle(id, new Error(`${method} got no reply within ${options.timeoutMs / 1000} s.`)), options.timeoutMs);
    }
    state.pending.set(id, entry);
    log('request', options.logText ?? `${method}${params === undefined ? '' : ` ${brief(params)}`}`, { dir: 'out', method });
    post(message).catch((error) => settle(id, error));
  });
}

async function notify(method, params) {
  log('request', method, { dir: 'out', method });
  await post(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params });
}

/** Ends a pending request with an error (its reply will never come). */
function settle(id, error) {
  const entry = state.pending.get(id);
  if (entry === undefined) return;
  state.pending.delete(id);
  clearTimeout(entry.timer);
  entry.reject(error);
}

function failPending(error) {
  for (const id of [...state.pending.keys()]) settle(id, error);
}

/** A message from the server: a reply to one of our requests, a request of its own, or a notification. */
function handleMessage(message, eventId) {
  const meta = { dir: /** @type {'in'} */ ('in'), eventId };
  if (message.method === undefined) {
    // A response to one of our requests.
    const entry = state.pending.get(message.id);
    if (entry === undefined) {
      log('response', `Reply to unknown request ${brief(message.id)}: ${brief(message.result ?? message.error)}`, meta);
      return;
    }
    state.pending.delete(message.id);
    clearTimeout(entry.timer);
    if (message.error) {
      log('error', `${entry.method} failed: ${message.error.message} (${message.error.code})`, { ...meta, method: entry.method });
      entry.reject(new RpcError(message.error.message, message.error.code, message.error.data));
    } else {
      const isToolError = entry.method === 'tools/call' && message.result?.isError === true;
      log(isToolError ? 'error' : 'response', `${entry.method} ${entry.describe(message.result)}`, { ...meta, method: entry.method });
      entry.resolve(message.result);
    }
    return;
  }

  if (message.id !== undefined) {
    handleServerRequest(message, meta);
    return;
  }

  const params = message.params ?? {};
  switch (message.method) {
    case 'notifications/message': {
      const logger = params.logger ? `[${params.logger}] ` : '';
      log('log', `${logger}${typeof params.data === 'string' ? params.data : brief(params.data)}`, {
        ...meta,
        level: params.level ?? 'info',
        method: message.method,
      });
      break;
    }
    case 'notifications/progress':
      onProgress(params, meta);
      break;
    case 'notifications/resources/list_changed':
      log('broadcast', 'Resources changed · notifications/resources/list_changed', { ...meta, method: message.method });
      break;
    case 'notifications/tools/list_changed':
      log('broadcast', 'Tools changed: listing them again', { ...meta, method: message.method });
      void loadTools().catch((error) => log('error', `tools/list failed: ${error.message}`));
      break;
    case 'notifications/cancelled':
      log('notice', `Server cancelled request ${brief(params.requestId)}${params.reason ? `: ${params.reason}` : ''}`, {
        ...meta,
        method: message.method,
      });
      break;
    default:
      log('notice', `${message.method} ${brief(params)}`, { ...meta, method: message.method });
  }
}

/** The server may ask us things; the console answers ping and politely refuses the rest. */
function handleServerRequest(message, meta) {
  log('notice', `Server request ${message.method}`, { ...meta, method: message.method });
  const reply =
    message.method === 'ping'
      ? { jsonrpc: '2.0', id: message.id, result: {} }
      : { jsonrpc: '2.0', id: message.id, error: { code: -32601, message: `The console does not support ${message.method}.` } };
  post(reply).catch((error) => log('error', `Could not answer ${message.method}: ${error.message}`));
}

// ---------------------------------------------------------------- handshake and tools

async function handshake(fresh) {
  const generation = ++state.generation;
  const stale = () => generation !== state.generation;
  setStatus('initializing', 'initializing…', fresh ? 'New session: initializing again.' : '');
  const protocolVersion = state.transport?.protocolVersion;
  try {
    const result = await request(
      'initialize',
      { protocolVersion, capabilities: {}, clientInfo: CLIENT_INFO },
      {
        timeoutMs: HANDSHAKE_TIMEOUT_MS,
        logText: `initialize (protocol ${protocolVersion})`,
        describe: (r) => `→ ${r.serverInfo?.name ?? 'server'} ${r.serverInfo?.version ?? ''} (protocol ${r.protocolVersion})`,
      },
    );
    if (stale()) return;
    await notify('notifications/initialized');
    if (result.capabilities?.logging) {
      await request('logging/setLevel', { level: 'info' }, { timeoutMs: HANDSHAKE_TIMEOUT_MS, describe: () => '→ ok' });
    }
    if (stale()) return;
    const server = `${result.serverInfo?.name ?? 'server'} ${result.serverInfo?.version ?? ''}`.trim();
    await loadTools();
    if (stale()) return;
    setStatus('ready', 'connected', fresh ? `New session (the server lost the old one) · ${server}` : server);
  } catch (error) {
    if (stale()) return;
    setStatus('error', 'error', `Handshake failed: ${error.message}`);
    log('error', `Handshake failed: ${error.message}`);
  }
}

async function loadTools() {
  const tools = [];
  let cursor;
  do {
    const page = await request('tools/list', cursor === undefined ? undefined : { cursor }, {
      timeoutMs: HANDSHAKE_TIMEOUT_MS,
      describe: (r) => `→ ${r.tools?.length ?? 0} tools: ${(r.tools ?? []).map((t) => t.name).join(', ')}`,
    });
    tools.push(...(page.tools ?? []));
    cursor = page.nextCursor;
  } while (cursor);
  renderTools(tools);
}

function renderTools(tools) {
  state.tools = tools;
  ui.toolList.replaceChildren(
    ...tools.map((tool) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'tool';
      button.dataset.tool = tool.name;
      button.setAttribute('aria-pressed', String(tool.name === state.selected));
      const name = document.createElement('span');
      name.className = 'tool-title';
      name.textContent = tool.title ?? tool.name;
      const description = document.createElement('span');
      description.className = 'tool-desc';
      description.append(...withCode(tool.description ?? ''));
      button.append(name, description);
      item.append(button);
      return item;
    }),
  );
  ui.toolCount.textContent = tools.length ? String(tools.length) : '';
  ui.toolsEmpty.hidden = tools.length > 0;
  ui.toolsEmpty.textContent = state.transport === null ? "Connect to list the server's tools." : 'This server has no tools.';
  ui.refreshTools.disabled = state.transport === null;
  if (state.selected !== null && !tools.some((t) => t.name === state.selected)) selectTool(null);
  else if (state.selected === null && tools.length > 0) selectTool(tools[0].name);
  else selectTool(state.selected);
}

/** @param {string | null} name */
function selectTool(name) {
  // Keep what was typed for the tool being left (or re-shown after a refresh).
  if (state.selected !== null && !ui.args.disabled) state.drafts.set(state.selected, ui.args.value);
  state.selected = name;
  const tool = state.tools.find((t) => t.name === name);
  for (const button of ui.toolList.querySelectorAll('button.tool')) {
    button.setAttribute('aria-pressed', String(button.dataset.tool === name));
  }
  ui.toolName.textContent = tool ? tool.name : 'no tool selected';
  ui.description.replaceChildren(...withCode(tool?.description ?? (state.tools.length ? 'Pick a tool on the left.' : '')));
  ui.schema.textContent = tool ? JSON.stringify(tool.inputSchema ?? {}, null, 2) : '';
  ui.args.disabled = !tool;
  ui.resetArgs.disabled = !tool;
  ui.args.value = tool ? (state.drafts.get(tool.name) ?? argumentsTemplate(tool)) : '{}';
  clearArgsError();
  updateCallButton();
}

/** Text with `backticked` spans turned into <code> nodes (tool descriptions often use them). */
function withCode(text) {
  return text.split('`').map((part, index) => {
    if (index % 2 === 0) return document.createTextNode(part);
    const code = document.createElement('code');
    code.textContent = part;
    return code;
  });
}

function argumentsTemplate(tool) {
  const value = exampleFor(tool.inputSchema ?? { type: 'object' });
  const args = value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
  return JSON.stringify(args, null, 2);
}

/** A plausible value for a JSON Schema: its default or first example, else an empty value of its type. */
function exampleFor(schema, depth = 0) {
  if (schema === null || typeof schema !== 'object' || depth > 6) return null;
  if ('default' in schema) return schema.default;
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  const variants = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(variants) && variants.length > 0) return exampleFor(variants.find((v) => v?.type !== 'null') ?? variants[0], depth + 1);
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'string':
      return '';
    case 'number':
    case 'integer':
      return typeof schema.minimum === 'number' ? schema.minimum : 0;
    case 'boolean':
      return false;
    case 'array':
      return [];
    case 'null':
      return null;
    default: {
      const out = {};
      for (const [key, sub] of Object.entries(schema.properties ?? {})) out[key] = exampleFor(sub, depth + 1);
      return out;
    }
  }
}

// ---------------------------------------------------------------- calling a tool

function updateCallButton() {
  const ready = state.sessionId !== null && state.selected !== null && state.tools.length > 0;
  ui.call.disabled = !ready;
}

function clearArgsError() {
  ui.argsError.textContent = '';
  ui.args.removeAttribute('aria-invalid');
}

function parseArgs() {
  const text = ui.args.value.trim();
  if (text === '') return {};
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`Not valid JSON: ${error.message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('Arguments must be a JSON object, like {"a": 1}.');
  return value;
}

async function callSelected() {
  const name = state.selected;
  if (name === null || ui.call.disabled) return;
  let args;
  try {
    args = parseArgs();
  } catch (error) {
    ui.argsError.textContent = error.message;
    ui.args.setAttribute('aria-invalid', 'true');
    ui.args.focus();
    return;
  }
  clearArgsError();
  state.drafts.set(name, ui.args.value);
  const progressToken = `call-${++state.callCount}`;
  state.activeProgressToken = progressToken;
  ui.progressRow.hidden = true;
  ui.progress.max = 1;
  ui.progress.value = 0;
  ui.progressText.textContent = '';
  showResultPending(name);
  const started = performance.now();
  try {
    const result = await request(
      'tools/call',
      { name, arguments: args, _meta: { progressToken } },
      { logText: `tools/call ${name} ${brief(args)}`, describe: (r) => `${name} → ${brief(textOf(r), 120)}` },
    );
    showResult(name, result, performance.now() - started);
  } catch (error) {
    showCallError(name, error, performance.now() - started);
  }
}

function onProgress(params, meta) {
  const { progressToken, progress, total, message } = params;
  const ofTotal = typeof total === 'number' ? `/${total}` : '';
  log('progress', `${progress}${ofTotal}${message ? ` · ${message}` : ''}`, {
    ...meta,
    method: 'notifications/progress',
    title: `progress token ${progressToken}`,
  });
  if (progressToken !== state.activeProgressToken) return;
  ui.progressRow.hidden = false;
  if (typeof total === 'number' && total > 0) {
    ui.progress.max = total;
    ui.progress.value = Math.min(progress, total);
    const percent = Math.round((Math.min(progress, total) / total) * 100);
    ui.progressText.textContent = `${percent}%${message ? ` · ${message}` : ''}`;
    ui.progress.setAttribute('aria-valuetext', `${progress} of ${total}${message ? `, ${message}` : ''}`);
  } else {
    ui.progress.removeAttribute('value'); // indeterminate: no total known
    ui.progressText.textContent = `${progress}${message ? ` · ${message}` : ''}`;
  }
}

function textOf(result) {
  const parts = (result?.content ?? []).map((c) => (c.type === 'text' ? c.text : `[${c.type}]`));
  return parts.length ? parts.join('\n') : JSON.stringify(result?.structuredContent ?? result ?? null);
}

function showResultPending(name) {
  ui.result.dataset.state = 'pending';
  ui.result.setAttribute('aria-busy', 'true');
  const note = document.createElement('p');
  note.className = 'empty';
  note.textContent = `Calling ${name}…`;
  ui.result.replaceChildren(note);
}

function resultHeader(name, ms, label) {
  const head = document.createElement('p');
  head.className = 'result-meta';
  const tool = document.createElement('code');
  tool.textContent = name;
  head.append(tool, ` · ${label} · ${ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`}`);
  return head;
}

function showResult(name, result, ms) {
  const isError = result?.isError === true;
  ui.result.dataset.state = isError ? 'error' : 'ok';
  ui.result.removeAttribute('aria-busy');
  const parts = [resultHeader(name, ms, isError ? 'tool error' : 'ok')];
  for (const item of result?.content ?? []) parts.push(renderContent(item));
  if ((result?.content ?? []).length === 0) parts.push(renderJson(result?.structuredContent ?? result));
  const raw = document.createElement('details');
  raw.className = 'raw';
  const summary = document.createElement('summary');
  summary.textContent = 'Raw result';
  raw.append(summary, renderJson(result));
  parts.push(raw);
  ui.result.replaceChildren(...parts);
}

function showCallError(name, error, ms) {
  ui.result.dataset.state = 'error';
  ui.result.removeAttribute('aria-busy');
  const text = document.createElement('pre');
  text.className = 'result-text';
  text.textContent = error.code !== undefined ? `${error.message} (code ${error.code})` : error.message;
  ui.result.replaceChildren(resultHeader(name, ms, 'failed'), text);
}

function renderContent(item) {
  if (item.type === 'text') {
    const pre = document.createElement('pre');
    pre.className = 'result-text';
    pre.textContent = item.text;
    return pre;
  }
  if (item.type === 'image' && typeof item.data === 'string' && /^image\/[\w.+-]+$/.test(item.mimeType ?? '')) {
    const img = document.createElement('img');
    img.src = `data:${item.mimeType};base64,${item.data}`;
    img.alt = 'Image returned by the tool';
    img.className = 'result-image';
    return img;
  }
  return renderJson(item);
}

function renderJson(value) {
  const pre = document.createElement('pre');
  pre.className = 'result-json';
  pre.textContent = JSON.stringify(value, null, 2);
  return pre;
}

// ---------------------------------------------------------------- wiring

ui.connectForm.addEventListener('submit', (event) => {
  event.preventDefault();
  connect();
});
ui.disconnect.addEventListener('click', disconnect);
ui.transportSwitch.addEventListener('change', (event) => {
  const input = /** @type {HTMLInputElement} */ (event.target);
  if (input.name === 'transport' && input.checked) chooseTransport(/** @type {'streamable' | 'sse'} */ (input.value), { reconnect: true });
});
// Leaving the page ends a Streamable HTTP session (a keepalive DELETE); coming back from the back/forward cache reconnects.
window.addEventListener('pagehide', () => endTransport('page closed'));
window.addEventListener('pageshow', (event) => event.persisted && connect());
ui.refreshTools.addEventListener('click', () => void loadTools().catch((error) => log('error', `tools/list failed: ${error.message}`)));
ui.clearLog.addEventListener('click', () => ui.log.replaceChildren());
ui.resetArgs.addEventListener('click', () => {
  const tool = state.tools.find((t) => t.name === state.selected);
  if (!tool) return;
  state.drafts.delete(tool.name);
  ui.args.value = argumentsTemplate(tool);
  clearArgsError();
  ui.args.focus();
});
ui.args.addEventListener('input', clearArgsError);
ui.callForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void callSelected();
});

ui.toolList.addEventListener('click', (event) => {
  const button = /** @type {HTMLElement} */ (event.target).closest('button.tool');
  if (button instanceof HTMLButtonElement) selectTool(button.dataset.tool ?? null);
});
// Arrow keys move between tools; Tab still walks every button.
ui.toolList.addEventListener('keydown', (event) => {
  if (!['ArrowDown', 'ArrowUp', 'Home', 'End'].includes(event.key)) return;
  const buttons = [...ui.toolList.querySelectorAll('button.tool')];
  const index = buttons.indexOf(/** @type {HTMLButtonElement} */ (document.activeElement));
  if (index === -1) return;
  event.preventDefault();
  const next =
    event.key === 'Home'
      ? 0
      : event.key === 'End'
        ? buttons.length - 1
        : (index + (event.key === 'ArrowDown' ? 1 : -1) + buttons.length) % buttons.length;
  /** @type {HTMLButtonElement} */ (buttons[next]).focus();
});

// Ctrl+Enter (Cmd+Enter on macOS) calls the selected tool from anywhere on the page.
document.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && !event.isComposing) {
    event.preventDefault();
    void callSelected();
  }
});

try {
  ui.apiKey.value = sessionStorage.getItem(KEY_STORAGE) ?? '';
} catch {
  // No storage: start with an empty key.
}
chooseTransport(initialTransport(), { reconnect: false });
onSessionId(null);
setStatus('idle', 'not connected');
connect();
