// The example app's browser console (example-app/public) in real Chromium, over both transports (Streamable HTTP,
// the default, and legacy HTTP+SSE): handshake, tools, progress, logging, broadcasts, resuming cut streams exactly
// once, starting over when the server lost the session, ending sessions, the transport switch, API keys and CORS.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page, Request, Response as PageResponse } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  launchChromium,
  logEntries,
  recordMcpRequests,
  recordStatus,
  serveHtml,
  startExampleApp,
  statusHistory,
  waitForStatus,
  type ExampleApp,
  type LogEntry,
  type McpRequest,
  type StaticSite,
} from './helpers/browser.js';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** `UPDATE_SCREENSHOTS=1` refreshes the committed docs/console.png; otherwise the shot goes to a temp dir. */
const screenshotPath =
  process.env.UPDATE_SCREENSHOTS === '1'
    ? fileURLToPath(new URL('../../docs/console.png', import.meta.url))
    : join(tmpdir(), `express-mcp-sse-console-${process.pid}.png`);

let browser: Browser | undefined;
let app: ExampleApp | undefined;
const sites: StaticSite[] = [];
let allowedSite: StaticSite;
const extraApps: ExampleApp[] = [];
const pageErrors: string[] = [];

/**
 * A second MCP client (the SDK's, over Node) that changes the message of the day, which broadcasts to everyone;
 * over legacy HTTP+SSE unless `transport` says otherwise (a broadcast reaches sessions of both transports).
 */
async function setMotdFromAnotherClient(origin: string, text: string, transport: 'sse' | 'streamable' = 'sse'): Promise<void> {
  const client = new Client({ name: 'browser-test-other-client', version: '1.0.0' });
  const streamable = transport === 'streamable' ? new StreamableHTTPClientTransport(new URL(`${origin}/mcp`)) : undefined;
  await client.connect(streamable ?? new SSEClientTransport(new URL(`${origin}/mcp/sse`)));
  try {
    await client.callTool({ name: 'set_motd', arguments: { text } });
  } finally {
    // DELETE ends the session, and with it the standalone stream the SDK client opened (a stream the cut route counts).
    await streamable?.terminateSession();
    await client.close();
  }
}

async function newPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${error.message}`));
  return page;
}

/** POST bodies the page sent to the messages endpoint, parsed. */
function recordPosts(page: Page): { method?: string; url: string; headers: Record<string, string> }[] {
  const posts: { method?: string; url: string; headers: Record<string, string> }[] = [];
  page.on('request', (request: Request) => {
    if (request.method() !== 'POST' || !request.url().includes('/mcp/messages')) return;
    const body = JSON.parse(request.postData() ?? '{}') as { method?: string };
    posts.push({ method: body.method, url: request.url(), headers: request.headers() });
  });
  return posts;
}

const texts = (entries: LogEntry[], kind: string): string[] => entries.filter((e) => e.kind === kind).map((e) => e.text);

async function selectTool(page: Page, name: string): Promise<void> {
  await page.click(`button.tool[data-tool="${name}"]`);
  await page.waitForSelector(`button.tool[data-tool="${name}"][aria-pressed="true"]`);
}

async function callTool(page: Page, name: string, args: string): Promise<string> {
  await selectTool(page, name);
  await page.fill('#call-args', args);
  await page.click('#call-button');
  await page.waitForFunction((tool) => {
    const result = document.getElementById('result')!;
    return (result.dataset.state === 'ok' || result.dataset.state === 'error') && result.querySelector('.result-meta code')?.textContent === tool;
  }, name);
  return (await page.textContent('#result .result-text')) ?? '';
}

/** The three panels side by side, nothing scrolling but the panels, the header on one row with the whole session id. */
async function expectCleanLayout(page: Page): Promise<void> {
  const layout = await page.evaluate(() => {
    const box = (selector: string) => document.querySelector(selector)!.getBoundingClientRect();
    const [tools, call, log] = ['.tools-panel', '.call-panel', '.log-panel'].map(box);
    const session = document.getElementById('session-id')!;
    return {
      scrollWidth: document.documentElement.scrollWidth,
      scrollHeight: document.documentElement.scrollHeight,
      headerHeight: box('.topbar').height,
      sideBySide: tools!.right <= call!.left && call!.right <= log!.left && tools!.top === call!.top && call!.top === log!.top,
      sessionIdCut: session.scrollWidth > session.clientWidth,
    };
  });
  expect(layout.scrollWidth).toBeLessThanOrEqual(1280); // no horizontal scrolling
  expect(layout.scrollHeight).toBeLessThanOrEqual(800); // the panels scroll, not the page
  expect(layout.headerHeight).toBeLessThan(80); // the header fits on one row, transport switch included
  expect(layout.sideBySide).toBe(true);
  expect(layout.sessionIdCut).toBe(false);
}

/** The JSON-RPC methods of the POSTs among `requests`. */
const rpcMethods = (requests: McpRequest[]): (string | undefined)[] => requests.filter((r) => r.httpMethod === 'POST').map((r) => r.rpcMethod);

/** Answers whether the server still knows a Streamable HTTP session, with a request of a client nobody else runs. */
async function sessionAnswers(origin: string, sessionId: string): Promise<number> {
  const response = await fetch(`${origin}/mcp`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'Mcp-Session-Id': sessionId },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  await response.body?.cancel();
  return response.status;
}

beforeAll(async () => {
  // The allowed origin goes into CORS_ORIGINS, so its site starts first; its page is written once the app runs.
  allowedSite = await serveHtml();
  sites.push(allowedSite);
  const [launched, started] = await Promise.allSettled([
    launchChromium(),
    startExampleApp({ CORS_ORIGINS: `${allowedSite.origin},https://other.example` }),
  ]);
  // Keep whatever did start, so afterAll closes it even when the other one failed.
  if (launched.status === 'fulfilled') browser = launched.value;
  if (started.status === 'fulfilled') app = started.value;
  if (launched.status === 'rejected') throw launched.reason;
  if (started.status === 'rejected') throw started.reason;
});

