package smoke

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"voicetoken/internal/check"
	"voicetoken/internal/token"
)

// Defaults for a zero Config field.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultAgentTimeout = 30 * time.Second
	DefaultVoiceTimeout = 10 * time.Second
)

// identityPrefix starts the two participants' identities,
// voicetoken-smoke-a-<run> and voicetoken-smoke-b-<run>, where <run> is
// the run's random id, also the suffix of a fresh room's name. Two runs
// given the same --room (two monitors, an overlapping cron) so never take
// each other's identity, which LiveKit answers by disconnecting the first
// holder (DUPLICATE_IDENTITY). The prefix reads well in LiveKit's logs.
const (
	identityPrefix = "voicetoken-smoke-"
	dataTopic      = "voicetoken-smoke"
)

// leaveTimeout bounds the clean leave, and cleanup after a failure.
const leaveTimeout = 5 * time.Second

// ErrNoAgent means no participant of kind agent joined in time.
var ErrNoAgent = errors.New("no agent joined")

// Config is one smoke run.
type Config struct {
	// URL is LiveKit's URL as clients use it: ws://, wss://, http:// or
	// https://. Required.
	URL string
	// Key signs the two participants' tokens. Required.
	Key *token.Key
	// Room is the room to join; empty means a fresh "smoke-<random>",
	// which is what a smoke test wants: nobody else is in it.
	Room string
	// Timeout bounds everything but the agent's wait: joining, the round
	// trip and leaving (DefaultTimeout if zero).
	Timeout time.Duration
	// Agent, when set, is dispatched into the room by participant A's
	// token (roomConfig) and must join as a participant of kind agent
	// within AgentTimeout (DefaultAgentTimeout if zero).
	Agent        string
	AgentTimeout time.Duration
	// AgentAudio is kept for old callers: hearing the agent is part of
	// every run with an Agent.
	AgentAudio bool
	// VoiceTimeout bounds the wait for the agent's greeting (from its
	// join) and for its reply (from the end of our utterance);
	// DefaultVoiceTimeout if zero.
	VoiceTimeout time.Duration
	// Say is the utterance, an Ogg/Opus file with one packet per page;
	// nil means the embedded "Hello, this is the voicetoken smoke test."
	Say []byte
	// RecordDir, when set, receives the agent's greeting and reply as
	// Ogg/Opus files, <room>-greeting.ogg and <room>-reply.ogg.
	RecordDir string
	// Version is sent to LiveKit as the client's version.
	Version string
	// Now is the clock for durations and tokens; nil means time.Now.
	Now func() time.Time
	// Rand supplies the room name and message nonces; nil means
	// crypto/rand.
	Rand io.Reader
	// Logger receives debug events (WebRTC state, pion's warnings);
	// nil discards them.
	Logger *slog.Logger
	// HTTPClient does the WebSocket handshake and /rtc/validate; nil
	// means an HTTP/1.1 client without proxy. Its Timeout must be zero.
	HTTPClient *http.Client
}

