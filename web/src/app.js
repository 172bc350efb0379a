// The voice agent page. It lists the rooms the server offers
// (GET /api/rooms), and on every Connect asks our own server for a fresh
// LiveKit token through livekit-client's TokenSource.endpoint('/api/token')
// (the standard token endpoint contract), then joins the room with it.
//
// Token handling, on purpose:
//   - No token is ever written into the page, the DOM or storage. Each
//     attempt builds its own TokenSource, so the SDK's token cache dies with
//     the attempt; the page keeps only the decoded claims it displays
//     (identity, room, agent, expiry).
//   - Behind a login (/api/config "login"), the server chooses the
//     identity and name from it: the page sends no name, hides the field,
//     and shows the identity it was given. With OIDC it sends the user's
//     ID token as "Authorization: Bearer", read where the app keeps it
//     (idTokenFrom) at each attempt, never copied; behind a forward-auth
//     proxy it sends nothing: the proxy vouches for the user.
//   - If the token is refused (HTTP 401/403 from /api/token, or LiveKit's
//     NotAllowed), the page fetches a new one once and retries, then says
//     plainly what failed.
// The page runs under `Content-Security-Policy: script-src 'self'`: no
// inline scripts or handlers, no inline style attributes.
import {
  ConnectionErrorReason,
  ConnectionState,
  DisconnectReason,
  Room,
  RoomEvent,
  Track,
  TokenSource,
  setLogLevel,
} from 'livekit-client';
import {
  decodeClaims,
  disconnectText,
  endpointMessage,
  endpointStatus,
  expiryText,
  idTokenFrom,
  initials,
  redact,
  refusal,
} from './token.js';

const NOT_ALLOWED = ConnectionErrorReason.NotAllowed;

const NAME_KEY = 'voicetoken.displayName';

const $ = (id) => document.getElementById(id);
const ui = {
  state: $('state'),
  stateLabel: $('state-label'),
  form: $('join-form'),
  roomsFieldset: $('rooms-fieldset'),
  rooms: $('rooms'),
  name: $('name'),
  nameField: $('name-field'),
  signedIn: $('signed-in'),
  connect: $('connect'),
  disconnect: $('disconnect'),
  mic: $('mic'),
  micLabel: $('mic-label'),
  alert: $('alert'),
  alertTitle: $('alert-title'),
  alertDetail: $('alert-detail'),
  startAudio: $('start-audio'),
  participants: $('participants'),
  count: $('participant-count'),
  empty: $('empty'),
  session: $('session'),
  sessionIdentity: $('session-identity'),
  sessionRoom: $('session-room'),
  sessionAgent: $('session-agent'),
  sessionExpiry: $('session-expiry'),
  serverUrl: $('server-url'),
  audioSink: $('audio-sink'),
  participantTpl: $('participant-tpl'),
};

const page = {
  // login: '' (anyone), 'oidc' or 'forward_auth'; id_token: where the
  // app keeps the ID token ("sessionStorage:KEY"), for 'oidc'.
  config: { server_url: '', login: '', id_token: '' },
  rooms: [],
  room: null, // the joined Room, or null
  pending: null, // the Room being joined, or null
  attempt: 0, // bumps on every Connect / Disconnect so stale callbacks stand down
  claims: null, // decoded claims of the current token (never the token)
  leaving: false,
};

// ---- connection state line -------------------------------------------------

const STATE_LABELS = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  disconnected: 'Disconnected',
  failed: 'Connection failed',
};

function setState(state, detail = '') {
  ui.state.dataset.state = state;
  ui.stateLabel.textContent = detail ? `${STATE_LABELS[state]} · ${detail}` : STATE_LABELS[state];
  const live = state === 'connecting' || state === 'connected' || state === 'reconnecting';
  ui.connect.hidden = live;
  ui.disconnect.hidden = !live;
  ui.roomsFieldset.disabled = live;
  ui.name.disabled = live;
  ui.mic.disabled = state !== 'connected' && state !== 'reconnecting';
  updateConnectEnabled();
  document.body.dataset.state = state;
}

function updateConnectEnabled() {
  ui.connect.disabled = !selectedRoom();
}

