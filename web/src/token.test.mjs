// Unit tests for token.js: `cd web && npm test` (node --test, no browser).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeClaims,
  disconnectText,
  endpointMessage,
  endpointStatus,
  expiryText,
  humanDuration,
  idTokenFrom,
  initials,
  redact,
  refusal,
} from './token.js';

const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
const jwt = (payload) => `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(payload)}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk`;
const NOT_ALLOWED = 0; // livekit-client's ConnectionErrorReason.NotAllowed

test('decodeClaims reads what the page shows', async (t) => {
  const cases = [
    {
      name: 'full LiveKit token',
      token: jwt({
        sub: 'user-1',
        name: 'Ada',
        exp: 2000,
        nbf: 1000,
        video: { roomJoin: true, room: 'support' },
        roomConfig: { agents: [{ agentName: 'support-agent' }] },
      }),
      want: { identity: 'user-1', name: 'Ada', room: 'support', agents: ['support-agent'], exp: 2000, nbf: 1000 },
    },
    {
      name: 'no grants, no agents',
      token: jwt({ sub: 'u', exp: 5 }),
      want: { identity: 'u', name: '', room: '', agents: [], exp: 5, nbf: 0 },
    },
    {
      name: 'wrong types are ignored',
      token: jwt({ sub: 7, exp: '5', video: 'x', roomConfig: { agents: 'no' } }),
      want: { identity: '', name: '', room: '', agents: [], exp: 0, nbf: 0 },
    },
    {
      name: 'unicode name',
      token: jwt({ sub: 'u', name: 'Zoë 🎙', exp: 1 }),
      want: { identity: 'u', name: 'Zoë 🎙', room: '', agents: [], exp: 1, nbf: 0 },
    },
  ];
  for (const c of cases) {
    await t.test(c.name, () => assert.deepEqual(decodeClaims(c.token), c.want));
  }
});

test('decodeClaims refuses what is not a JWT', async (t) => {
  const cases = [
    { name: 'not a string', token: null },
    { name: 'two parts', token: 'a.b' },
    { name: 'empty payload', token: 'a..c' },
    { name: 'not base64url', token: 'a.b+c/d.e' },
    { name: 'not JSON', token: `a.${Buffer.from('nope').toString('base64url')}.c` },
    { name: 'JSON but not an object', token: `a.${b64url(42)}.c` },
    { name: 'JSON null', token: `a.${b64url(null)}.c` },
  ];
  for (const c of cases) {
    await t.test(c.name, () => assert.throws(() => decodeClaims(c.token)));
  }
});

test('humanDuration matches voicetoken token.HumanDuration', async (t) => {
  const cases = [
    { name: 'zero', s: 0, want: '0s' },
    { name: 'seconds', s: 42.9, want: '42s' },
    { name: 'minutes', s: 5 * 60 + 32, want: '5m 32s' },
    { name: 'hours', s: 23 * 3600 + 59 * 60 + 59, want: '23h 59m' },
    { name: 'just under three days', s: 71 * 3600, want: '71h 0m' },
    { name: 'days', s: 3 * 86400 + 4 * 3600, want: '3d 4h' },
    { name: 'negative', s: -90, want: '1m 30s' },
  ];
  for (const c of cases) {
    await t.test(c.name, () => assert.equal(humanDuration(c.s), c.want));
  }
});

test('expiryText', async (t) => {
  const cases = [
    { name: 'in the future', exp: 1000, nowMs: 940_000, want: 'expires in 1m 0s' },
    { name: 'expired', exp: 1000, nowMs: 1_012_500, want: 'expired 12s ago' },
    { name: 'exactly now counts as expired', exp: 1000, nowMs: 1_000_000, want: 'expired 0s ago' },
    { name: 'no exp', exp: 0, nowMs: 1, want: 'no expiry' },
  ];
  for (const c of cases) {
    await t.test(c.name, () => assert.equal(expiryText(c.exp, c.nowMs), c.want));
  }
});

test('refusal sorts refused tokens from other failures', async (t) => {
  const endpointErr = (status, body = '{}') =>
    new Error(`Error generating token from endpoint /api/token: received ${status} / ${body}`);
  const lkErr = (reason, status) => Object.assign(new Error('could not establish signal connection'), { name: 'ConnectionError', reason, status });
  const cases = [
    { name: 'endpoint 401', err: endpointErr(401), want: 401 },
    { name: 'endpoint 403', err: endpointErr(403), want: 403 },
    { name: 'endpoint 429 is not a refusal', err: endpointErr(429), want: 0 },
    { name: 'endpoint 500 is not a refusal', err: endpointErr(500), want: 0 },
    { name: 'network error', err: new TypeError('Failed to fetch'), want: 0 },
    { name: 'LiveKit NotAllowed 401', err: lkErr(NOT_ALLOWED, 401), want: 401 },
    { name: 'LiveKit NotAllowed 403', err: lkErr(NOT_ALLOWED, 403), want: 403 },
    { name: 'LiveKit NotAllowed without status', err: lkErr(NOT_ALLOWED, undefined), want: 401 },
    { name: 'LiveKit unreachable', err: lkErr(1, undefined), want: 0 },
    { name: 'nothing', err: undefined, want: 0 },
  ];
  for (const c of cases) {
    await t.test(c.name, () => assert.equal(refusal(c.err, NOT_ALLOWED), c.want));
  }
});

