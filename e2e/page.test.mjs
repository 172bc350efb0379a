// End-to-end test of the voice agent page: Debian's Chromium, driven by
// playwright-core, opens the page from a running `voicetoken serve` and
// joins rooms on a real LiveKit server. scripts/e2e.sh starts both servers
// and runs this file; it can also be run by hand:
//
//   BASE_URL=http://127.0.0.1:9000 TOKEN_TTL=15 node e2e/page.test.mjs
//
// Environment:
//   BASE_URL    voicetoken serve's address (required)
//   TOKEN_TTL   the server's default token validity in seconds; the
//               "after the TTL" test waits this long (default 15)
//   OUT_DIR     where screenshots go (default ../out/e2e)
//   CHROMIUM    the browser (default /usr/bin/chromium; never downloaded)
//
// Tokens are kept in memory only to compare them; nothing here prints one.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE_URL = process.env.BASE_URL;
const TOKEN_TTL = Number(process.env.TOKEN_TTL || 15);
const OUT_DIR = path.resolve(process.env.OUT_DIR || path.join(here, '..', 'out', 'e2e'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP_TIMEOUT = 20_000; // one wait for the page to reach a state

if (!BASE_URL) {
  console.error('e2e: BASE_URL is required (the address of voicetoken serve)');
  process.exit(2);
}
fs.mkdirSync(OUT_DIR, { recursive: true });

// ---- a tiny runner: tests run in order and share the browser -------------------

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

class AssertionError extends Error {}
function assert(cond, msg) {
  if (!cond) throw new AssertionError(msg);
}

// ---- browser and helpers -------------------------------------------------------

// Playwright starts Chromium with a new, empty --user-data-dir of its own
// (and refuses one in args); it deletes it on close.
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    '--autoplay-policy=no-user-gesture-required',
  ],
});

// Everything the page did wrong, across all pages: uncaught errors, console
// errors (CSP violations among them) and failed same-origin requests.
const pageProblems = [];