function showAlert(title, detail = '', tone = 'error') {
  ui.alert.dataset.tone = tone;
  ui.alertTitle.textContent = title;
  ui.alertDetail.textContent = detail;
  ui.alert.hidden = false;
}

function clearAlert() {
  ui.alert.hidden = true;
  ui.alertTitle.textContent = '';
  ui.alertDetail.textContent = '';
}

// ---- rooms -------------------------------------------------------------------

async function getJSON(url) {
  const res = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

async function loadConfig() {
  try {
    const cfg = await getJSON('/api/config');
    const str = (v) => (typeof v === 'string' ? v : '');
    page.config = { server_url: str(cfg?.server_url), login: str(cfg?.login), id_token: str(cfg?.id_token) };
  } catch {
    page.config = { server_url: '', login: '', id_token: '' };
  }
  if (page.config.login) {
    // The server takes identity and name from the login: nothing to type.
    ui.nameField.hidden = true;
    ui.signedIn.hidden = false;
    ui.signedIn.textContent = 'Signed in: your identity comes from your login.';
  }
  ui.serverUrl.textContent = page.config.server_url || 'from the token server';
}

async function loadRooms() {
  let rooms = [];
  try {
    const body = await getJSON('/api/rooms');
    rooms = Array.isArray(body?.rooms) ? body.rooms.filter((r) => r && typeof r.name === 'string' && r.name) : [];
  } catch (err) {
    ui.rooms.replaceChildren(note('The room list could not be loaded.'));
    ui.rooms.removeAttribute('aria-busy');
    showAlert('Could not load the rooms', `${err.message}. Reload the page to try again.`);
    return;
  }
  page.rooms = rooms;
  ui.rooms.removeAttribute('aria-busy');
  if (rooms.length === 0) {
    ui.rooms.replaceChildren(note('No rooms are configured on this server.'));
    return;
  }
  const remembered = sessionStorage.getItem('voicetoken.room');
  const pick = rooms.some((r) => r.name === remembered) ? remembered : rooms[0].name;
  ui.rooms.replaceChildren(...rooms.map((r) => roomOption(r, r.name === pick)));
  updateConnectEnabled();
}

function note(text) {
  const p = document.createElement('p');
  p.className = 'rooms-note';
  p.textContent = text;
  return p;
}

function roomOption(r, checked) {
  const label = document.createElement('label');
  label.className = 'room-option';
  label.dataset.room = r.name;

  const input = document.createElement('input');
  input.type = 'radio';
  input.name = 'room';
  input.value = r.name;
  input.checked = checked;
  input.addEventListener('change', () => {
    sessionStorage.setItem('voicetoken.room', r.name);
    updateConnectEnabled();
  });

  const card = document.createElement('span');
  card.className = 'room-card';
  const top = document.createElement('span');
  top.className = 'room-top';
  const name = document.createElement('span');
  name.className = 'room-name';
  name.textContent = r.name;
  top.append(name);
  if (r.agent) {
    const agent = document.createElement('span');
    agent.className = 'tag tag-agent';
    agent.textContent = r.agent;
    agent.title = 'Agent dispatched when you join';
    top.append(agent);
  }
  card.append(top);
  if (r.description) {
    const desc = document.createElement('span');
    desc.className = 'room-desc';
    desc.textContent = r.description;
    card.append(desc);
  }
  label.append(input, card);
  return label;
}

function selectedRoom() {
  const input = ui.rooms.querySelector('input[name="room"]:checked');
  return input ? page.rooms.find((r) => r.name === input.value) ?? null : null;
}

// ---- connect / disconnect ----------------------------------------------------

async function connect() {
  const choice = selectedRoom();
  if (!choice || page.room || page.pending) return;
  const name = ui.name.value.trim().slice(0, 64) || 'Guest';
  localStorage.setItem(NAME_KEY, ui.name.value.trim());
  const attempt = ++page.attempt;
  clearAlert();
  setState('connecting', 'getting a fresh token');

  const login = page.config.login;
  const options = login ? { roomName: choice.name } : { roomName: choice.name, participantName: name };
  if (choice.agent) options.agentName = choice.agent;

  let failure = null;
  for (let round = 1; round <= 2; round++) {
    if (attempt !== page.attempt) return; // the user pressed Disconnect
    failure = null;
    // A new TokenSource per try: force a fetch, and let its cache go with it.
    const init = { credentials: 'same-origin', cache: 'no-store' };
    if (login === 'oidc') {
      const idToken = currentIdToken();
      if (!idToken) {
        failure = { stage: 'login' };
        break;
      }
      init.headers = { Authorization: `Bearer ${idToken}` };
    }
    const source = TokenSource.endpoint('/api/token', init);
    let creds;
    try {
      creds = await source.fetch(options, true);
    } catch (err) {
      failure = { stage: 'token', err };
      if (round === 1 && refusal(err, NOT_ALLOWED)) {
        setState('connecting', 'token refused, asking for a new one');
        continue;
      }
      break;
    }
    if (attempt !== page.attempt) return;

    try {
      page.claims = decodeClaims(creds.participantToken);
    } catch {
      page.claims = null;
    }
    renderSession();

    const room = newRoom(attempt);
    const url = creds.serverUrl || page.config.server_url;
    setState('connecting', `joining ${choice.name}`);
    try {
      page.pending = room;
      await room.connect(url, creds.participantToken, { autoSubscribe: true });
      page.pending = null;
      page.room = room;
    } catch (err) {
      page.pending = null;
      room.removeAllListeners();
      failure = { stage: 'livekit', err, url };
      // Never log err.message: LiveKit puts the token in it.
      console.warn('voicetoken: join failed:', err?.name, err?.reason ?? '', err?.status ?? '');
      if (attempt !== page.attempt) return;
      if (round === 1 && refusal(err, NOT_ALLOWED)) {
        setState('connecting', 'LiveKit refused the token, asking for a new one');
        continue;
      }
      break;
    } finally {
      creds = null; // the SDK holds what it needs; the page keeps no token
    }
    break;
  }

  if (attempt !== page.attempt) return;
  if (failure) {
    reportFailure(failure);
    return;
  }

  setState('connected', choice.name);
  renderParticipants();
  try {
    await page.room?.startAudio();
  } catch {
    /* shown through AudioPlaybackStatusChanged */
  }
  await setMic(true);
}

// sentence capitalises a server message and ends it with a full stop.
function sentence(text) {
  const t = text.trim();
  if (!t) return '';
  return t[0].toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? '' : '.');
}