afterAll(async () => {
  await browser?.close().catch(() => {});
  await Promise.all([app?.stop(), ...extraApps.map((a) => a.stop()), ...sites.map((s) => s.close())]);
});

describe('browser console over Streamable HTTP (the default) in Chromium', () => {
  let context: BrowserContext;
  let page: Page;
  let requests: McpRequest[];
  let sessionId: string;

  beforeAll(async () => {
    context = await browser!.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light', reducedMotion: 'reduce' });
    page = await newPage(context);
    requests = recordMcpRequests(page);
  });

  afterAll(async () => {
    await context?.close().catch(() => {});
  });

  it('initializes over fetch, keeps Mcp-Session-Id, opens the standalone GET stream and lists the tools', async () => {
    await page.goto(`${app!.origin}/`);
    await waitForStatus(page, 'ready');
    sessionId = (await page.textContent('#session-id'))!.trim();
    expect(sessionId).toMatch(uuid);
    expect(await page.isChecked('input[name="transport"][value="streamable"]')).toBe(true);
    expect(new URL(page.url()).searchParams.get('transport')).toBe('streamable');
    expect(await page.$$eval('button.tool', (b) => b.map((e) => (e as HTMLElement).dataset.tool))).toEqual([
      'echo',
      'add',
      'time',
      'countdown',
      'whoami',
      'set_motd',
    ]);

    // The handshake, in order, exactly once, every POST accepting both JSON and an event stream.
    expect(rpcMethods(requests)).toEqual(['initialize', 'notifications/initialized', 'logging/setLevel', 'tools/list']);
    const [initialize, ...later] = requests.filter((r) => r.httpMethod === 'POST');
    expect(initialize!.headers['mcp-session-id']).toBeUndefined();
    for (const post of [initialize!, ...later]) expect(post.headers.accept).toBe('application/json, text/event-stream');
    for (const post of later) {
      expect(post.headers['mcp-session-id']).toBe(sessionId);
      expect(post.headers['mcp-protocol-version']).toBe('2025-11-25');
    }
    // Then one standalone stream, for what the server sends outside any request.
    await expect.poll(() => requests.filter((r) => r.httpMethod === 'GET').length).toBe(1);
    const get = requests.find((r) => r.httpMethod === 'GET')!;
    expect(get.headers).toMatchObject({ accept: 'text/event-stream', 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' });
    expect(get.headers['last-event-id']).toBeUndefined();
    expect((await app!.stats()).byTransport['streamable-http'].active).toBe(1);

    const entries = await logEntries(page);
    expect(texts(entries, 'stream')).toEqual(['Streamable HTTP at /mcp', `Session ${sessionId} opened`]);
    expect(texts(entries, 'request')[0]).toBe('initialize (protocol 2025-11-25)');
  });

  it('calls add: the POST is answered by an event stream carrying the result', async () => {
    const streamed: string[] = [];
    const onResponse = (response: PageResponse) => {
      if (new URL(response.url()).pathname === '/mcp' && response.request().method() === 'POST')
        streamed.push(response.headers()['content-type'] ?? '');
    };
    page.on('response', onResponse);
    try {
      expect(await callTool(page, 'add', '{"a":2,"b":3}')).toBe('5');
    } finally {
      page.off('response', onResponse);
    }
    expect(streamed).toEqual(['text/event-stream']);
    expect(texts(await logEntries(page), 'response')).toContain('tools/call add → 5');
    expect(requests.at(-1)).toMatchObject({ httpMethod: 'POST', rpcMethod: 'tools/call' });
  });

  it('runs countdown with a progress token: the bar reaches 100% and every progress and log line arrives once', async () => {
    await page.click('#clear-log');
    await selectTool(page, 'countdown');
    await page.fill('#call-args', '{"from": 4, "intervalMs": 100}');
    await page.click('#call-button');
    await page.waitForFunction(() => document.getElementById('result')!.textContent!.includes('Liftoff!'));

    const bar = await page.$eval('#call-progress', (p) => ({ value: (p as HTMLProgressElement).value, max: (p as HTMLProgressElement).max }));
    expect(bar).toEqual({ value: 4, max: 4 });
    expect(await page.textContent('#progress-text')).toContain('100%');
    // Progress comes on the POST's own stream, before its response; the server's log lines on the standalone stream.
    await expect
      .poll(async () => texts(await logEntries(page), 'log'))
      .toEqual(['[countdown] 3…', '[countdown] 2…', '[countdown] 1…', '[countdown] 0…']);
    const entries = await logEntries(page);
    expect(texts(entries, 'progress')).toEqual(['1/4 · 3 left', '2/4 · 2 left', '3/4 · 1 left', '4/4 · 0 left']);
    const progressAt = entries.map((e, i) => (e.kind === 'progress' ? i : -1)).filter((i) => i >= 0);
    expect(Math.max(...progressAt)).toBeLessThan(entries.findIndex((e) => e.kind === 'response'));
    const call = requests.filter((r) => r.rpcMethod === 'tools/call').at(-1)!;
    expect(call.headers['mcp-session-id']).toBe(sessionId);
  });

  it('shows a broadcast from another client once, received on the standalone stream', async () => {
    await page.click('#clear-log');
    const before = requests.length;
    await setMotdFromAnotherClient(app!.origin, 'Broadcast over Streamable HTTP', 'streamable');
    await expect.poll(async () => (await logEntries(page)).filter((e) => e.method === 'notifications/resources/list_changed').length).toBe(1);
    const entry = (await logEntries(page)).find((e) => e.kind === 'broadcast')!;
    expect(entry.text).toContain('Resources changed');
    expect(entry.eventId).toBeDefined();
    // The page sent nothing meanwhile: no POST stream existed, so the broadcast came on the standalone GET stream.
    expect(requests.slice(before)).toEqual([]);
  });

  it('renders cleanly at 1280×800 (the screenshot in docs/console.png)', async () => {
    await callTool(page, 'echo', '{\n  "text": "Hello from the browser console"\n}');
    await selectTool(page, 'countdown');
    await page.fill('#call-args', '{\n  "from": 5,\n  "intervalMs": 120\n}');
    await page.click('#call-button');
    await page.waitForFunction(() => document.getElementById('result')!.textContent!.includes('Liftoff!'));
    // The log lines come on the standalone stream and may trail the result: wait for the last one.
    await expect.poll(async () => texts(await logEntries(page), 'log').filter((t) => t === '[countdown] 0…').length).toBe(1);
    await page.focus('#call-button');
    await expectCleanLayout(page);
    await page.screenshot({ path: screenshotPath });
  });

  it('resumes server-cut streams (the POST stream and the standalone stream) on the same session, every message once', async () => {
    const statsBefore = await app!.stats();
    const requestsBefore = requests.length;
    await page.click('#clear-log');
    await recordStatus(page);

    // A countdown that runs across the cut: progress (POST stream) and log lines (standalone stream) during the gap
    // are replayed on resume, later ones arrive live.
    await selectTool(page, 'countdown');
    await page.fill('#call-args', '{"from": 10, "intervalMs": 600}');
    await page.click('#call-button');
    await page.waitForFunction(() => (document.getElementById('call-progress') as HTMLProgressElement).value >= 1);

    expect(await app!.cutStreams(['get', 'post'])).toEqual({ cut: 2, sse: 0, get: 1, post: 1 });
    await waitForStatus(page, 'reconnecting', 5_000);
    // While the page is away: a broadcast it must get exactly once, from the replay.
    await setMotdFromAnotherClient(app!.origin, 'Changed while the streams were cut', 'streamable');
    await waitForStatus(page, 'resumed', 15_000); // the console waits the server's retry: (5 s) first
    await page.waitForFunction(() => document.getElementById('result')!.textContent!.includes('Liftoff!'), undefined, { timeout: 15_000 });

    expect((await page.textContent('#session-id'))!.trim()).toBe(sessionId);
    const history = await statusHistory(page);
    expect(history.indexOf('reconnecting…')).toBeGreaterThan(-1);
    expect(history.lastIndexOf('resumed')).toBeGreaterThan(history.indexOf('reconnecting…'));

    // No second handshake: one POST (the call), then one GET per cut stream, each resuming with Last-Event-ID.
    const since = requests.slice(requestsBefore);
    expect(rpcMethods(since)).toEqual(['tools/call']);
    const resumes = since.filter((r) => r.httpMethod === 'GET');
    expect(resumes).toHaveLength(2);
    for (const resume of resumes) {
      expect(resume.headers['mcp-session-id']).toBe(sessionId);
      expect(resume.headers['last-event-id']).toMatch(/\S/);
    }
    expect(new Set(resumes.map((r) => r.headers['last-event-id'])).size).toBe(2);

    await expect.poll(async () => texts(await logEntries(page), 'log').length, { timeout: 5_000 }).toBe(10);
    const entries = await logEntries(page);
    const steps = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0];
    expect(texts(entries, 'log')).toEqual(steps.map((n) => `[countdown] ${n}…`));
    expect(texts(entries, 'progress')).toEqual(steps.map((n, i) => `${i + 1}/10 · ${n} left`));
    expect(texts(entries, 'response')).toEqual(['tools/call countdown → Liftoff!']);
    expect(texts(entries, 'broadcast')).toHaveLength(1);
    const streamLines = texts(entries, 'stream');
    expect(streamLines).toHaveLength(4);
    expect(streamLines.filter((t) => /^(Tools\/call stream|Standalone stream) cut: resuming from \S+ in 5 s$/.test(t))).toHaveLength(2);
    expect(streamLines.filter((t) => t.endsWith(`resumed: session ${sessionId} kept, missed messages follow`))).toHaveLength(2);
    // Every received message once: no event id twice.
    const eventIds = entries.filter((e) => e.eventId !== undefined).map((e) => e.eventId);
    expect(new Set(eventIds).size).toBe(eventIds.length);
    expect(await page.$eval('#call-progress', (p) => [(p as HTMLProgressElement).value, (p as HTMLProgressElement).max])).toEqual([10, 10]);

    // The server agrees: two resumes, and no session opened but the other client's.
    const statsAfter = await app!.stats();
    expect(statsAfter.resumed - statsBefore.resumed).toBe(2);
    expect(statsAfter.opened - statsBefore.opened).toBe(1);
  });

  it('Disconnect ends the session with DELETE; Connect opens a new one', async () => {
    const before = requests.length;
    await page.click('#disconnect-button');
    await waitForStatus(page, 'closed');
    expect(await page.textContent('#status-detail')).toBe(`Session ${sessionId} ended (DELETE).`);
    await expect.poll(() => requests.slice(before).filter((r) => r.httpMethod === 'DELETE').length).toBe(1);
    expect(requests.slice(before).find((r) => r.httpMethod === 'DELETE')!.headers['mcp-session-id']).toBe(sessionId);
    await expect.poll(() => sessionAnswers(app!.origin, sessionId)).toBe(404);
    expect(await page.$$eval('button.tool', (b) => b.length)).toBe(0);

    await page.click('#connect-button');
    await waitForStatus(page, 'ready');
    const newSessionId = (await page.textContent('#session-id'))!.trim();
    expect(newSessionId).toMatch(uuid);
    expect(newSessionId).not.toBe(sessionId);
    expect(await callTool(page, 'add', '{"a":1,"b":1}')).toBe('2');
    sessionId = newSessionId;
  });

  it('starts over when the server lost the session (restart): 404, initialize again, and says so', async () => {
    await page.click('#clear-log');
    const before = requests.length;
    await app!.restart(); // SIGTERM drains (streams end with a retry: hint); the new process knows no sessions
    await waitForStatus(page, 'ready', 20_000);
    const newSessionId = (await page.textContent('#session-id'))!.trim();
    expect(newSessionId).toMatch(uuid);
    expect(newSessionId).not.toBe(sessionId);
    expect(await page.textContent('#status-detail')).toContain('New session');
    expect(texts(await logEntries(page), 'notice')).toEqual([`Session ${sessionId} is gone on the server (404): initializing a new session`]);
    expect(rpcMethods(requests.slice(before))).toEqual(['initialize', 'notifications/initialized', 'logging/setLevel', 'tools/list']);
    expect(await callTool(page, 'add', '{"a":40,"b":2}')).toBe('42');
    sessionId = newSessionId;
  });

  it('ends the session when the page goes away (a keepalive DELETE on pagehide)', async () => {
    expect(await sessionAnswers(app!.origin, sessionId)).toBe(202);
    await page.goto('about:blank');
    await expect.poll(() => sessionAnswers(app!.origin, sessionId)).toBe(404);
  });
});

describe('the transport switch', () => {
  it('switches between Streamable HTTP and HTTP+SSE, ends the session it leaves, and remembers the choice', async () => {
    const context = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await newPage(context);
      const requests = recordMcpRequests(page);
      const legacyPosts = recordPosts(page);
      await page.goto(`${app!.origin}/`);
      await waitForStatus(page, 'ready');
      const streamableSession = (await page.textContent('#session-id'))!.trim();
      expect(legacyPosts).toEqual([]);

      // To legacy: the Streamable HTTP session is deleted, the handshake runs again over /mcp/sse + /mcp/messages.
      await page.click('label:has(input[value="sse"])');
      await waitForStatus(page, 'ready');
      const legacySession = (await page.textContent('#session-id'))!.trim();
      expect(legacySession).toMatch(uuid);
      expect(legacySession).not.toBe(streamableSession);
      expect(await page.isChecked('input[name="transport"][value="sse"]')).toBe(true);
      expect(legacyPosts.map((p) => p.method)).toEqual(['initialize', 'notifications/initialized', 'logging/setLevel', 'tools/list']);
      expect(legacyPosts[0]!.url).toContain(`/mcp/messages?sessionId=${legacySession}`);
      expect(requests.filter((r) => r.httpMethod === 'DELETE').map((r) => r.headers['mcp-session-id'])).toEqual([streamableSession]);
      await expect.poll(() => sessionAnswers(app!.origin, streamableSession)).toBe(404);
      expect(new URL(page.url()).searchParams.get('transport')).toBe('sse');
      expect(texts(await logEntries(page), 'notice')).toContain('Switched to HTTP+SSE (legacy)');
      expect(await callTool(page, 'add', '{"a":3,"b":4}')).toBe('7');

      // Remembered: a plain visit comes back in legacy mode; the URL's choice wins over the remembered one.
      const requestsBefore = requests.length;
      await page.goto(`${app!.origin}/`);
      await waitForStatus(page, 'ready');
      expect(await page.isChecked('input[name="transport"][value="sse"]')).toBe(true);
      expect(requests.length).toBe(requestsBefore);
      await page.goto(`${app!.origin}/?transport=streamable`);
      await waitForStatus(page, 'ready');
      expect(await page.isChecked('input[name="transport"][value="streamable"]')).toBe(true);
      expect(rpcMethods(requests.slice(requestsBefore))).toEqual(['initialize', 'notifications/initialized', 'logging/setLevel', 'tools/list']);
      expect(await page.evaluate(() => localStorage.getItem('express-mcp-sse-console:transport'))).toBe('streamable');
    } finally {
      await context.close();
    }
  });
});