test('endpointStatus and endpointMessage read the endpoint error', async (t) => {
  const cases = [
    {
      name: 'voicetoken error JSON',
      err: new Error('Error generating token from endpoint /api/token: received 403 / {"error":"room \\"x\\" is not allowed","code":"room_not_allowed"}'),
      status: 403,
      message: 'room "x" is not allowed',
    },
    { name: 'message key', err: new Error('x: received 400 / {"message":"bad"}'), status: 400, message: 'bad' },
    { name: 'body not JSON', err: new Error('x: received 502 / <html>'), status: 502, message: '' },
    { name: 'other error', err: new Error('Failed to fetch'), status: 0, message: '' },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      assert.equal(endpointStatus(c.err), c.status);
      assert.equal(endpointMessage(c.err), c.message);
    });
  }
});

test('redact removes tokens from messages', async (t) => {
  const tok = jwt({ sub: 'user-1', exp: 1 });
  const cases = [
    { name: 'signal URL', text: `WebSocket connection to 'ws://h/rtc/v1?access_token=${tok}&join_request=abc' failed`, bad: tok },
    { name: 'bare token', text: `invalid token: ${tok}, error: signature is invalid`, bad: tok },
    { name: 'URL-encoded token', text: `ws://h/rtc?access_token=${encodeURIComponent(tok)}`, bad: tok.slice(0, 20) },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const out = redact(c.text);
      assert.ok(!out.includes(c.bad), out);
    });
  }
  await t.test('plain text is kept', () => assert.equal(redact('room "x" is not allowed'), 'room "x" is not allowed'));
});

test('disconnectText', async (t) => {
  const cases = [
    { name: 'client', reason: 'CLIENT_INITIATED', want: 'you left the room' },
    { name: 'duplicate', reason: 'DUPLICATE_IDENTITY', want: 'someone else joined with the same identity' },
    { name: 'unknown', reason: undefined, want: 'the connection ended' },
    { name: 'new reason', reason: 'SOMETHING_NEW', want: 'something new' },
  ];
  for (const c of cases) {
    await t.test(c.name, () => assert.equal(disconnectText(c.reason), c.want));
  }
});

test('initials', async (t) => {
  const cases = [
    { name: 'two words', in: 'Ada Lovelace', want: 'AL' },
    { name: 'one word', in: 'grace', want: 'GR' },
    { name: 'identity', in: 'user-1f2e', want: 'U1' },
    { name: 'empty', in: '  ', want: '?' },
    { name: 'emoji', in: '🎙 Host', want: '🎙H' },
  ];
  for (const c of cases) {
    await t.test(c.name, () => assert.equal(initials(c.in), c.want));
  }
});

test('idTokenFrom finds the ID token where the app keeps it', () => {
  const tok = jwt({ iss: 'https://login.example.com', sub: 'u1' });
  const store = {
    sessionStorage: { 'voicetoken.id_token': tok, 'oidc.user:https://login.example.com:app': JSON.stringify({ id_token: tok, access_token: 'x' }), junk: 'not a token', json: '{"id_token":"nope"}' },
    localStorage: { kept: ` ${tok}\n` },
  };
  const read = (s, k) => store[s][k] ?? null;
  for (const c of [
    { name: 'meta tag wins', meta: tok, hook: 'sessionStorage:junk', want: tok },
    { name: 'sessionStorage, the token itself', meta: '', hook: 'sessionStorage:voicetoken.id_token', want: tok },
    { name: "oidc-client-ts's User JSON", meta: null, hook: 'sessionStorage:oidc.user:https://login.example.com:app', want: tok },
    { name: 'localStorage, trimmed', meta: undefined, hook: 'localStorage:kept', want: tok },
    { name: 'nothing stored', meta: '', hook: 'sessionStorage:missing', want: '' },
    { name: 'not a token', meta: 'hello', hook: 'sessionStorage:junk', want: '' },
    { name: 'JSON without a JWT', meta: '', hook: 'sessionStorage:json', want: '' },
    { name: 'no hook', meta: '', hook: '', want: '' },
    { name: 'another place', meta: '', hook: 'cookie:x', want: '' },
  ]) {
    assert.equal(idTokenFrom(c.meta, c.hook, read), c.want, c.name);
  }
  assert.equal(idTokenFrom('', 'sessionStorage:x', () => { throw new Error('SecurityError'); }), '', 'storage disabled');
});
