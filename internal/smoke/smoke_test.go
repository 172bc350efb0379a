package smoke

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"voicetoken/internal/check"
	"voicetoken/internal/logscan"
	"voicetoken/internal/token"
)

const testSecret = "smoke-test-secret-0123456789abcdef"

func testKey(t *testing.T) *token.Key {
	t.Helper()
	k, err := token.NewKey("APItest", testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestConfigValidate(t *testing.T) {
	key := testKey(t)
	tests := []struct {
		name  string
		cfg   Config
		wants []string // substrings of the error, "" for none
	}{
		{name: "ok", cfg: Config{URL: "ws://127.0.0.1:7880", Key: key}},
		{name: "https ok", cfg: Config{URL: "https://lk.example.com/prefix", Key: key, Agent: "a", AgentAudio: true}},
		{name: "nothing", cfg: Config{}, wants: []string{"no LiveKit URL", "no API key"}},
		{name: "bad scheme", cfg: Config{URL: "ftp://x", Key: key}, wants: []string{"scheme must be ws, wss, http or https"}},
		{name: "url with query", cfg: Config{URL: "ws://x/?access_token=abc", Key: key}, wants: []string{"want scheme://host"}},
		{name: "negative timeouts", cfg: Config{URL: "ws://x", Key: key, Timeout: -1, AgentTimeout: -1}, wants: []string{"timeout must not be negative", "agent timeout"}},
		{name: "audio without agent", cfg: Config{URL: "ws://x", Key: key, AgentAudio: true}, wants: []string{"needs an agent name"}},
		{name: "voice", cfg: Config{URL: "ws://x", Key: key, Agent: "a", VoiceTimeout: -1, Say: []byte("not ogg"), RecordDir: "/tmp"},
			wants: []string{"voice timeout must not be negative", "utterance: not an Ogg/Opus file"}},
		{name: "record without agent", cfg: Config{URL: "ws://x", Key: key, RecordDir: "/tmp"}, wants: []string{"recording the agent needs an agent name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want %q", tt.wants)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %q, want it to say %q", err, w)
				}
			}
		})
	}
	if err := (&Config{URL: "ftp://x", Key: key}).Validate(); !errors.Is(err, check.ErrBadURL) {
		t.Errorf("bad URL: %v, want check.ErrBadURL", err)
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		raw            string
		ws, http       string
		loopback, fail bool
	}{
		{raw: "ws://127.0.0.1:7880", ws: "ws://127.0.0.1:7880", http: "http://127.0.0.1:7880", loopback: true},
		{raw: "http://localhost:7880/", ws: "ws://localhost:7880", http: "http://localhost:7880", loopback: true},
		{raw: "wss://[::1]:443/lk/", ws: "wss://[::1]:443/lk", http: "https://[::1]:443/lk", loopback: true},
		{raw: "https://lk.example.com", ws: "wss://lk.example.com", http: "https://lk.example.com"},
		{raw: "ws://10.0.0.5:7880", ws: "ws://10.0.0.5:7880", http: "http://10.0.0.5:7880"},
		{raw: "ws://127.0.0.1.example.com", ws: "ws://127.0.0.1.example.com", http: "http://127.0.0.1.example.com"},
		{raw: "tcp://x", fail: true},
		{raw: "ws://user:pw@x", fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			ep, err := parseEndpoint(tt.raw)
			if tt.fail {
				if !errors.Is(err, check.ErrBadURL) {
					t.Fatalf("err = %v, want ErrBadURL", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ep.ws != tt.ws || ep.http != tt.http || ep.loopback != tt.loopback {
				t.Errorf("= %+v, want ws %s http %s loopback %v", ep, tt.ws, tt.http, tt.loopback)
			}
		})
	}
}

// fakeLiveKit is an HTTP server with LiveKit's signal endpoints, whose
// behaviour each test sets.
type fakeLiveKit struct {
	srv      *httptest.Server
	validate http.HandlerFunc // GET /rtc/validate
	rtc      http.HandlerFunc // GET /rtc
	queries  chan string      // every /rtc and /rtc/validate query
}

func startFake(t *testing.T, logs *logscan.Logs) *fakeLiveKit {
	t.Helper()
	f := &fakeLiveKit{queries: make(chan string, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rtc", func(w http.ResponseWriter, r *http.Request) {
		f.queries <- r.URL.RawQuery
		f.rtc(w, r)
	})
	mux.HandleFunc("GET /rtc/validate", func(w http.ResponseWriter, r *http.Request) {
		f.queries <- r.URL.RawQuery
		f.validate(w, r)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// refuse answers as LiveKit does to a token signed with the wrong
// secret: 401 with the token quoted in the reason.
func refuse(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	http.Error(w, "invalid token: "+tok+", error: go-jose/go-jose: error in cryptographic primitive", http.StatusUnauthorized)
}

// refuseJoins makes /rtc refuse every join as refuse does, and returns
// the tokens the joins carried.
func (f *fakeLiveKit) refuseJoins() <-chan string {
	tokens := make(chan string, 8)
	f.rtc = func(w http.ResponseWriter, r *http.Request) {
		tokens <- strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		refuse(w, r)
	}
	return tokens
}

// sendFirst accepts the WebSocket and sends msg as LiveKit's first
// message, then waits for the client to go.
func sendFirst(t *testing.T, msg []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		defer c.CloseNow()
		c.Write(r.Context(), websocket.MessageBinary, msg)
		c.Read(r.Context())
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConnectErrors(t *testing.T) {
	logs := logscan.New(t)
	logs.Secret(testSecret)
	tests := []struct {
		name     string
		rtc      func(t *testing.T) http.HandlerFunc
		validate http.HandlerFunc
		want     error
		says     []string
	}{
		{
			name: "wrong secret: LiveKit's reason from /rtc/validate, token redacted",
			rtc:  func(*testing.T) http.HandlerFunc { return refuse }, validate: refuse,
			want: ErrRefused, says: []string{"(401)", "invalid token: <token ", "error in cryptographic primitive"},
		},
		{
			name: "validate says nothing: the upgrade's own body",
			rtc:  func(*testing.T) http.HandlerFunc { return refuse },
			validate: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
			},
			want: ErrRefused, says: []string{"(401)", "error in cryptographic primitive"},
		},
		{
			name: "room full",
			rtc: func(*testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { http.Error(w, "", http.StatusServiceUnavailable) }
			},
			validate: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "room is full", http.StatusServiceUnavailable)
			},
			want: ErrRefused, says: []string{"(503): room is full"},
		},
		{
			name: "a leave instead of a join",
			rtc: func(t *testing.T) http.HandlerFunc {
				return sendFirst(t, mustMarshal(t, &livekit.SignalResponse{Message: &livekit.SignalResponse_Leave{Leave: &livekit.LeaveRequest{Reason: livekit.DisconnectReason_ROOM_CLOSED}}}))
			},
			want: ErrProtocol, says: []string{"leave instead of a JoinResponse (room closed)"},
		},
		{
			name: "first message is not a join",
			rtc: func(t *testing.T) http.HandlerFunc {
				return sendFirst(t, mustMarshal(t, &livekit.SignalResponse{Message: &livekit.SignalResponse_Offer{Offer: &livekit.SessionDescription{}}}))
			},
			want: ErrProtocol, says: []string{"not a JoinResponse"},
		},
		{
			name: "first message is not protobuf",
			rtc:  func(t *testing.T) http.HandlerFunc { return sendFirst(t, []byte{0x0a, 0x7f}) },
			want: ErrDecode, says: []string{"waiting for LiveKit's JoinResponse"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, logs)
			f.rtc, f.validate = tt.rtc(t), tt.validate
			tok, err := testKey(t).Mint(token.Claims{Identity: identityA, Video: &token.VideoGrant{RoomJoin: true, Room: "r"}}, time.Now(), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			logs.Secret(tok)
			ep, _ := parseEndpoint(f.srv.URL)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p, err := connect(ctx, joinOptions{client: newSignalClient(), ep: ep, token: tok, version: "test", label: "a", identity: identityA, log: logs.Logger(), now: time.Now})
			if err == nil {
				p.close()
				t.Fatal("connect succeeded")
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err = %q, want it to say %q", err, s)
				}
			}
			logs.NoSecret(err)
			// The token travels in the Authorization header only.
			for len(f.queries) > 0 {
				if q := <-f.queries; strings.Contains(q, "eyJ") || strings.Contains(q, "access_token") {
					t.Errorf("a query carries the token: %s", q)
				}
			}
		})
	}
}

func TestConnectUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	ep, _ := parseEndpoint("ws://" + addr)
	_, err = connect(context.Background(), joinOptions{client: newSignalClient(), ep: ep, token: "t", version: "test", label: "a", identity: identityA, log: logscan.New(t).Logger(), now: time.Now})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if want := "LiveKit is not reachable at http://" + addr + ": connection refused (nothing listening)"; err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
}

