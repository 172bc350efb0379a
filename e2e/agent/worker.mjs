// A LiveKit Agents worker for voicetoken smoke's tests: LiveKit's own agent
// framework (@livekit/agents, with its native @livekit/rtc-node), no AI
// plugins, nothing off the machine. It registers an explicit agent name
// and, on each job, joins the room and publishes one audio track. What it
// says depends on VOICETOKEN_AGENT_MODE:
//
//   talk        greets (a 1 s tone), then answers every utterance it hears
//               (energy VAD on the PCM it receives) with a 0.8 s tone
//   greet-only  greets, then never answers
//   silent      sends digital silence for ever: packets, never a sound
//
// It writes one JSON line per event to stdout and, with
// VOICETOKEN_AGENT_LOG, appends it to that file: when the greeting and each
// reply started and ended, and when it heard the end of an utterance (the
// last loud frame), so a test can put the agent's own figures beside the
// ones smoke measures. Times are wall-clock milliseconds (Date.now()).
//
//   LIVEKIT_URL=ws://127.0.0.1:7880 LIVEKIT_API_KEY=devkey LIVEKIT_API_SECRET=secret \
//   VOICETOKEN_AGENT_NAME=smoke-agent VOICETOKEN_AGENT_PORT=18081 node worker.mjs start
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AutoSubscribe, ServerOptions, cli, defineAgent } from '@livekit/agents';
import {
  AudioFrame,
  AudioSource,
  AudioStream,
  LocalAudioTrack,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
} from '@livekit/rtc-node';

const MODE = process.env.VOICETOKEN_AGENT_MODE || 'talk';
const LOG = process.env.VOICETOKEN_AGENT_LOG || '';

const RATE = 48000;
const FRAME = RATE / 100; // 10 ms
// Energy VAD on what the agent hears: a frame is loud above -40 dBFS; an
// utterance starts after 60 ms of loud frames and ends 400 ms after the
// last loud one (pauses between words are shorter).
const LOUD_DBFS = -40;
const START_MS = 60;
const HANGOVER_MS = 400;

function log(event, fields = {}) {
  const line = JSON.stringify({ t: Date.now(), event, mode: MODE, pid: process.pid, ...fields });
  console.log(line);
  if (LOG) appendFileSync(LOG, line + '\n');
}

// tone returns ms milliseconds of a sine at freq Hz, amplitude amp (0..1),
// with 5 ms ramps so that it starts and ends without a click.
function tone(freq, ms, amp) {
  const n = Math.round((RATE * ms) / 1000);
  const ramp = RATE / 200;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const env = Math.min(1, i / ramp, (n - 1 - i) / ramp);
    out[i] = Math.round(Math.sin((2 * Math.PI * freq * i) / RATE) * amp * env * 32767);
  }
  return out;
}

async function play(source, samples) {
  for (let i = 0; i + FRAME <= samples.length; i += FRAME) {
    await source.captureFrame(new AudioFrame(samples.slice(i, i + FRAME), RATE, 1, FRAME));
  }
  await source.waitForPlayout();
}

function dbfs(frame) {
  const d = frame.data;
  let sum = 0;
  for (let i = 0; i < d.length; i++) sum += d[i] * d[i];
  const rms = Math.sqrt(sum / Math.max(1, d.length)) / 32768;
  return rms > 0 ? 20 * Math.log10(rms) : -Infinity;
}

// listen runs the VAD on one remote audio track and calls onEnd(lastLoudAt)
// after each utterance. Silence is counted in audio time (frames), so a
// stall of the machine does not cut an utterance in two; a wall-clock
// fallback ends it when frames stop coming altogether.
async function listen(track, who, onEnd) {
  let loudMs = 0;
  let quietMs = 0;
  let speaking = false;
  let lastLoudAt = 0;
  const end = () => {
    speaking = false;
    loudMs = 0;
    onEnd(lastLoudAt, who);
  };
  const timer = setInterval(() => {
    if (speaking && Date.now() - lastLoudAt >= 4 * HANGOVER_MS) end();
  }, 50);
  try {
    for await (const frame of new AudioStream(track, RATE, 1)) {
      const ms = (frame.samplesPerChannel * 1000) / frame.sampleRate;
      if (dbfs(frame) >= LOUD_DBFS) {
        lastLoudAt = Date.now();
        loudMs += ms;
        quietMs = 0;
        if (!speaking && loudMs >= START_MS) {
          speaking = true;
          log('heard_speech_start', { from: who });
        }
      } else {
        quietMs += ms;
        if (!speaking) loudMs = 0;
        else if (quietMs >= HANGOVER_MS) end();
      }
    }
  } finally {
    clearInterval(timer);
  }
}

export default defineAgent({
  entry: async (ctx) => {
    await ctx.connect(undefined, AutoSubscribe.AUDIO_ONLY);
    const room = ctx.room.name;
    const source = new AudioSource(RATE, 1, 100);
    const track = LocalAudioTrack.createAudioTrack('agent-voice', source);
    const opts = new TrackPublishOptions();
    opts.source = TrackSource.SOURCE_MICROPHONE;
    const publication = await ctx.room.localParticipant.publishTrack(track, opts);
    log('published', { room });
    // Greet once someone hears the track, as a voice agent greets the
    // user who is there: sound sent before the first subscriber is lost.
    await publication.waitForSubscription();
    log('subscribed', { room });

    if (MODE === 'silent') {
      const zeros = new Int16Array(FRAME);
      for (;;) {
        if (!ctx.room.isConnected) return;
        await source.captureFrame(new AudioFrame(zeros, RATE, 1, FRAME));
      }
    }

    let busy = Promise.resolve();
    const say = (what, samples) => {
      busy = busy.then(async () => {
        log(`${what}_start`, { room });
        await play(source, samples);
        log(`${what}_end`, { room });
      });
      return busy;
    };
    if (MODE === 'talk') {
      const heard = (lastLoudAt, who) => {
        log('heard_end_of_speech', { room, from: who, speech_end: lastLoudAt });
        say('reply', tone(660, 800, 0.5));
      };
      const follow = (t, participant) => {
        if (t.kind === TrackKind.KIND_AUDIO) listen(t, participant.identity, heard).catch(() => {});
      };
      ctx.room.on(RoomEvent.TrackSubscribed, (t, _pub, participant) => follow(t, participant));
      for (const p of ctx.room.remoteParticipants.values()) {
        for (const pub of p.trackPublications.values()) {
          if (pub.track) follow(pub.track, p);
        }
      }
    }
    await say('greeting', tone(440, 1000, 0.5));
  },
});

cli.runApp(
  new ServerOptions({
    agent: fileURLToPath(import.meta.url),
    agentName: process.env.VOICETOKEN_AGENT_NAME || 'voicetoken-smoke-agent',
    // Its health server: a free port from the test, never the default 8081.
    port: Number(process.env.VOICETOKEN_AGENT_PORT || 0),
    host: '127.0.0.1',
    // A fixed low load: on a busy 2-core machine the real CPU figure makes
    // LiveKit stop dispatching ("no servers available").
    loadFunc: async () => 0.05,
    loadThreshold: 0.95,
    // One job process kept warm; starting one (Node and the native
    // rtc-node) takes seconds on a loaded machine, far over the default
    // 10 s limit when several workers start at once.
    numIdleProcesses: Number(process.env.VOICETOKEN_AGENT_IDLE ?? 1),
    initializeProcessTimeout: 120 * 1000,
  }),
);