// openPage opens the page in a fresh context (its own storage, like a
// second person) and records every token the server hands it.
// expectRefusals: this page is handed refused tokens on purpose, so the
// browser's own 401/403 console errors are expected there (and only there).
async function openPage(label, { viewport = { width: 1280, height: 860 }, expectRefusals = false } = {}) {
  const context = await browser.newContext({ viewport, permissions: ['microphone'] });
  const page = await context.newPage();
  const tokens = []; // {token, exp}; compared, never printed
  page.on('pageerror', (err) => pageProblems.push(`${label}: page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (expectRefusals) {
      // The browser logs the refused token request or LiveKit's refused
      // signal WebSocket (and its 401 validate request).
      if (/status of 40[13]/.test(text)) return;
      if (/^WebSocket connection to 'ws:\/\/[^']*\/rtc\//.test(text)) return;
    }
    pageProblems.push(`${label}: console error: ${redact(text).slice(0, 300)}`);
  });
  page.on('response', async (res) => {
    if (!res.url().endsWith('/api/token') || res.request().method() !== 'POST' || !res.ok()) return;
    try {
      const body = await res.json();
      if (body.participant_token) tokens.push({ token: body.participant_token, exp: jwtExp(body.participant_token) });
    } catch {
      /* a fulfilled route in a test may have no body */
    }
  });
  const nav = await page.goto(BASE_URL + '/', { waitUntil: 'load' });
  if ((await page.locator('#join-form').count()) === 0) {
    throw new AssertionError(`${BASE_URL}/ is not the voice page (HTTP ${nav.status()}); is web.Assets() wired into voicetoken serve?`);
  }
  await page.locator('[data-testid=rooms] input[type=radio]').first().waitFor({ state: 'attached', timeout: STEP_TIMEOUT });
  return { label, context, page, tokens, nav };
}

// redact hides anything token-shaped, so no failure message prints a token.
function redact(text) {
  return String(text)
    .replace(/access_token=[^&\s'"]*/g, 'access_token=[redacted]')
    .replace(/[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, '[token]');
}

function jwtExp(jwt) {
  const payload = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
  return payload.exp;
}

async function state(p) {
  return p.page.locator('[data-testid=state]').getAttribute('data-state');
}

async function waitState(p, want, timeout = STEP_TIMEOUT) {
  try {
    await p.page.waitForSelector(`[data-testid=state][data-state="${want}"]`, { timeout, state: 'attached' });
  } catch {
    const label = await p.page.locator('#state-label').textContent();
    const alert = await p.page.locator('[data-testid=alert]').textContent();
    throw new AssertionError(`${p.label}: want state ${want}, have ${await state(p)} ("${label.trim()}"; alert: "${alert.replace(/\s+/g, ' ').trim()}")`);
  }
}

async function pickRoom(p, room) {
  await p.page.locator(`.room-option[data-room="${room}"] input`).check();
}

async function connect(p, name, room = 'test-room') {
  await pickRoom(p, room);
  await p.page.locator('[data-testid=name]').fill(name);
  await p.page.locator('[data-testid=connect]').click();
}

async function identityOf(p) {
  return (await p.page.locator('[data-testid=identity]').textContent()).trim();
}

// poll retries fn until it returns a truthy value or the deadline passes.
async function poll(what, fn, timeout = STEP_TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new AssertionError(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// assertNoTokenInPage fails if the raw token is anywhere the page could
// leak it: the DOM, localStorage or sessionStorage.
async function assertNoTokenInPage(p, token) {
  const where = await p.page.evaluate((t) => {
    const found = [];
    if (document.documentElement.outerHTML.includes(t)) found.push('the DOM');
    for (const [name, store] of [['localStorage', localStorage], ['sessionStorage', sessionStorage]]) {
      for (let i = 0; i < store.length; i++) {
        if ((store.getItem(store.key(i)) ?? '').includes(t)) found.push(name);
      }
    }
    return found;
  }, token);
  assert(where.length === 0, `${p.label}: the raw token is in ${where.join(', ')}`);
}

async function shot(p, name) {
  const file = path.join(OUT_DIR, `${name}.png`);
  await p.page.screenshot({ path: file, fullPage: true });
  return file;
}

// ---- the tests --------------------------------------------------------------------

let ada; // first participant
let grace; // second participant
let adaFirst; // Ada's first token {token, exp}

test('the page is served with a strict Content-Security-Policy', async () => {
  ada = await openPage('ada');
  const headers = ada.nav.headers();
  const csp = headers['content-security-policy'] ?? '';
  assert(/script-src 'self'(;|$| )/.test(csp) || /script-src 'self'$/.test(csp), `CSP script-src is not 'self' only: ${csp || '(no CSP header)'}`);
  assert(!/unsafe-inline|unsafe-eval/.test(csp.match(/script-src[^;]*/)?.[0] ?? ''), `CSP allows unsafe script: ${csp}`);
  assert(/connect-src[^;]*ws:\/\/127\.0\.0\.1:7880/.test(csp), `CSP connect-src does not allow the LiveKit URL: ${csp}`);
  assert(headers['x-content-type-options'] === 'nosniff', 'X-Content-Type-Options: nosniff is missing');
  const rooms = await ada.page.locator('[data-testid=rooms] .room-option').count();
  assert(rooms >= 1, 'no room is offered');
  assert((await state(ada)) === 'idle', `initial state is ${await state(ada)}`);
});

test('Connect fetches a token and reaches "connected" on LiveKit', async () => {
  await connect(ada, 'Ada Lovelace');
  await waitState(ada, 'connected');
  assert(ada.tokens.length === 1, `want 1 token request, have ${ada.tokens.length}`);
  adaFirst = ada.tokens[0];
  const id = await identityOf(ada);
  assert(id.length > 0 && id !== '—', 'identity is not shown');
  const expiry = (await ada.page.locator('[data-testid=expiry]').textContent()).trim();
  assert(/^expires in \d+s$|^expires in \d+m \d+s$|^expires in \d+h \d+m$/.test(expiry), `expiry text is "${expiry}"`);
  await assertNoTokenInPage(ada, adaFirst.token);
  await poll('Ada in her own participant list', () => ada.page.locator(`[data-testid=participants] li[data-local=true]`).count());
});

test('a second participant appears in the list, with audio from the first', async () => {
  grace = await openPage('grace');
  await connect(grace, 'Grace Hopper');
  await waitState(grace, 'connected');
  const adaId = await identityOf(ada);
  const graceId = await identityOf(grace);
  assert(adaId !== graceId, 'both participants got the same identity');
  await poll('Grace in Ada\'s list', () => ada.page.locator(`[data-testid=participants] li[data-identity="${graceId}"]`).count());
  await poll('Ada in Grace\'s list', () => grace.page.locator(`[data-testid=participants] li[data-identity="${adaId}"]`).count());
  const name = await ada.page.locator(`li[data-identity="${graceId}"] .p-name`).textContent();
  assert(name === 'Grace Hopper', `Grace's name shows as "${name}"`);
  assert((await ada.page.locator('[data-testid=participant-count]').textContent()) === '2', 'Ada\'s count is not 2');
  // Media really flows through LiveKit: Grace receives Ada's microphone
  // track, and LiveKit (which measures the audio it receives) reports
  // Ada speaking (Chromium's fake microphone beeps).
  await poll('Ada\'s audio track on Grace\'s page', () => grace.page.locator('#audio-sink audio').count());
  await poll('Ada speaking on Grace\'s page', () => grace.page.locator(`li[data-identity="${adaId}"][data-speaking=true]`).count(), 30_000);
  await shot(ada, 'connected');
});

test('the microphone turns off and on, and the other side sees it', async () => {
  const mic = ada.page.locator('[data-testid=mic]');
  assert((await mic.getAttribute('aria-pressed')) === 'true', 'the microphone is not on after connecting');
  const adaId = await identityOf(ada);
  await mic.click();
  await poll('mic off', async () => (await mic.getAttribute('aria-pressed')) === 'false');
  await poll('Ada muted on Grace\'s page', () => grace.page.locator(`li[data-identity="${adaId}"][data-mic=false]`).count());
  await mic.click();
  await poll('mic on', async () => (await mic.getAttribute('aria-pressed')) === 'true');
  await poll('Ada unmuted on Grace\'s page', () => grace.page.locator(`li[data-identity="${adaId}"][data-mic=true]`).count());
});

test('Disconnect leaves the room', async () => {
  const adaId = await identityOf(ada);
  await ada.page.locator('[data-testid=disconnect]').click();
  await waitState(ada, 'disconnected');
  const label = await ada.page.locator('#state-label').textContent();
  assert(/you left/.test(label), `disconnect reason is "${label}"`);
  await poll('Ada gone from Grace\'s list', async () => (await grace.page.locator(`li[data-identity="${adaId}"]`).count()) === 0);
  assert((await ada.page.locator('[data-testid=participants] li').count()) === 0, 'Ada\'s list is not empty after leaving');
  await grace.page.locator('[data-testid=disconnect]').click();
  await waitState(grace, 'disconnected');
});

test('a token refused by the token server is fetched again once', async () => {
  const p = await openPage('retry-endpoint', { expectRefusals: true });
  let calls = 0;
  await p.page.route('**/api/token', async (route) => {
    calls++;
    if (calls === 1) {
      await route.fulfill({ status: 401, contentType: 'application/json', body: '{"error":"token refused (test)","code":"unauthorized"}' });
    } else {
      await route.continue();
    }
  });
  await connect(p, 'Retry One');
  await waitState(p, 'connected');
  assert(calls === 2, `want 2 token requests, have ${calls}`);
  assert(await p.page.locator('[data-testid=alert]').isHidden(), 'an error is shown after a successful retry');
  await p.context.close();
});

test('a token refused by LiveKit (NotAllowed) is replaced once', async () => {
  const p = await openPage('retry-livekit', { expectRefusals: true });
  let calls = 0;
  await p.page.route('**/api/token', async (route) => {
    calls++;
    if (calls > 1) return route.continue();
    // Hand the page a real token with a broken signature: LiveKit refuses it.
    const res = await route.fetch();
    const body = await res.json();
    const parts = body.participant_token.split('.');
    parts[2] = parts[2].slice(0, -4) + (parts[2].endsWith('AAAA') ? 'BBBB' : 'AAAA');
    body.participant_token = parts.join('.');
    await route.fulfill({ response: res, body: JSON.stringify(body) });
  });
  await connect(p, 'Retry Two');
  await waitState(p, 'connected');
  assert(calls === 2, `want 2 token requests, have ${calls}`);
  await p.context.close();
});

test('a token refused twice ends with a clear message', async () => {
  const p = await openPage('refused', { expectRefusals: true });
  let calls = 0;
  const statuses = [];
  p.page.on('response', (res) => res.url().endsWith('/api/token') && statuses.push(res.status()));
  // Ask the real server for a room its policy does not list: it refuses (403).
  await p.page.route('**/api/token', (route) => {
    calls++;
    const body = JSON.parse(route.request().postData());
    body.room_name = 'not-in-the-policy';
    return route.continue({ postData: JSON.stringify(body) });
  });
  await connect(p, 'Nobody');
  await waitState(p, 'failed');
  assert(calls === 2, `want exactly 2 token requests (one retry), have ${calls}`);
  assert(statuses.every((s) => s === 403), `the server answered ${statuses.join(', ')}, want 403s`);
  const alert = (await p.page.locator('[data-testid=alert]').textContent()).replace(/\s+/g, ' ');
  assert(/refused/.test(alert) && /not-in-the-policy/.test(alert), `unclear message: "${alert.trim()}"`);
  await shot(p, 'refused');
  await p.context.close();
});

test('Connect after the token TTL has passed works, with a fresh token', async () => {
  // Wait (with a deadline) until Ada's first token has expired.
  const waitMs = adaFirst.exp * 1000 - Date.now() + 1500;
  assert(waitMs < (TOKEN_TTL + 30) * 1000, `the server's token lives ${Math.round(waitMs / 1000)}s; start it with a short TTL (TOKEN_TTL=${TOKEN_TTL})`);
  await poll('the first token to expire', () => Date.now() > adaFirst.exp * 1000 + 1000, Math.max(waitMs, 0) + 5000);
  await poll('the page to show the token expired', async () => (await ada.page.locator('[data-testid=expiry]').getAttribute('data-expired')) === 'true');
  const before = ada.tokens.length;
  await ada.page.locator('[data-testid=connect]').click();
  await waitState(ada, 'connected');
  assert(ada.tokens.length === before + 1, `want one new token request, have ${ada.tokens.length - before}`);
  const fresh = ada.tokens[ada.tokens.length - 1];
  assert(fresh.token !== adaFirst.token, 'the page reused the old token');
  assert(fresh.exp * 1000 > Date.now(), 'the new token is already expired');
  const expiry = await ada.page.locator('[data-testid=expiry]').textContent();
  assert(/^expires in /.test(expiry.trim()), `expiry text after reconnect is "${expiry}"`);
  await assertNoTokenInPage(ada, fresh.token);
  await assertNoTokenInPage(ada, adaFirst.token);
});

test('an agent room puts its agent dispatch in the token', async () => {
  const p = await openPage('agent-room');
  const agent = await p.page.locator('.room-option[data-room="support"] .tag-agent').textContent();
  assert(agent === 'support-agent', `the support room lists agent "${agent}"`);
  await connect(p, 'Caller', 'support');
  await waitState(p, 'connected');
  const shown = (await p.page.locator('[data-testid=agent]').textContent()).trim();
  assert(shown === 'support-agent', `the token dispatches "${shown}", want support-agent`);
  await p.page.locator('[data-testid=disconnect]').click();
  await waitState(p, 'disconnected');
  await p.context.close();
});

test('the page fits a phone screen', async () => {
  const p = await openPage('phone', { viewport: { width: 390, height: 844 } });
  const overflow = await p.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert(overflow <= 0, `the page scrolls sideways by ${overflow}px on a phone`);
  await shot(p, 'phone');
  await p.context.close();
  await ada.page.locator('[data-testid=disconnect]').click();
  await waitState(ada, 'disconnected');
});

test('no page errors, CSP violations or console errors', async () => {
  assert(pageProblems.length === 0, pageProblems.join('\n'));
});

// ---- run ----------------------------------------------------------------------------

let passed = 0;
let failed = 0;
// Preflight: without the page itself every test would fail the same way.
{
  const probe = await browser.newPage();
  const res = await probe.goto(BASE_URL + '/').catch((err) => err);
  const ok = !(res instanceof Error) && (await probe.locator('#join-form').count()) > 0;
  await probe.close();
  if (!ok) {
    const why = res instanceof Error ? res.message.split('\n')[0] : `HTTP ${res.status()} but no voice page; is web.Assets() wired into voicetoken serve?`;
    console.log(`FAIL the voice page is served at ${BASE_URL}/\n     ${why}`);
    await browser.close();
    console.log('e2e: 0 passed, 1 failed');
    process.exit(1);
  }
}
for (const t of tests) {
  const started = Date.now();
  try {
    await t.fn();
    passed++;
    console.log(`ok   ${t.name} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${t.name}\n     ${redact(err?.message ?? err).split('\n').join('\n     ')}`);
  }
}
await browser.close();
console.log(`screenshots: ${OUT_DIR}`);
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