describe('browser console over HTTP+SSE (legacy, ?transport=sse) in Chromium', () => {
  let context: BrowserContext;
  let page: Page;
  let posts: ReturnType<typeof recordPosts>;
  let sessionId: string;

  beforeAll(async () => {
    context = await browser!.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light', reducedMotion: 'reduce' });
    page = await newPage(context);
    posts = recordPosts(page);
  });

  afterAll(async () => {
    await context?.close().catch(() => {});
  });

  it('connects with EventSource, performs the handshake and lists the tools with their schemas', async () => {
    await page.goto(`${app!.origin}/?transport=sse`);
    await waitForStatus(page, 'ready');
    sessionId = (await page.textContent('#session-id'))!.trim();
    expect(sessionId).toMatch(uuid);

    const tools = await page.$$eval('button.tool', (buttons) => buttons.map((b) => (b as HTMLElement).dataset.tool));
    expect(tools).toEqual(['echo', 'add', 'time', 'countdown', 'whoami', 'set_motd']);
    expect(await page.textContent('#tool-count')).toBe('6');

    // The handshake, in order, exactly once: initialize, notifications/initialized, logging/setLevel, tools/list.
    expect(posts.map((p) => p.method)).toEqual(['initialize', 'notifications/initialized', 'logging/setLevel', 'tools/list']);
    expect(posts[0]!.url).toContain(`/mcp/messages?sessionId=${sessionId}`);

    // Arguments are pre-filled from the input schema (defaults when the schema has them).
    await selectTool(page, 'countdown');
    expect(JSON.parse(await page.inputValue('#call-args'))).toEqual({ from: 5, intervalMs: 500 });
    expect(await page.textContent('#call-schema')).toContain('"intervalMs"');
    await selectTool(page, 'add');
    expect(JSON.parse(await page.inputValue('#call-args'))).toEqual({ a: 0, b: 0 });
  });

  it('calls add with JSON arguments and shows the result; bad JSON is reported, not sent', async () => {
    expect(await callTool(page, 'add', '{"a":2,"b":3}')).toBe('5');
    expect(texts(await logEntries(page), 'response')).toContain('tools/call add → 5');

    const before = posts.length;
    await page.fill('#call-args', '{"a": 2,');
    await page.click('#call-button');
    await expect.poll(() => page.textContent('#args-error')).toContain('Not valid JSON');
    expect(await page.getAttribute('#call-args', 'aria-invalid')).toBe('true');
    expect(posts.length).toBe(before);
  });

  it('runs countdown from the keyboard: the progress bar reaches its max and the log lines arrive', async () => {
    await selectTool(page, 'countdown');
    await page.fill('#call-args', '{"from": 4, "intervalMs": 100}');
    await page.focus('#call-args');
    await page.keyboard.press('Control+Enter');
    await page.waitForFunction(() => document.getElementById('result')!.textContent!.includes('Liftoff!'));

    const bar = await page.$eval('#call-progress', (p) => ({ value: (p as HTMLProgressElement).value, max: (p as HTMLProgressElement).max }));
    expect(bar).toEqual({ value: 4, max: 4 });
    expect(await page.textContent('#progress-text')).toContain('100%');

    const entries = await logEntries(page);
    expect(texts(entries, 'log')).toEqual(['[countdown] 3…', '[countdown] 2…', '[countdown] 1…', '[countdown] 0…']);
    expect(texts(entries, 'progress')).toEqual(['1/4 · 3 left', '2/4 · 2 left', '3/4 · 1 left', '4/4 · 0 left']);
    const call = posts.find((p) => p.method === 'tools/call' && p.url.includes(sessionId));
    expect(call).toBeDefined();
  });

  it('shows a broadcast triggered by another client in the activity log, once', async () => {
    await setMotdFromAnotherClient(app!.origin, 'Broadcast from the other client');
    await expect.poll(async () => (await logEntries(page)).filter((e) => e.method === 'notifications/resources/list_changed').length).toBe(1);
    const entry = (await logEntries(page)).find((e) => e.kind === 'broadcast')!;
    expect(entry.text).toContain('Resources changed');
  });

  it('renders cleanly at 1280×800 in legacy mode too', async () => {
    await callTool(page, 'echo', '{"text": "layout check"}');
    await expectCleanLayout(page);
    expect(await page.isChecked('input[name="transport"][value="sse"]')).toBe(true);
  });

  it('resumes a stream the server cuts: "reconnecting…" then "resumed", same session, no handshake, every message once', async () => {
    const statsBefore = await app!.stats();
    const postsBefore = posts.length;
    await page.click('#clear-log');
    await recordStatus(page);

    // A countdown that runs across the cut: steps during the gap are replayed, later ones arrive live.
    await selectTool(page, 'countdown');
    await page.fill('#call-args', '{"from": 10, "intervalMs": 600}');
    await page.click('#call-button');
    await page.waitForFunction(() => (document.getElementById('call-progress') as HTMLProgressElement).value >= 1);

    expect((await app!.cutStreams(['sse'])).cut).toBe(1);
    await waitForStatus(page, 'reconnecting', 5_000);
    // While the page is away: a broadcast it must get exactly once, from the replay.
    await setMotdFromAnotherClient(app!.origin, 'Changed while the stream was cut');
    await waitForStatus(page, 'resumed', 15_000); // EventSource waits the server's retry: (5 s) first
    await page.waitForFunction(() => document.getElementById('result')!.textContent!.includes('Liftoff!'), undefined, { timeout: 15_000 });

    expect((await page.textContent('#session-id'))!.trim()).toBe(sessionId);
    expect(await page.textContent('#status-pill')).toBe('resumed');
    const history = await statusHistory(page);
    expect(history.indexOf('reconnecting…')).toBeGreaterThan(-1);
    expect(history.lastIndexOf('resumed')).toBeGreaterThan(history.indexOf('reconnecting…'));

    // No second handshake: the only POST since is the tools/call.
    expect(posts.slice(postsBefore).map((p) => p.method)).toEqual(['tools/call']);

    const entries = await logEntries(page);
    const steps = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0];
    expect(texts(entries, 'log')).toEqual(steps.map((n) => `[countdown] ${n}…`));
    expect(texts(entries, 'progress')).toEqual(steps.map((n, i) => `${i + 1}/10 · ${n} left`));
    expect(texts(entries, 'response')).toEqual(['tools/call countdown → Liftoff!']);
    expect(texts(entries, 'broadcast')).toHaveLength(1);
    expect(texts(entries, 'stream')).toEqual(['Stream dropped: reconnecting…', `Stream resumed: session ${sessionId} kept, missed messages follow`]);
    // Every received message once: no event id twice, and the broadcast came from the replay, after the resume.
    const eventIds = entries.filter((e) => e.eventId !== undefined).map((e) => e.eventId);
    expect(new Set(eventIds).size).toBe(eventIds.length);
    const resumedAt = entries.findIndex((e) => e.text.startsWith('Stream resumed'));
    expect(entries.findIndex((e) => e.kind === 'broadcast')).toBeGreaterThan(resumedAt);
    const bar = await page.$eval('#call-progress', (p) => [(p as HTMLProgressElement).value, (p as HTMLProgressElement).max]);
    expect(bar).toEqual([10, 10]);

    // The server agrees: one resume, no new session.
    const statsAfter = await app!.stats();
    expect(statsAfter.resumed! - statsBefore.resumed!).toBe(1);
    expect(statsAfter.opened! - statsBefore.opened!).toBe(1); // the other client's session only
  });

  it('starts over when the resume is refused (server restarted): new session, handshake again, and says so', async () => {
    await page.click('#clear-log');
    const postsBefore = posts.length;
    await app!.restart(); // SIGTERM drains (streams end with a retry: hint); the new process knows no sessions
    await waitForStatus(page, 'ready', 20_000);

    const newSessionId = (await page.textContent('#session-id'))!.trim();
    expect(newSessionId).toMatch(uuid);
    expect(newSessionId).not.toBe(sessionId);
    expect(await page.textContent('#status-detail')).toContain('New session');
    const entries = await logEntries(page);
    expect(texts(entries, 'notice')).toEqual([`Resume refused: the server opened a new session ${newSessionId}; initializing again`]);
    expect(posts.slice(postsBefore).map((p) => p.method)).toEqual(['initialize', 'notifications/initialized', 'logging/setLevel', 'tools/list']);
    expect(await page.$$eval('button.tool', (b) => b.length)).toBe(6);
    expect(await callTool(page, 'add', '{"a":40,"b":2}')).toBe('42');
    sessionId = newSessionId;
  });
});

