package main

import (
	"context"
	"log/slog"

	"voicetoken/internal/check"
	"voicetoken/internal/smoke"
)

const smokeUsage = `Usage: voicetoken smoke [flags]

Joins a real LiveKit room with two participants, end to end (what to
check after a token rotation: connect, join, one round trip), and prints
each step with its time:

  tokens       two tokens for a fresh room smoke-<run>, for
               voicetoken-smoke-a-<run> and voicetoken-smoke-b-<run>
               (<run> is random: runs sharing a --room never collide)
  join a/b     each participant joins over LiveKit's signal WebSocket
               (time = join time)
  webrtc       each one's two peer connections up, data channels open
  presence     each sees the other in the room (LiveKit announces
               participants that publish no media in batches: up to 3s)
  data         A sends B a message on the reliable data channel
  round trip   B answers A; the detail gives the round-trip time
  agent        with --agent NAME: A's token dispatches the agent (room
               config); a participant of kind agent must join within
               --agent-timeout
  agent audio  with --agent-audio: the agent publishes an audio track
  leave        A leaves, B sees it go (up to 3s, as above), B leaves

After a failed step the rest are skipped. When LiveKit refuses the join
(a wrong secret: 401) the detail gives LiveKit's own reason. Tokens are
never printed, only fingerprints.

Exit: 0 every step ok, 1 a step failed, 3 usage. The table is coloured on
a terminal (not with NO_COLOR), plain when piped; --json prints one JSON
object.

--timeout bounds joining, the round trip and leaving; the agent's wait
has its own --agent-timeout on top.

Examples:
  LIVEKIT_URL=ws://127.0.0.1:7880 voicetoken smoke
  voicetoken smoke --livekit-url wss://lk.example.com --env-file /etc/voicetoken/livekit.env --json
  voicetoken smoke --agent voice-agent --agent-audio --agent-timeout 20s`

func runSmoke(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "smoke", smokeUsage)
	var (
		kf           keyFlags
		livekitURL   = fs.String("livekit-url", "", "LiveKit server URL, ws(s):// or http(s):// (env LIVEKIT_URL)")
		room         = fs.String("room", "", "room to join (default: a fresh smoke-<random>)")
		agent        = fs.String("agent", "", "dispatch this agent into the room and wait for it to join")
		agentTimeout = fs.Duration("agent-timeout", smoke.DefaultAgentTimeout, "with --agent: how long to wait for the agent (and its audio)")
		agentAudio   = fs.Bool("agent-audio", false, "with --agent: also wait for the agent to publish an audio track")
		timeout      = fs.Duration("timeout", smoke.DefaultTimeout, "bound on joining, the round trip and leaving")
		asJSON       = fs.Bool("json", false, "print the results as JSON")
		verbose      = fs.Bool("v", false, "log WebRTC events to stderr (JSON)")
	)
	kf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageErr("unexpected argument %q", fs.Arg(0))
	case *timeout <= 0:
		return usageErr("--timeout must be positive")
	case *agentTimeout <= 0:
		return usageErr("--agent-timeout must be positive")
	case *agentAudio && *agent == "":
		return usageErr("--agent-audio needs --agent NAME")
	}
	lk, err := kf.livekitURL(e, *livekitURL, "")
	if err != nil {
		return usageErr("%v", err)
	}
	if *livekitURL = lk; lk == "" {
		return usageErr("no LiveKit URL: set LIVEKIT_URL or --livekit-url (LIVEKIT_URL in the --env-file counts too)")
	}
	if _, err := check.HTTPURL(*livekitURL); err != nil {
		return usageErr("LiveKit URL: %v", err)
	}
	set, err := kf.load(e, true)
	if err != nil {
		return err
	}
	logLevel := slog.LevelWarn
	if *verbose {
		logLevel = slog.LevelDebug
	}
	results := smoke.Run(ctx, smoke.Config{
		URL: *livekitURL, Key: set.Primary(), Room: *room, Timeout: *timeout,
		Agent: *agent, AgentTimeout: *agentTimeout, AgentAudio: *agentAudio,
		Version: version(), Now: e.now,
		Logger: slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: logLevel})),
	})
	if err := writeResults(e, "STEP", results, *asJSON, false, false); err != nil {
		return err
	}
	if code := check.ExitCode(results, false); code != 0 {
		return &exitError{code: code}
	}
	return nil
}
