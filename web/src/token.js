// Pure helpers for the voice agent page: reading a LiveKit access token's
// claims for display, formatting its remaining life, and sorting failures
// into "the token was refused" (worth one fresh token and a retry) and
// everything else. No DOM, no clock of its own: callers pass `now` so the
// functions are tested with `node --test` (see token.test.mjs).

// decodeClaims returns what the page shows about a token: identity, name,
// room, agent dispatches and expiry. It decodes the payload only (the
// server and LiveKit verify the signature); the raw token is never kept.
export function decodeClaims(jwt) {
  if (typeof jwt !== 'string') throw new Error('token is not a string');
  const parts = jwt.split('.');
  if (parts.length !== 3 || parts[1] === '') throw new Error('token is not a JWT');
  let payload;
  try {
    payload = JSON.parse(base64urlDecode(parts[1]));
  } catch {
    throw new Error('token payload is not JSON');
  }
  if (payload === null || typeof payload !== 'object') throw new Error('token payload is not an object');
  const video = payload.video && typeof payload.video === 'object' ? payload.video : {};
  const agents = Array.isArray(payload.roomConfig?.agents)
    ? payload.roomConfig.agents.map((a) => a?.agentName ?? a?.agent_name ?? '').filter(Boolean)
    : [];
  return {
    identity: str(payload.sub),
    name: str(payload.name),
    room: str(video.room),
    agents,
    exp: num(payload.exp),
    nbf: num(payload.nbf),
  };
}

function str(v) {
  return typeof v === 'string' ? v : '';
}