// currentIdToken reads the user's ID token where the app keeps it.
function currentIdToken() {
  const meta = document.querySelector('meta[name="voicetoken-id-token"]')?.content ?? '';
  const stores = { sessionStorage: () => sessionStorage, localStorage: () => localStorage };
  return idTokenFrom(meta, page.config.id_token, (s, k) => stores[s]().getItem(k));
}

function reportFailure({ stage, err, url }) {
  setState('failed');
  // A refused or unused token's claims would only mislead.
  page.claims = null;
  renderSession();
  if (stage === 'login') {
    showAlert('You are not signed in', 'Sign in to the app first, then connect: this server gives tokens to signed-in users only.');
    return;
  }
  if (stage === 'token') {
    const status = endpointStatus(err);
    const said = sentence(redact(endpointMessage(err)));
    if (status === 401 && page.config.login) {
      showAlert('Your sign-in was not accepted', `${said || 'HTTP 401.'} Sign in again, then connect.`);
    } else if (status === 401 || status === 403) {
      showAlert(
        'The token server refused the request',
        `${said || `HTTP ${status}.`} A second, fresh request was refused too; check that this room and name are allowed.`,
      );
    } else if (status) {
      showAlert('Could not get a token', `${said || `The token server answered HTTP ${status}.`} Try again in a moment.`);
    } else {
      showAlert('Could not reach the token server', 'Check your connection and that voicetoken is running, then try again.');
    }
    return;
  }
  if (refusal(err, NOT_ALLOWED)) {
    showAlert(
      'LiveKit refused the token',
      'Two fresh tokens were rejected. The token server and LiveKit probably disagree on the API key or secret (or a clock is off); run `voicetoken check` on the server.',
    );
    return;
  }
  if (err?.name === 'ConnectionError' && err.reason === ConnectionErrorReason.Cancelled) {
    setState('disconnected', 'you cancelled');
    return;
  }
  showAlert(
    `Could not reach LiveKit${url ? ` at ${url}` : ''}`,
    err?.message ? redact(err.message).slice(0, 240) : 'The connection failed.',
  );
}