describe('browser console with API_KEY', () => {
  let keyed: ExampleApp;

  beforeAll(async () => {
    keyed = await startExampleApp({ API_KEY: 'browser-test-key-123' });
    extraApps.push(keyed);
  });

  it('Streamable HTTP: says a key is needed, then sends it as X-API-Key on every POST, GET and DELETE', async () => {
    const context = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await newPage(context);
      const requests = recordMcpRequests(page);

      await page.goto(`${keyed.origin}/`);
      await waitForStatus(page, 'error');
      expect(await page.textContent('#status-pill')).toBe('refused');
      await expect.poll(() => page.textContent('#status-detail')).toContain('needs an API key');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('api-key');
      expect(requests.map((r) => [r.httpMethod, r.rpcMethod])).toEqual([['POST', 'initialize']]);
      expect(requests[0]!.headers['x-api-key']).toBeUndefined();

      await page.fill('#api-key', 'browser-test-key-123');
      await page.press('#api-key', 'Enter');
      await waitForStatus(page, 'ready');
      expect(await callTool(page, 'whoami', '{}')).toContain('"clientId":"api-key-user"');
      await page.click('#disconnect-button');
      await expect.poll(() => requests.filter((r) => r.httpMethod === 'DELETE').length).toBe(1);

      const keyedRequests = requests.slice(1);
      expect(new Set(keyedRequests.map((r) => r.httpMethod))).toEqual(new Set(['POST', 'GET', 'DELETE']));
      for (const request of keyedRequests) {
        expect(request.headers['x-api-key']).toBe('browser-test-key-123');
        expect(request.url).not.toContain('api_key'); // a header, never the URL
      }
      // A wrong key is refused and said so.
      await page.fill('#api-key', 'not-the-key');
      await page.press('#api-key', 'Enter');
      await waitForStatus(page, 'error');
      expect(await page.textContent('#status-detail')).toContain('HTTP 401: the API key was refused.');
    } finally {
      await context.close();
    }
  });

  it('HTTP+SSE: says a key is needed, then sends it as ?api_key= on the stream and X-API-Key on the POSTs', async () => {
    const context = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await newPage(context);
      const posts = recordPosts(page);
      const streams: string[] = [];
      page.on('request', (r) => r.url().includes('/mcp/sse') && streams.push(r.url()));

      await page.goto(`${keyed.origin}/?transport=sse`);
      await waitForStatus(page, 'error');
      await expect.poll(() => page.textContent('#status-detail')).toContain('needs an API key');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('api-key');

      await page.fill('#api-key', 'browser-test-key-123');
      await page.press('#api-key', 'Enter');
      await waitForStatus(page, 'ready');
      expect(new URL(streams.at(-1)!).searchParams.get('api_key')).toBe('browser-test-key-123');
      expect(posts.length).toBeGreaterThan(0);
      for (const post of posts) {
        expect(post.headers['x-api-key']).toBe('browser-test-key-123');
        expect(post.url).not.toContain('api_key'); // the key never leaks into the endpoint URL
      }
      expect(await callTool(page, 'whoami', '{}')).toContain('"clientId":"api-key-user"');
    } finally {
      await context.close();
    }
  });
});