// Validate reports every problem with the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("no LiveKit URL: set LIVEKIT_URL or --livekit-url"))
	} else if _, err := parseEndpoint(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("LiveKit URL: %w", err))
	}
	if c.Key == nil {
		errs = append(errs, errors.New("no API key to sign the participants' tokens"))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("timeout must not be negative"))
	}
	if c.AgentTimeout < 0 {
		errs = append(errs, errors.New("agent timeout must not be negative"))
	}
	if c.AgentAudio && c.Agent == "" {
		errs = append(errs, errors.New("waiting for the agent's audio needs an agent name"))
	}
	if c.VoiceTimeout < 0 {
		errs = append(errs, errors.New("voice timeout must not be negative"))
	}
	if c.Say != nil {
		if _, err := loadUtterance(c.Say); err != nil {
			errs = append(errs, fmt.Errorf("utterance: %w", err))
		}
	}
	if c.RecordDir != "" && c.Agent == "" {
		errs = append(errs, errors.New("recording the agent needs an agent name"))
	}
	return errors.Join(errs...)
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.Timeout == 0 {
		out.Timeout = DefaultTimeout
	}
	if out.AgentTimeout == 0 {
		out.AgentTimeout = DefaultAgentTimeout
	}
	if out.VoiceTimeout == 0 {
		out.VoiceTimeout = DefaultVoiceTimeout
	}
	if out.Say == nil {
		out.Say = defaultUtterance
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	if out.Rand == nil {
		out.Rand = rand.Reader
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if out.HTTPClient == nil {
		out.HTTPClient = newSignalClient()
	}
	if out.Version == "" {
		out.Version = "voicetoken"
	}
	return out
}

// Steps of a run, in order; the agent steps only with Config.Agent.
const (
	StepTokens    = "tokens"
	StepJoinA     = "join a"
	StepJoinB     = "join b"
	StepWebRTC    = "webrtc"
	StepPresence  = "presence"
	StepData      = "data"
	StepRoundTrip = "round trip"
	StepAgent     = "agent"
	StepGreeting  = "greeting"
	StepVoice     = "voice round trip"
	StepLeave     = "leave"
)

// Figures are what a run measured, for reports over many rooms; a figure
// is valid when its Has field is set.
type Figures struct {
	Join           time.Duration // participant A's join
	Greeting       time.Duration // the agent's join to its first speech
	GreetingLength time.Duration // how long the greeting lasted
	Reply          time.Duration // the end of our utterance to the agent's first speech
	HasJoin        bool
	HasGreeting    bool
	HasReply       bool
}

// Outcome is one run: a result per step and the figures.
type Outcome struct {
	Room    string
	Results []check.Result
	Figures Figures
	// Records are the files written for RecordDir.
	Records []string
}

// run is the state the steps share.
type run struct {
	cfg      Config
	ep       endpoint
	room     string
	idA, idB string // the participants' identities
	tokA     string
	tokB     string
	a, b     *participant
	sentAt   time.Time
	nonce    []byte
	agent    participantInfo
	deadline time.Time // of the room part (Timeout)
	say      *utterance
	greeting *speech // the agent's first speech
	greetIdx int
	fig      Figures
	records  []string
}

// Run does the smoke test and returns one result per step, in order.
// Steps run one after the other; after a failure the remaining steps are
// skipped, and whoever joined leaves. Details never hold a token: the
// runner replaces anything JWT-shaped by its fingerprint.
func Run(ctx context.Context, cfg Config) Outcome {
	if err := cfg.Validate(); err != nil {
		return Outcome{Results: []check.Result{{Name: StepTokens, Status: check.Fail, Detail: err.Error()}}}
	}
	r := &run{cfg: cfg.withDefaults()}
	r.say, _ = loadUtterance(r.cfg.Say) // checked by Validate
	r.ep, _ = parseEndpoint(r.cfg.URL)
	r.deadline = time.Now().Add(r.cfg.Timeout)
	logs := &gate{}
	r.cfg.Logger = slog.New(gatedHandler{r.cfg.Logger.Handler(), logs})
	defer logs.close() // after cleanup: nothing logs once Run has returned
	defer r.cleanup()

	steps := []check.Check{
		{Name: StepTokens, Run: r.mint},
		{Name: StepJoinA, Run: r.roomStep(r.joinA)},
		{Name: StepJoinB, Run: r.roomStep(r.joinB)},
		{Name: StepWebRTC, Run: r.roomStep(r.webrtc)},
		{Name: StepPresence, Run: r.roomStep(r.presence)},
		{Name: StepData, Run: r.roomStep(r.dataAB)},
		{Name: StepRoundTrip, Run: r.roomStep(r.roundTrip)},
	}
	if r.cfg.Agent != "" {
		// Each voice step waits VoiceTimeout, after up to AgentTimeout
		// for the greeting to end or to speak our utterance.
		voice := r.cfg.VoiceTimeout + r.cfg.AgentTimeout
		steps = append(steps,
			check.Check{Name: StepAgent, Timeout: r.cfg.AgentTimeout, Run: r.waitAgent},
			check.Check{Name: StepGreeting, Timeout: voice, Run: r.hearGreeting},
			check.Check{Name: StepVoice, Timeout: voice, Run: r.voiceRoundTrip})
	}
	steps = append(steps, check.Check{Name: StepLeave, Timeout: leaveTimeout, Run: r.leave})

	runner := &check.Runner{Timeout: r.cfg.Timeout, Now: r.cfg.Now}
	results := make([]check.Result, 0, len(steps))
	failed := ""
	for _, s := range steps {
		if failed != "" {
			results = append(results, check.Result{Name: s.Name, Status: check.Skipped, Detail: "not run: " + failed + " failed"})
			continue
		}
		res := runner.Run(ctx, []check.Check{s})[0]
		results = append(results, res)
		if res.Status == check.Fail {
			failed = s.Name
		}
		if s.Name == StepJoinA && res.Status == check.OK {
			r.fig.Join, r.fig.HasJoin = res.Duration, true
		}
	}
	return Outcome{Room: r.room, Results: results, Figures: r.fig, Records: r.records}
}

// roomStep bounds a step by the room part's overall deadline.
func (r *run) roomStep(fn func(ctx context.Context) check.Result) func(context.Context) check.Result {
	return func(ctx context.Context) check.Result {
		ctx, cancel := context.WithDeadline(ctx, r.deadline)
		defer cancel()
		return fn(ctx)
	}
}

// failure words err for a step's detail; a timeout names the budget.
func (r *run) failure(ctx context.Context, what string, err error) check.Result {
	if errors.Is(err, context.DeadlineExceeded) {
		return check.Failf("%s: no answer within the %s timeout", what, r.cfg.Timeout)
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return check.Failf("%s: cancelled", what)
	}
	return check.Failf("%s: %v", what, err)
}

func (r *run) random(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(r.cfg.Rand, b); err != nil {
		panic(fmt.Sprintf("smoke: random source: %v", err)) // the runner reports it as a failed step
	}
	return b
}

func (r *run) mint(context.Context) check.Result {
	id := hex.EncodeToString(r.random(4))
	r.room = r.cfg.Room
	if r.room == "" {
		r.room = "smoke-" + id
	}
	r.idA, r.idB = identityPrefix+"a-"+id, identityPrefix+"b-"+id
	// The tokens live for the whole run and a minute more, no longer.
	ttl := r.cfg.Timeout + time.Minute
	if r.cfg.Agent != "" {
		ttl += 2 * r.cfg.AgentTimeout
	}
	claims := func(identity, name string) token.Claims {
		return token.Claims{Identity: identity, Name: name, Video: &token.VideoGrant{
			RoomJoin: true, Room: r.room, CanSubscribe: token.Bool(true), CanPublishData: token.Bool(true),
		}}
	}
	ca := claims(r.idA, "voicetoken smoke A")
	detail := ""
	if r.cfg.Agent != "" {
		ca.Video.CanPublish = token.Bool(true)
		ca.Video.CanPublishSources = []string{"microphone"}
		// The room is created by A's join, so A's token carries the room
		// configuration that dispatches the agent.
		rc, err := json.Marshal(map[string]any{"agents": []map[string]string{{"agentName": r.cfg.Agent}}})
		if err != nil {
			return check.Failf("room config: %v", err)
		}
		ca.RoomConfig = rc
		detail = fmt.Sprintf("; A's roomConfig dispatches agent %q", r.cfg.Agent)
	}
	now := r.cfg.Now()
	var err error
	if r.tokA, err = r.cfg.Key.Mint(ca, now, ttl); err != nil {
		return check.Failf("mint a token for %s: %v", r.idA, err)
	}
	if r.tokB, err = r.cfg.Key.Mint(claims(r.idB, "voicetoken smoke B"), now, ttl); err != nil {
		return check.Failf("mint a token for %s: %v", r.idB, err)
	}
	return check.Okf("2 tokens for room %s signed by API key %s, valid %s%s", r.room, r.cfg.Key.ID, ttl, detail)
}

func (r *run) join(ctx context.Context, label, identity, tok string) (*participant, error) {
	o := joinOptions{
		client: r.cfg.HTTPClient, ep: r.ep, token: tok, version: r.cfg.Version,
		label: label, identity: identity, log: r.cfg.Logger, now: r.cfg.Now,
	}
	if label == "a" && r.cfg.Agent != "" {
		// A talks to the agent: it publishes our utterance and hears
		// the agent's track.
		o.voice = true
		if r.cfg.RecordDir != "" {
			o.record = maxRecordPackets
		}
	}
	return connect(ctx, o)
}

func joinedDetail(p *participant, room string) string {
	j := p.join
	server := j.ServerVersion
	if j.ServerInfo != nil && j.ServerInfo.Version != "" {
		server = j.ServerInfo.Version
	}
	got := room
	if j.Room != nil && j.Room.Name != "" {
		got = j.Room.Name
	}
	return fmt.Sprintf("%s joined room %s on LiveKit %s", p.identity, got, server)
}

func (r *run) checkJoin(p *participant) error {
	if j := p.join; j.Room != nil && j.Room.Name != "" && j.Room.Name != r.room {
		return fmt.Errorf("%w: LiveKit put %s in room %q, not %q", ErrProtocol, p.identity, j.Room.Name, r.room)
	}
	if id := p.join.Participant; id != nil && id.Identity != "" && id.Identity != p.identity {
		return fmt.Errorf("%w: LiveKit knows %s as %q", ErrProtocol, p.identity, id.Identity)
	}
	return nil
}

func (r *run) joinA(ctx context.Context) check.Result {
	return r.joinStep(ctx, "a", r.idA, r.tokA, &r.a)
}

func (r *run) joinB(ctx context.Context) check.Result {
	return r.joinStep(ctx, "b", r.idB, r.tokB, &r.b)
}

// joinStep joins one participant and keeps it in *dst.
func (r *run) joinStep(ctx context.Context, name, identity, tok string, dst **participant) check.Result {
	p, err := r.join(ctx, name, identity, tok)
	if err != nil {
		return r.failure(ctx, identity+" cannot join", err)
	}
	*dst = p
	if err := r.checkJoin(p); err != nil {
		return check.Failf("%v", err)
	}
	return check.Okf("%s", joinedDetail(p, r.room))
}

func byIdentity(id string) func(participantInfo) bool {
	return func(pi participantInfo) bool { return pi.Identity == id }
}

func (r *run) presence(ctx context.Context) check.Result {
	if _, err := r.b.remote(ctx, byIdentity(r.idA)); err != nil {
		return r.failure(ctx, r.idB+" does not see "+r.idA, err)
	}
	if _, err := r.a.remote(ctx, byIdentity(r.idB)); err != nil {
		return r.failure(ctx, r.idA+" does not see "+r.idB, err)
	}
	return check.Okf("%s sees %s and %s sees %s", r.idA, r.idB, r.idB, r.idA)
}

func (r *run) webrtc(ctx context.Context) check.Result {
	for _, p := range []*participant{r.a, r.b} {
		if err := p.connected(ctx); err != nil {
			return r.failure(ctx, p.identity+"'s data channels did not open", err)
		}
	}
	via := ""
	if pair := r.a.selectedPair(); pair != "" {
		via = " via " + pair
	}
	return check.Okf("both participants' peer connections up and data channels open%s", via)
}

func (r *run) dataAB(ctx context.Context) check.Result {
	r.nonce = r.random(16)
	payload := []byte("voicetoken smoke ping " + hex.EncodeToString(r.nonce[:4]))
	r.sentAt = r.cfg.Now()
	if err := r.a.sendData(r.idB, payload, r.nonce); err != nil {
		return check.Failf("%v", err)
	}
	got, err := r.b.receive(ctx)
	if err != nil {
		return r.failure(ctx, r.idB+" received nothing from "+r.idA, err)
	}
	if !bytes.Equal(got.User.Payload, payload) {
		return check.Failf("%s received %d bytes that are not what %s sent", r.idB, len(got.User.Payload), r.idA)
	}
	if got.ParticipantIdentity != r.idA {
		return check.Failf("%s received the message as from %q, want %s (LiveKit sets the sender)", r.idB, got.ParticipantIdentity, r.idA)
	}
	return check.Okf("%s received %d bytes from %s on the reliable data channel", r.idB, len(payload), r.idA)
}

func (r *run) roundTrip(ctx context.Context) check.Result {
	payload := []byte("voicetoken smoke pong " + hex.EncodeToString(r.nonce[:4]))
	reply := r.random(16)
	if err := r.b.sendData(r.idA, payload, reply); err != nil {
		return check.Failf("%v", err)
	}
	got, err := r.a.receive(ctx)
	if err != nil {
		return r.failure(ctx, r.idA+" received no answer from "+r.idB, err)
	}
	rtt := r.cfg.Now().Sub(r.sentAt)
	if !bytes.Equal(got.User.Payload, payload) || got.ParticipantIdentity != r.idB {
		return check.Failf("%s received a message that is not %s's answer", r.idA, r.idB)
	}
	res := check.Okf("%s answered %s: round trip %s", r.idB, r.idA, check.FormatDuration(rtt))
	res.Duration = rtt // the row's time is the round trip, as the detail says
	return res
}

func (r *run) waitAgent(ctx context.Context) check.Result {
	start := r.cfg.Now()
	agent, err := r.a.remote(ctx, func(pi participantInfo) bool { return pi.Kind == kindAgent })
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return check.Failf("%v within %s: is a worker for agent %q registered with this LiveKit?", ErrNoAgent, r.cfg.AgentTimeout, r.cfg.Agent)
		}
		return r.failure(ctx, "waiting for agent "+r.cfg.Agent, err)
	}
	r.agent = agent
	return check.Okf("agent %q joined as %s after %s", r.cfg.Agent, agent.Identity, check.FormatDuration(r.cfg.Now().Sub(start)))
}

// leave: A leaves first and B must see it go (LiveKit tells the room),
// then B leaves; each time LiveKit must close the signal connection.
func (r *run) leave(ctx context.Context) check.Result {
	if err := r.a.leave(ctx); err != nil {
		return r.failure(ctx, r.idA+" did not leave cleanly", err)
	}
	err := r.b.wait(ctx, func() bool { _, in := r.b.remotes[r.idA]; return !in })
	if err != nil {
		return r.failure(ctx, r.idB+" did not see "+r.idA+" leave", err)
	}
	if err := r.b.leave(ctx); err != nil {
		return r.failure(ctx, r.idB+" did not leave cleanly", err)
	}
	return check.Okf("%s left, %s saw it leave and left; LiveKit closed both signal connections", r.idA, r.idB)
}

// cleanup disconnects whoever is still connected, politely.
func (r *run) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	for _, p := range []*participant{r.a, r.b} {
		if p == nil {
			continue
		}
		select {
		case <-p.done:
		default:
			p.leave(ctx)
		}
		p.close()
	}
}
