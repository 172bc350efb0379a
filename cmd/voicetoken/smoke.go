package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
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

// smokeFlags are the parsed flags of `smoke`.
type smokeFlags struct {
	keys                                 keyFlags
	livekitURL, room, agent, say, record string
	agentTimeout, voiceTimeout, timeout  time.Duration
	rooms                                int
	agentAudio, asJSON, verbose          bool
}

func (f *smokeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.livekitURL, "livekit-url", "", "LiveKit server URL, ws(s):// or http(s):// (env LIVEKIT_URL)")
	fs.StringVar(&f.room, "room", "", "room to join (default: a fresh smoke-<random>)")
	fs.StringVar(&f.agent, "agent", "", "dispatch this agent into the room and wait for it to join")
	fs.DurationVar(&f.agentTimeout, "agent-timeout", smoke.DefaultAgentTimeout, "with --agent: how long to wait for the agent to join")
	fs.BoolVar(&f.agentAudio, "agent-audio", false, "with --agent: kept for old scripts; hearing the agent is now part of --agent")
	fs.DurationVar(&f.voiceTimeout, "voice-timeout", smoke.DefaultVoiceTimeout, "with --agent: how long the agent may stay silent before its greeting and its reply")
	fs.StringVar(&f.say, "say", "", "with --agent: Ogg/Opus file to speak, one packet per page (default: a built-in 2.65s phrase)")
	fs.StringVar(&f.record, "record", "", "with --agent: directory to write the agent's greeting and reply to, as Ogg/Opus")
	fs.IntVar(&f.rooms, "rooms", 1, "run this many sessions at once, each in a fresh room")
	fs.DurationVar(&f.timeout, "timeout", smoke.DefaultTimeout, "bound on joining, the round trip and leaving")
	fs.BoolVar(&f.asJSON, "json", false, "print the results as JSON")
	fs.BoolVar(&f.verbose, "v", false, "log WebRTC events to stderr (JSON)")
	f.keys.register(fs)
}

// smokeConfig is what the flags of `smoke` resolve to.
type smokeConfig struct {
	keys keyFlags
	// run lacks Key: the keys are loaded after the flags are checked.
	run    smoke.Config
	rooms  int
	asJSON bool
}

// parseSmokeFlags turns smoke's arguments and environment into its
// config.
func parseSmokeFlags(e *env, args []string) (smokeConfig, error) {
	fs := newFlagSet(e, "smoke", smokeUsage)
	var f smokeFlags
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return smokeConfig{}, err
	}
	return f.config(e, fs.Args())
}

// config resolves the flags and LIVEKIT_URL, reads --say and looks at
// --record, returning every problem at once as one usage error.
func (f *smokeFlags) config(e *env, args []string) (smokeConfig, error) {
	problems := f.conflicts(args)
	var clip []byte
	if f.say != "" {
		b, err := readSmall(f.say, 1<<20)
		if err != nil {
			problems = append(problems, fmt.Errorf("--say: %w", err))
		}
		clip = b
	}
	if f.record != "" {
		if fi, err := os.Stat(f.record); err != nil || !fi.IsDir() {
			problems = append(problems, fmt.Errorf("--record %s: not a directory", f.record))
		}
	}
	lk, err := f.liveKitURL(e)
	if err != nil {
		problems = append(problems, err)
	}
	logLevel := slog.LevelWarn
	if f.verbose {
		logLevel = slog.LevelDebug
	}
	c := smokeConfig{
		keys: f.keys, rooms: f.rooms, asJSON: f.asJSON,
		run: smoke.Config{
			URL: lk, Room: f.room, Timeout: f.timeout,
			Agent: f.agent, AgentTimeout: f.agentTimeout, AgentAudio: f.agentAudio,
			VoiceTimeout: f.voiceTimeout, Say: clip, RecordDir: f.record,
			Version: version(), Now: e.now,
			Logger: slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: logLevel})),
		},
	}
	if len(problems) > 0 {
		return c, &exitError{code: exitUsage, err: errors.Join(problems...)}
	}
	return c, nil
}