describe('cross-origin pages (CORS_ORIGINS)', () => {
  /** A page that opens the app's stream with EventSource and initializes over a cross-origin POST. */
  const probePage = (appOrigin: string) => `<!doctype html><meta charset="utf-8"><title>cross-origin probe</title>
<script type="module">
  const sseUrl = new URL('/mcp/sse', ${JSON.stringify(appOrigin)});
  window.probe = new Promise((resolve) => {
    const messages = [];
    const source = new EventSource(sseUrl);
    source.addEventListener('message', (event) => {
      messages.push(JSON.parse(event.data));
      if (messages.some((m) => m.id === 1)) { source.close(); resolve({ endpoint, status, messages }); }
    });
    let endpoint, status;
    source.addEventListener('endpoint', async (event) => {
      endpoint = event.data;
      try {
        const response = await fetch(new URL(event.data, sseUrl), {
          method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'probe', version: '1' } } }),
        });
        status = response.status;
      } catch (error) { source.close(); resolve({ endpoint, postError: String(error) }); }
    });
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) resolve({ streamError: 'closed', endpoint });
    });
  });
  window.fetchProbe = () => fetch(new URL('/mcp/messages?sessionId=x', sseUrl), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })
    .then((r) => ({ status: r.status }), (error) => ({ error: String(error) }));
</script>`;

  it('lets an allowed origin stream and POST, and the browser refuses an origin not on the list', async () => {
    const allowed = allowedSite;
    allowed.setHtml(probePage(app!.origin));
    const denied = await serveHtml(probePage(app!.origin));
    sites.push(denied);

    const context = await browser!.newContext();
    try {
      const consoleErrors: string[] = [];
      const okPage = await newPage(context);
      await okPage.goto(`${allowed.origin}/`);
      const ok = (await okPage.evaluate(() => (window as unknown as { probe: Promise<Record<string, unknown>> }).probe)) as {
        endpoint: string;
        status: number;
        messages: { id?: number; result?: { serverInfo?: { name: string } } }[];
      };
      expect(ok.endpoint).toMatch(/^\/mcp\/messages\?sessionId=[0-9a-f-]{36}$/);
      expect(ok.status).toBe(202);
      expect(ok.messages.find((m) => m.id === 1)?.result?.serverInfo?.name).toBe('express-mcp-sse-example');

      const badPage = await newPage(context);
      badPage.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
      await badPage.goto(`${denied.origin}/`);
      const bad = (await badPage.evaluate(() => (window as unknown as { probe: Promise<Record<string, unknown>> }).probe)) as Record<string, unknown>;
      expect(bad).toEqual({ streamError: 'closed', endpoint: undefined });
      const fetched = (await badPage.evaluate(() =>
        (window as unknown as { fetchProbe: () => Promise<Record<string, unknown>> }).fetchProbe(),
      )) as Record<string, unknown>;
      expect(fetched.error).toMatch(/TypeError: Failed to fetch/);
      await expect.poll(() => consoleErrors.filter((t) => t.includes('blocked by CORS policy')).length).toBeGreaterThanOrEqual(2);
    } finally {
      await context.close();
    }
  });
});

describe('page health', () => {
  it('threw no uncaught errors in any page', () => {
    expect(pageErrors).toEqual([]);
  });
});