// TestRunRefused is the whole run against a LiveKit that refuses the
// key: join a fails with LiveKit's reason, the rest is skipped, and no
// token reaches a detail.
func TestRunRefused(t *testing.T) {
	logs := logscan.New(t)
	logs.Secret(testSecret)
	f := startFake(t, logs)
	f.rtc, f.validate = refuse, refuse
	frozen := time.Now()
	results := Run(context.Background(), Config{
		URL: f.srv.URL, Key: testKey(t), Room: "smoke-fixed", Now: func() time.Time { return frozen },
		Rand: bytes.NewReader(make([]byte, 1024)), Logger: logs.Logger(), Agent: "greeter",
	}).Results
	wantNames := []string{StepTokens, StepJoinA, StepJoinB, StepWebRTC, StepPresence, StepData, StepRoundTrip, StepAgent, StepGreeting, StepVoice, StepLeave}
	if len(results) != len(wantNames) {
		t.Fatalf("%d results, want %d: %+v", len(results), len(wantNames), results)
	}
	for i, r := range results {
		logs.Text(r.Name, r.Detail)
		if r.Name != wantNames[i] {
			t.Errorf("step %d is %q, want %q", i, r.Name, wantNames[i])
		}
		if strings.Contains(r.Detail, "eyJ") {
			t.Errorf("%s: detail carries a token: %s", r.Name, r.Detail)
		}
		want := check.Skipped
		switch r.Name {
		case StepTokens:
			want = check.OK
		case StepJoinA:
			want = check.Fail
		}
		if r.Status != want {
			t.Errorf("%s: %s (%s), want %s", r.Name, r.Status, r.Detail, want)
		}
	}
	if d := results[0].Detail; !strings.Contains(d, `room smoke-fixed signed by API key APItest`) || !strings.Contains(d, `dispatches agent "greeter"`) {
		t.Errorf("tokens: %q", d)
	}
	if d := results[1].Detail; !strings.HasPrefix(d, identityA+" cannot join: LiveKit refused the join (401): invalid token: <token ") {
		t.Errorf("join a: %q", d)
	}
	if d := results[2].Detail; d != "not run: join a failed" {
		t.Errorf("join b: %q", d)
	}
}