async function disconnect() {
  const room = page.room ?? page.pending;
  page.attempt++;
  page.leaving = true;
  try {
    await room?.disconnect(true);
  } finally {
    page.leaving = false;
  }
  // Normally the Disconnected event has done this; a join cut short has none.
  if (page.room === room || ui.state.dataset.state !== 'disconnected') {
    page.room = null;
    page.pending = null;
    ui.audioSink.replaceChildren();
    setState('disconnected', disconnectText('CLIENT_INITIATED'));
    renderParticipants();
    renderMic();
  }
}

function newRoom(attempt) {
  const room = new Room({ adaptiveStream: true, dynacast: true, disconnectOnPageLeave: true });
  // Events count while this room is being joined or joined; tracks can
  // arrive before room.connect resolves. A failed join's Disconnected is
  // handled by connect() itself (joined() is false then).
  const mine = (fn) => (...args) => {
    if (page.room === room || page.pending === room) fn(...args);
  };
  const joined = (fn) => (...args) => {
    if (page.room === room) fn(...args);
  };
  room
    .on(RoomEvent.Reconnecting, mine(() => setState('reconnecting')))
    .on(RoomEvent.SignalReconnecting, mine(() => setState('reconnecting')))
    .on(RoomEvent.Reconnected, mine(() => setState('connected', room.name)))
    .on(
      RoomEvent.Disconnected,
      joined((reason) => {
        page.room = null;
        ui.audioSink.replaceChildren();
        ui.startAudio.hidden = true;
        const name = reason === undefined ? 'CLIENT_INITIATED' : DisconnectReason[reason];
        if (attempt === page.attempt || page.leaving) setState('disconnected', disconnectText(name));
        renderParticipants();
        renderMic();
      }),
    )
    .on(RoomEvent.ParticipantConnected, mine(renderParticipants))
    .on(RoomEvent.ParticipantDisconnected, mine(renderParticipants))
    .on(RoomEvent.ParticipantNameChanged, mine(renderParticipants))
    .on(RoomEvent.ActiveSpeakersChanged, mine(renderParticipants))
    .on(RoomEvent.TrackMuted, mine(renderParticipants))
    .on(RoomEvent.TrackUnmuted, mine(renderParticipants))
    .on(RoomEvent.TrackPublished, mine(renderParticipants))
    .on(RoomEvent.TrackUnpublished, mine(renderParticipants))
    .on(RoomEvent.LocalTrackPublished, mine(() => (renderParticipants(), renderMic())))
    .on(RoomEvent.LocalTrackUnpublished, mine(() => (renderParticipants(), renderMic())))
    .on(
      RoomEvent.TrackSubscribed,
      mine((track) => {
        if (track.kind === Track.Kind.Audio) ui.audioSink.append(track.attach());
        renderParticipants();
      }),
    )
    .on(
      RoomEvent.TrackUnsubscribed,
      mine((track) => {
        track.detach().forEach((el) => el.remove());
        renderParticipants();
      }),
    )
    .on(
      RoomEvent.AudioPlaybackStatusChanged,
      mine(() => {
        ui.startAudio.hidden = room.canPlaybackAudio;
      }),
    )
    .on(
      RoomEvent.MediaDevicesError,
      mine((err) => showAlert('Microphone unavailable', micProblem(err), 'warn')),
    );
  return room;
}

// ---- microphone ----------------------------------------------------------------

async function setMic(on) {
  const room = page.room;
  if (!room || room.state !== ConnectionState.Connected) return;
  ui.mic.disabled = true;
  try {
    await room.localParticipant.setMicrophoneEnabled(on);
  } catch (err) {
    showAlert('Microphone unavailable', micProblem(err), 'warn');
  } finally {
    ui.mic.disabled = page.room === null;
    renderMic();
    renderParticipants();
  }
}