// conflicts are the problems of the flags taken together, in the order
// -h lists them.
func (f *smokeFlags) conflicts(args []string) []error {
	var problems []error
	if len(args) > 0 {
		problems = append(problems, fmt.Errorf("unexpected argument %q", args[0]))
	}
	needAgent := f.agent == ""
	for _, c := range []struct {
		bad bool
		msg string
	}{
		{f.timeout <= 0, "--timeout must be positive"},
		{f.agentTimeout <= 0, "--agent-timeout must be positive"},
		{f.agentAudio && needAgent, "--agent-audio needs --agent NAME"},
		{f.voiceTimeout <= 0, "--voice-timeout must be positive"},
		{(f.say != "" || f.record != "") && needAgent, "--say and --record need --agent NAME"},
		{f.rooms < 1 || f.rooms > maxSmokeRooms, fmt.Sprintf("--rooms must be between 1 and %d", maxSmokeRooms)},
		{f.rooms > 1 && f.room != "", "--rooms needs fresh rooms: drop --room"},
	} {
		if c.bad {
			problems = append(problems, errors.New(c.msg))
		}
	}
	return problems
}

// liveKitURL is the LiveKit URL to join: --livekit-url, else
// LIVEKIT_URL from the environment or the --env-file. One is required.
func (f *smokeFlags) liveKitURL(e *env) (string, error) {
	lk, err := f.keys.livekitURL(e, f.livekitURL, "")
	if err != nil {
		return "", err
	}
	if lk == "" {
		return "", errors.New("no LiveKit URL: set LIVEKIT_URL or --livekit-url (LIVEKIT_URL in the --env-file counts too)")
	}
	if _, err := check.HTTPURL(lk); err != nil {
		return "", fmt.Errorf("LiveKit URL: %w", err)
	}
	return lk, nil
}

func runSmoke(ctx context.Context, e *env, args []string) error {
	c, err := parseSmokeFlags(e, args)
	if err != nil {
		return err
	}
	set, err := c.keys.load(e, true)
	if err != nil {
		return err
	}
	cfg := c.run
	cfg.Key = set.Primary()
	if err := cfg.Validate(); err != nil {
		return usageErr("%v", err)
	}
	outs := smoke.RunRooms(ctx, cfg, c.rooms)
	if err := writeSmoke(e, outs, c.asJSON); err != nil {
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
	switch {
	case len(outs) == 1 && asJSON:
		o := outs[0]
		return writeIndentedJSON(e.stdout, smokeReport{Report: check.NewReport(o.Results, e.now(), false), Figures: figuresOf(o)})
	case len(outs) == 1:
		if err := check.WriteTableTitled(e.stdout, "STEP", outs[0].Results, useColour(e)); err != nil {
			return err
		}
		return writeVoiceLines(e.stdout, outs[0].Figures)
	case asJSON:
		return writeIndentedJSON(e.stdout, roomsJSON(outs, e.now()))
	default:
		return writeRoomsTable(e.stdout, outs)
	}
}

// writeIndentedJSON writes v as indented JSON.
func writeIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// roomsJSON is --json for several rooms: each room's report and the
// summary.
func roomsJSON(outs []smoke.Outcome, now time.Time) map[string]any {
	load := smoke.Summarize(outs)
	rooms := make([]smokeReport, len(outs))
	for i, o := range outs {
		rooms[i] = smokeReport{Report: check.NewReport(o.Results, now, false), Room: o.Room, Figures: figuresOf(o)}
	}
	return map[string]any{
		"rooms": rooms,
		"summary": map[string]any{
			"rooms": load.Rooms, "ok": load.Rooms - load.Failed, "failed": load.Failed, "failures": load.Failures,
			"join": spreadOf(load.Join), "greeting": spreadOf(load.Greeting), "reply_latency": spreadOf(load.Reply),
		},
	}
}

// writeRoomsTable prints a line per room, then the spread of each
// figure and the count of failed rooms.
func writeRoomsTable(w io.Writer, outs []smoke.Outcome) error {
	load := smoke.Summarize(outs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROOM\tRESULT\tJOIN\tGREETING\tREPLY")
	for _, o := range outs {
		f := o.Figures
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.Room, roomResult(o), figure(f.HasJoin, f.Join), figure(f.HasGreeting, f.Greeting), figure(f.HasReply, f.Reply))
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
	_, err := fmt.Fprintf(w, "\n%d rooms: %d ok, %d failed\n", load.Rooms, load.Rooms-load.Failed, load.Failed)
	return err
}

// roomResult is "ok", or the first failed step and its detail.
func roomResult(o smoke.Outcome) string {
	for _, r := range o.Results {
		if r.Status == check.Fail {
			return "fail at " + r.Name + ": " + r.Detail
		}
	}
	return "ok"
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