// TestRunRoomConfig checks what A's token asks LiveKit for: the agent in
// the room configuration, the room, and no more than a short life.
func TestRunRoomConfig(t *testing.T) {
	f := startFake(t, logscan.New(t))
	tokens := f.refuseJoins()
	f.validate = func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "success") }
	now := time.Now()
	key := testKey(t)
	Run(context.Background(), Config{URL: f.srv.URL, Key: key, Agent: `greeter "v2"`, Timeout: 10 * time.Second, AgentTimeout: 5 * time.Second, Now: func() time.Time { return now }})
	raw := <-tokens
	tok, err := token.Verify(raw, key, now)
	if err != nil {
		t.Fatal(err)
	}
	c := tok.Claims
	if c.Video == nil || !c.Video.RoomJoin || !strings.HasPrefix(c.Video.Room, "smoke-") || len(c.Video.Room) != len("smoke-")+8 {
		t.Errorf("claims: %+v %+v", c, c.Video)
	} else if want := "voicetoken-smoke-a-" + strings.TrimPrefix(c.Video.Room, "smoke-"); c.Identity != want {
		t.Errorf("identity %q in room %s, want %q", c.Identity, c.Video.Room, want)
	}
	if got, want := string(c.RoomConfig), `{"agents":[{"agentName":"greeter \"v2\""}]}`; got != want {
		t.Errorf("roomConfig = %s, want %s", got, want)
	}
	if life := c.ExpiresAt - c.IssuedAt; life != 80 { // 10s + 1m + 2 * 5s
		t.Errorf("token lives %ds, want 80s", life)
	}
}

// Identities of a run whose random source gives only zeros.
const (
	identityA = "voicetoken-smoke-a-00000000"
	identityB = "voicetoken-smoke-b-00000000"
)

// TestRunIdentities: two runs given the same room never share an
// identity, so neither knocks the other out of the room; within a run, A
// and B share the run's id.
func TestRunIdentities(t *testing.T) {
	f := startFake(t, logscan.New(t))
	tokens := f.refuseJoins()
	f.validate = refuse
	key := testKey(t)
	now := time.Now()
	seen := map[string]bool{}
	for run := range 2 {
		Run(context.Background(), Config{URL: f.srv.URL, Key: key, Room: "shared-room", Timeout: 5 * time.Second, Now: func() time.Time { return now }})
		tok, err := token.Verify(<-tokens, key, now)
		if err != nil {
			t.Fatal(err)
		}
		id := tok.Claims.Identity
		if !regexp.MustCompile(`^voicetoken-smoke-a-[0-9a-f]{8}$`).MatchString(id) || tok.Claims.Video.Room != "shared-room" {
			t.Errorf("run %d: identity %q in room %q", run, id, tok.Claims.Video.Room)
		}
		if seen[id] {
			t.Errorf("run %d: identity %q again", run, id)
		}
		seen[id] = true
	}
}
