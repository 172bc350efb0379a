package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"text/tabwriter"
	"time"

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
  greeting     A hears the agent speak within --voice-timeout of its join
               (time from its join to its first speech, and how long)
  voice round trip
               A speaks a short utterance (Opus; --say FILE.ogg for your
               own) and the agent must answer within --voice-timeout of
               its end: the reply latency, end of our speech to the
               agent's first audio, printed again under the table
  leave        A leaves, B sees it go (up to 3s, as above), B leaves

Speaking means sound, not packets: 100ms of Opus packets louder than
silence (by the RTP audio level when LiveKit forwards it, else by size:
comfort noise, DTX and digital silence are a few bytes per packet).
--record DIR keeps the agent's greeting and reply as Ogg/Opus files.
--rooms N runs N sessions at once, each in a fresh room with its own
agent job, and reports join, greeting and reply latency as p50/p95/max
with the failures; exit 1 if any room fails.

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
  voicetoken smoke --agent voice-agent --agent-timeout 20s --record /tmp/heard
  voicetoken smoke --agent voice-agent --say hello.ogg --rooms 5 --json`

func runSmoke(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "smoke", smokeUsage)
	var (
		kf           keyFlags
		livekitURL   = fs.String("livekit-url", "", "LiveKit server URL, ws(s):// or http(s):// (env LIVEKIT_URL)")
		room         = fs.String("room", "", "room to join (default: a fresh smoke-<random>)")
		agent        = fs.String("agent", "", "dispatch this agent into the room and wait for it to join")
		agentTimeout = fs.Duration("agent-timeout", smoke.DefaultAgentTimeout, "with --agent: how long to wait for the agent to join")
		agentAudio   = fs.Bool("agent-audio", false, "with --agent: kept for old scripts; hearing the agent is now part of --agent")
		voiceTimeout = fs.Duration("voice-timeout", smoke.DefaultVoiceTimeout, "with --agent: how long the agent may stay silent before its greeting and its reply")
		say          = fs.String("say", "", "with --agent: Ogg/Opus file to speak, one packet per page (default: a built-in 2.65s phrase)")
		record       = fs.String("record", "", "with --agent: directory to write the agent's greeting and reply to, as Ogg/Opus")
		rooms        = fs.Int("rooms", 1, "run this many sessions at once, each in a fresh room")
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
	case *voiceTimeout <= 0:
		return usageErr("--voice-timeout must be positive")
	case (*say != "" || *record != "") && *agent == "":
		return usageErr("--say and --record need --agent NAME")
	case *rooms < 1 || *rooms > maxSmokeRooms:
		return usageErr("--rooms must be between 1 and %d", maxSmokeRooms)
	case *rooms > 1 && *room != "":
		return usageErr("--rooms needs fresh rooms: drop --room")
	}
	var clip []byte
	if *say != "" {
		b, err := readSmall(*say, 1<<20)
		if err != nil {
			return usageErr("--say: %v", err)
		}
		clip = b
	}
	if *record != "" {
		if fi, err := os.Stat(*record); err != nil || !fi.IsDir() {
			return usageErr("--record %s: not a directory", *record)
		}
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
	cfg := smoke.Config{
		URL: *livekitURL, Key: set.Primary(), Room: *room, Timeout: *timeout,
		Agent: *agent, AgentTimeout: *agentTimeout, AgentAudio: *agentAudio,
		VoiceTimeout: *voiceTimeout, Say: clip, RecordDir: *record,
		Version: version(), Now: e.now,
		Logger: slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: logLevel})),
	}
	if err := cfg.Validate(); err != nil {
		return usageErr("%v", err)
	}
	outs := smoke.RunRooms(ctx, cfg, *rooms)
	if err := writeSmoke(e, outs, *asJSON); err != nil {
		return err
	}
	for _, o := range outs {
		if code := check.ExitCode(o.Results, false); code != 0 {
			return &exitError{code: code}
		}
	}
	return nil
}

// maxSmokeRooms bounds --rooms: each room is two participants and an
// agent job.
const maxSmokeRooms = 100

// readSmall reads a file of at most limit bytes.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is over %d bytes", path, limit)
	}
	return b, nil
}

// smokeFigures are a run's measurements in --json, in milliseconds.
type smokeFigures struct {
	JoinMS          *int64   `json:"join_ms,omitempty"`
	GreetingMS      *int64   `json:"greeting_ms,omitempty"`
	GreetingSeconds *float64 `json:"greeting_seconds,omitempty"`
	ReplyLatencyMS  *int64   `json:"reply_latency_ms,omitempty"`
	Records         []string `json:"records,omitempty"`
}

func figuresOf(o smoke.Outcome) smokeFigures {
	f := o.Figures
	ms := func(d time.Duration) *int64 { v := d.Milliseconds(); return &v }
	var out smokeFigures
	if f.HasJoin {
		out.JoinMS = ms(f.Join)
	}
	if f.HasGreeting {
		out.GreetingMS = ms(f.Greeting)
		s := math.Round(f.GreetingLength.Seconds()*100) / 100
		out.GreetingSeconds = &s
	}
	if f.HasReply {
		out.ReplyLatencyMS = ms(f.Reply)
	}
	out.Records = o.Records
	return out
}

// smokeReport is one room in --json: check's report and the figures.
type smokeReport struct {
	check.Report
	Room    string       `json:"room,omitempty"`
	Figures smokeFigures `json:"figures"`
}

type spreadJSON struct {
	N     int   `json:"n"`
	P50MS int64 `json:"p50_ms"`
	P95MS int64 `json:"p95_ms"`
	MaxMS int64 `json:"max_ms"`
}

func spreadOf(s smoke.Spread) spreadJSON {
	return spreadJSON{N: s.N, P50MS: s.P50.Milliseconds(), P95MS: s.P95.Milliseconds(), MaxMS: s.Max.Milliseconds()}
}

// writeSmoke prints one room as check's table (or report) with the
// voice figures under it; several rooms as a line each and the spread.
func writeSmoke(e *env, outs []smoke.Outcome, asJSON bool) error {
	if len(outs) == 1 {
		o := outs[0]
		if asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(smokeReport{Report: check.NewReport(o.Results, e.now(), false), Figures: figuresOf(o)})
		}
		if err := check.WriteTableTitled(e.stdout, "STEP", o.Results, useColour(e)); err != nil {
			return err
		}
		return writeVoiceLines(e.stdout, o.Figures)
	}
	load := smoke.Summarize(outs)
	if asJSON {
		rooms := make([]smokeReport, len(outs))
		for i, o := range outs {
			rooms[i] = smokeReport{Report: check.NewReport(o.Results, e.now(), false), Room: o.Room, Figures: figuresOf(o)}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"rooms": rooms,
			"summary": map[string]any{
				"rooms": load.Rooms, "ok": load.Rooms - load.Failed, "failed": load.Failed, "failures": load.Failures,
				"join": spreadOf(load.Join), "greeting": spreadOf(load.Greeting), "reply_latency": spreadOf(load.Reply),
			},
		})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROOM\tRESULT\tJOIN\tGREETING\tREPLY")
	for _, o := range outs {
		res := "ok"
		for _, r := range o.Results {
			if r.Status == check.Fail {
				res = "fail at " + r.Name + ": " + r.Detail
				break
			}
		}
		f := o.Figures
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.Room, res, figure(f.HasJoin, f.Join), figure(f.HasGreeting, f.Greeting), figure(f.HasReply, f.Reply))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "FIGURE\tROOMS\tP50\tP95\tMAX")
	for _, row := range []struct {
		name string
		s    smoke.Spread
	}{{"join", load.Join}, {"greeting", load.Greeting}, {"reply latency", load.Reply}} {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", row.name, row.s.N, figure(row.s.N > 0, row.s.P50), figure(row.s.N > 0, row.s.P95), figure(row.s.N > 0, row.s.Max))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(e.stdout, "\n%d rooms: %d ok, %d failed\n", load.Rooms, load.Rooms-load.Failed, load.Failed)
	return err
}

func figure(ok bool, d time.Duration) string {
	if !ok {
		return "-"
	}
	return check.FormatDuration(d)
}

// writeVoiceLines repeats the voice figures under the table, where an
// operator looks first.
func writeVoiceLines(w io.Writer, f smoke.Figures) error {
	if f.HasGreeting {
		if _, err := fmt.Fprintf(w, "\ngreeting: %s after the agent joined, %.2fs long\n", check.FormatDuration(f.Greeting), f.GreetingLength.Seconds()); err != nil {
			return err
		}
	}
	if f.HasReply {
		if _, err := fmt.Fprintf(w, "reply latency: %s (end of our speech to the agent's first audio)\n", check.FormatDuration(f.Reply)); err != nil {
			return err
		}
	}
	return nil
}