function micProblem(err) {
  if (err?.name === 'NotAllowedError') return 'The browser blocked the microphone. Allow it in the address bar, then turn it on again.';
  if (err?.name === 'NotFoundError') return 'No microphone was found. You can still listen.';
  return 'The microphone could not be started. You can still listen.';
}

function renderMic() {
  const on = !!page.room?.localParticipant.isMicrophoneEnabled;
  ui.mic.setAttribute('aria-pressed', String(on));
  ui.mic.dataset.on = String(on);
  ui.micLabel.textContent = on ? 'Microphone on' : 'Microphone off';
}

// ---- participants --------------------------------------------------------------

function renderParticipants() {
  const room = page.room;
  const people = room ? [room.localParticipant, ...room.remoteParticipants.values()] : [];
  people.sort((a, b) => rank(a) - rank(b) || (a.joinedAt?.getTime() ?? 0) - (b.joinedAt?.getTime() ?? 0));
  ui.participants.replaceChildren(...people.map((p) => participantItem(p, p === room.localParticipant)));
  ui.count.textContent = String(people.length);
  ui.empty.hidden = people.length > 0;
}

function rank(p) {
  if (p === page.room?.localParticipant) return 0;
  return p.isAgent ? 1 : 2;
}

function participantItem(p, isLocal) {
  const li = ui.participantTpl.content.firstElementChild.cloneNode(true);
  const display = p.name || p.identity;
  li.dataset.identity = p.identity;
  li.dataset.speaking = String(p.isSpeaking);
  li.dataset.agent = String(!!p.isAgent);
  li.dataset.local = String(isLocal);
  li.dataset.mic = String(p.isMicrophoneEnabled);
  li.querySelector('.avatar-letters').textContent = initials(display);
  li.querySelector('.p-name').textContent = display;
  const meta = [p.identity];
  if (isLocal) meta.push('you');
  li.querySelector('.p-meta').textContent = meta.join(' · ');
  li.querySelector('.tag-agent').hidden = !p.isAgent;
  li.querySelector('.speaking').hidden = !p.isSpeaking;
  li.querySelector('.muted').hidden = p.isMicrophoneEnabled;
  li.setAttribute(
    'aria-label',
    `${display}${isLocal ? ' (you)' : ''}${p.isAgent ? ', agent' : ''}${p.isSpeaking ? ', speaking' : ''}${p.isMicrophoneEnabled ? '' : ', microphone off'}`,
  );
  return li;
}

// ---- session panel -------------------------------------------------------------

function renderSession() {
  const c = page.claims;
  ui.session.hidden = !c;
  if (!c) return;
  ui.sessionIdentity.textContent = c.identity || '—';
  if (page.config.login && c.identity) ui.signedIn.textContent = `Signed in as ${c.identity}`;
  ui.sessionRoom.textContent = c.room || '—';
  ui.sessionAgent.textContent = c.agents.length ? c.agents.join(', ') : 'none';
  tickExpiry();
}

function tickExpiry() {
  const c = page.claims;
  if (!c) return;
  const now = Date.now();
  const text = expiryText(c.exp, now);
  const expired = c.exp && c.exp * 1000 <= now;
  ui.sessionExpiry.dataset.expired = String(!!expired);
  ui.sessionExpiry.textContent = expired
    ? page.room
      ? `${text}; the session stays up`
      : `${text}; Connect fetches a new one`
    : text;
}

// ---- start -----------------------------------------------------------------------

function start() {
  // ?debug shows livekit-client's debug log in the console (tokens redacted by the SDK).
  if (new URLSearchParams(location.search).has('debug')) setLogLevel('debug');
  ui.name.value = localStorage.getItem(NAME_KEY) ?? '';
  ui.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    connect();
  });
  ui.disconnect.addEventListener('click', () => disconnect());
  ui.mic.addEventListener('click', () => setMic(!page.room?.localParticipant.isMicrophoneEnabled));
  ui.startAudio.addEventListener('click', async () => {
    await page.room?.startAudio();
    ui.startAudio.hidden = !!page.room?.canPlaybackAudio;
  });
  setInterval(tickExpiry, 1000);
  setState('idle');
  renderParticipants();
  renderMic();
  loadConfig();
  loadRooms();
}

start();