function num(v) {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function base64urlDecode(s) {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new Error('not base64url');
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4);
  const bin = atob(b64);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

// humanDuration formats seconds as voicetoken's CLI does (token.HumanDuration):
// "3d 4h", "23h 59m", "5m 32s", "42s".
export function humanDuration(seconds) {
  let s = Math.floor(Math.abs(seconds));
  const day = 86400;
  if (s >= 3 * day) return `${Math.floor(s / day)}d ${Math.floor((s % day) / 3600)}h`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${s}s`;
}

// expiryText is the session panel's line for a token: "expires in 5m 32s"
// or, once past, "expired 12s ago". nowMs is milliseconds since the epoch.
export function expiryText(exp, nowMs) {
  if (!exp) return 'no expiry';
  const left = exp - Math.floor(nowMs / 1000);
  return left > 0 ? `expires in ${humanDuration(left)}` : `expired ${humanDuration(-left)} ago`;
}

// refusal tells whether err means the token (or the request for one) was
// refused: an HTTP 401/403 from our token endpoint, or LiveKit's
// ConnectionError with reason NotAllowed (pass livekit-client's
// ConnectionErrorReason.NotAllowed). It returns the HTTP status (401 when
// LiveKit gives none) or 0 when err is some other failure.
//
// It reads err.reason, not err.reasonName: Room.connect re-wraps the
// signal error as ServerUnreachable and copies only reason and status over.
export function refusal(err, notAllowedReason) {
  if (!err) return 0;
  if (err.name === 'ConnectionError' && err.reason === notAllowedReason) {
    return err.status === 403 ? 403 : 401;
  }
  const status = endpointStatus(err);
  return status === 401 || status === 403 ? status : 0;
}

// endpointStatus reads the HTTP status out of the error that livekit-client's
// TokenSource.endpoint throws ("Error generating token from endpoint URL:
// received 401 / BODY"); 0 when err is not such an error.
export function endpointStatus(err) {
  const m = /received (\d{3}) \//.exec(String(err?.message ?? ''));
  return m ? Number(m[1]) : 0;
}

// endpointMessage returns the server's public message from a token endpoint
// error whose body is JSON like {"error":"..."} or {"message":"..."}, or ''.
export function endpointMessage(err) {
  const msg = String(err?.message ?? '');
  const i = msg.indexOf(' / ');
  if (i < 0 || !/received \d{3} \//.test(msg)) return '';
  const body = msg.slice(i + 3).trim();
  try {
    const j = JSON.parse(body);
    const m = j?.error?.message ?? j?.error ?? j?.message;
    return typeof m === 'string' ? m.slice(0, 200) : '';
  } catch {
    return '';
  }
}

// disconnectText turns LiveKit's DisconnectReason name (e.g.
// "DUPLICATE_IDENTITY") into a sentence for the state line.
export function disconnectText(reasonName) {
  switch (reasonName) {
    case 'CLIENT_INITIATED':
      return 'you left the room';
    case 'DUPLICATE_IDENTITY':
      return 'someone else joined with the same identity';
    case 'SERVER_SHUTDOWN':
      return 'the LiveKit server shut down';
    case 'PARTICIPANT_REMOVED':
      return 'you were removed from the room';
    case 'ROOM_DELETED':
    case 'ROOM_CLOSED':
      return 'the room was closed';
    case 'STATE_MISMATCH':
      return 'the connection got out of sync';
    case 'JOIN_FAILURE':
      return 'joining the room failed';
    case 'MIGRATION':
      return 'the session moved to another server';
    case 'SIGNAL_CLOSE':
      return 'the signalling connection closed';
    case 'CONNECTION_TIMEOUT':
      return 'the connection timed out';
    case 'MEDIA_FAILURE':
      return 'the media connection failed';
    case 'AGENT_ERROR':
      return 'the agent failed';
    case undefined:
    case null:
    case '':
    case 'UNKNOWN_REASON':
      return 'the connection ended';
    default:
      return String(reasonName).toLowerCase().replace(/_/g, ' ');
  }
}

// initials returns up to two letters for a participant's avatar.
export function initials(name) {
  const words = String(name ?? '').trim().split(/[\s._-]+/).filter(Boolean);
  if (words.length === 0) return '?';
  const letters = words.length === 1 ? [...words[0]].slice(0, 2) : [[...words[0]][0], [...words[words.length - 1]][0]];
  return letters.join('').toUpperCase();
}

// redact removes anything token-shaped from text before the page shows or
// logs it: livekit-client's error messages carry the signal URL with
// ?access_token=..., and LiveKit's own answers repeat the token.
export function redact(text) {
  return String(text ?? '')
    .replace(/access_token=[^&\s"']*/g, 'access_token=[redacted]')
    .replace(/[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, '[token]');
}

// idTokenFrom finds the signed-in user's OpenID Connect ID token, which
// the page sends to /api/token as "Authorization: Bearer". The app that
// signed the user in says where it keeps it, in one of two ways:
//   - meta: the content of <meta name="voicetoken-id-token"> (an app that
//     renders the page itself may put the token there);
//   - hook: /api/config's "id_token" field, "sessionStorage:KEY" or
//     "localStorage:KEY" (serve --page-id-token); the stored value is the
//     token, or JSON with an id_token field (oidc-client-ts keeps its User
//     so, under "oidc.user:<authority>:<client_id>").
// read(storageName, key) returns the stored string or null. The result is
// '' when there is no token, or what is found is not JWT-shaped.
export function idTokenFrom(meta, hook, read) {
  if (isJWT(meta)) return meta.trim();
  const m = /^(sessionStorage|localStorage):(.+)$/.exec(String(hook ?? ''));
  if (!m) return '';
  let v;
  try {
    v = read(m[1], m[2]);
  } catch {
    return ''; // storage disabled (privacy mode, sandboxed frame)
  }
  if (typeof v !== 'string') return '';
  if (isJWT(v)) return v.trim();
  try {
    const j = JSON.parse(v);
    return isJWT(j?.id_token) ? j.id_token.trim() : '';
  } catch {
    return '';
  }
}

function isJWT(v) {
  return typeof v === 'string' && /^\s*[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\s*$/.test(v);
}
