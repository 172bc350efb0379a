package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/livekit/protocol/auth"

	"voicetoken/internal/keys"
	"voicetoken/internal/logscan"
	"voicetoken/internal/policy"
	"voicetoken/internal/server"
	"voicetoken/internal/testkit"
	"voicetoken/internal/token"
)

const (
	devKey    = "devkey"
	devSecret = "secret"
	// backendKey is the bearer key of the "backend" caller in testPolicy.
	backendKey = "backend-key-0123456789"
	botKey     = "bot-key-0123456789"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// testPolicyYAML is the policy package's test policy, which exercises
// every rule, with what the server's tests need on purpose: a CORS origin
// and no rate limits (tests that want them set their own). Individual
// tests override parts.
var testPolicyYAML = readTestPolicy() + `origins: [https://app.example.com]
rate_limit:
  per_address: {rate: 0}
  per_key: {rate: 0}
`

// readTestPolicy is internal/policy/testdata/test-policy.yaml; its api
// keys are backendKey and botKey.
func readTestPolicy() string {
	b, err := os.ReadFile(filepath.Join("..", "policy", "testdata", "test-policy.yaml"))
	if err != nil {
		panic(err) // no test can run without it
	}
	return string(b)
}

// clock is a settable time source shared by the server and the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	srv   *server.Server
	ts    *httptest.Server
	clock *clock
	// logs is the server's log; it and every answer and the final
	// /metrics are scanned for the bearer keys, the API secret and every
	// token the test was issued (logscan).
	logs *logscan.Logs
}

func mustPolicy(t *testing.T, y string) *policy.File {
	t.Helper()
	p, err := policy.Parse([]byte(y))
	if err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
	return p
}

func devKeys(t *testing.T) *keys.Set {
	t.Helper()
	ks, err := keys.NewSet(keys.Pair{Key: devKey, Secret: devSecret})
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func newFixture(t *testing.T, cfg server.Config) *fixture {
	t.Helper()
	if cfg.Keys == nil {
		cfg.Keys = devKeys(t)
	}
	if cfg.Policy == nil {
		cfg.Policy = mustPolicy(t, testPolicyYAML)
	}
	f := &fixture{clock: &clock{t: time.Now().Truncate(time.Second)}, logs: logscan.New(t)}
	f.logs.Secret(backendKey, botKey)
	srv, err := server.New(cfg, server.WithClock(f.clock.now), server.WithLogger(f.logs.Logger()))
	if err != nil {
		f.logs.NoSecret(err)
		t.Fatalf("New: %v", err)
	}
	f.srv = srv
	t.Cleanup(srv.Close)
	f.logs.Metrics(srv.Handler())
	f.ts = httptest.NewServer(f.logs.Handler(srv.Handler()))
	t.Cleanup(f.ts.Close)
	return f
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) code(t *testing.T) string {
	t.Helper()
	var e struct{ Error, Code string }
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.body, err)
	}
	if e.Error == "" {
		t.Errorf("error body %s has no message", r.body)
	}
	return e.Code
}

func (f *fixture) do(t *testing.T, method, path string, body string, hdr map[string]string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	f.issued(b)
	return reply{resp.StatusCode, resp.Header, b}
}

// issued registers the token an answer carries, if any: handed out once,
// it must appear in no log line or metric.
func (f *fixture) issued(body []byte) {
	var out struct {
		Token            string `json:"token"`
		ParticipantToken string `json:"participant_token"`
	}
	if json.Unmarshal(body, &out) == nil {
		f.logs.Issued(out.Token, out.ParticipantToken)
	}
}

// verify checks a token with LiveKit's own verifier, the oracle.
func verify(t *testing.T, tok string) (*auth.ClaimGrants, int64) {
	t.Helper()
	v, err := auth.ParseAPIToken(tok)
	if err != nil {
		t.Fatalf("livekit ParseAPIToken: %v", err)
	}
	if v.APIKey() != devKey {
		t.Errorf("iss = %q, want %q", v.APIKey(), devKey)
	}
	rc, grants, err := v.Verify(devSecret)
	if err != nil {
		t.Fatalf("livekit Verify: %v", err)
	}
	return grants, rc.ExpiresAt.Unix() - rc.NotBefore.Unix()
}

func noAdmin(t *testing.T, g *auth.ClaimGrants) {
	t.Helper()
	v := g.Video
	if v == nil {
		t.Fatal("no video grant")
	}
	if v.RoomAdmin || v.RoomCreate || v.RoomList || v.RoomRecord || v.IngressAdmin || v.Recorder || v.Agent || g.SIP != nil || g.Agent != nil {
		t.Errorf("token carries an admin grant: %+v", v)
	}
}

func TestGetToken(t *testing.T) {
	f := newFixture(t, server.Config{LiveKitURL: "wss://lk.example.com"})
	tests := []struct {
		name       string
		query      string
		wantRoom   string
		wantID     string // "" means generated
		wantName   string
		wantTTL    int64
		wantHours  float64
		wantConfig string // agent dispatched by the room
	}{
		{name: "seed default room", query: "", wantRoom: "test-room", wantTTL: 6 * 3600, wantHours: 6},
		{name: "room and identity", query: "?room=test-room&identity=u1", wantRoom: "test-room", wantID: "u1", wantTTL: 6 * 3600, wantHours: 6},
		{name: "ttl in hours", query: "?room=demo-1&identity=alice&ttl=12", wantRoom: "demo-1", wantID: "alice", wantTTL: 12 * 3600, wantHours: 12},
		{name: "ttl as duration", query: "?room=demo-1&identity=alice&ttl=10m", wantRoom: "demo-1", wantID: "alice", wantTTL: 600, wantHours: 600.0 / 3600},
		{name: "max ttl accepted", query: "?room=demo-1&identity=a&ttl=24h", wantRoom: "demo-1", wantID: "a", wantTTL: 24 * 3600, wantHours: 24},
		{name: "escaped name", query: "?room=test-room&identity=bob&name=Bob+%C3%A9", wantRoom: "test-room", wantID: "bob", wantName: "Bob é", wantTTL: 6 * 3600, wantHours: 6},
		{name: "room with agent", query: "?room=support&identity=u2", wantRoom: "support", wantID: "u2", wantTTL: 6 * 3600, wantHours: 6, wantConfig: "support-agent"},
		{name: "unknown params ignored", query: "?room=test-room&identity=u3&foo=bar", wantRoom: "test-room", wantID: "u3", wantTTL: 6 * 3600, wantHours: 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, "GET", "/api/token"+tc.query, "", nil)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			var out struct {
				Token     string  `json:"token"`
				TTLHours  float64 `json:"ttl_hours"`
				Room      string  `json:"room"`
				Identity  string  `json:"identity"`
				ExpiresAt string  `json:"expires_at"`
				ServerURL string  `json:"server_url"`
			}
			dec := json.NewDecoder(bytes.NewReader(r.body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&out); err != nil {
				t.Fatalf("decode %s: %v", r.body, err)
			}
			g, ttl := verify(t, out.Token)
			noAdmin(t, g)
			if ttl != tc.wantTTL {
				t.Errorf("exp-nbf = %d, want %d", ttl, tc.wantTTL)
			}
			if out.TTLHours != tc.wantHours {
				t.Errorf("ttl_hours = %v, want %v", out.TTLHours, tc.wantHours)
			}
			want := f.clock.now().Add(time.Duration(tc.wantTTL) * time.Second).UTC().Format(time.RFC3339)
			if out.ExpiresAt != want {
				t.Errorf("expires_at = %s, want %s", out.ExpiresAt, want)
			}
			if out.ServerURL != "wss://lk.example.com" {
				t.Errorf("server_url = %q", out.ServerURL)
			}
			if out.Room != tc.wantRoom || g.Video.Room != tc.wantRoom || !g.Video.RoomJoin {
				t.Errorf("room = %q, token room %q join %v, want %q", out.Room, g.Video.Room, g.Video.RoomJoin, tc.wantRoom)
			}
			if tc.wantID == "" {
				if !strings.HasPrefix(out.Identity, "user-") || len(out.Identity) != len("user-")+16 {
					t.Errorf("generated identity %q, want user-<16 hex>", out.Identity)
				}
			} else if out.Identity != tc.wantID {
				t.Errorf("identity = %q, want %q", out.Identity, tc.wantID)
			}
			if g.Identity != out.Identity {
				t.Errorf("token identity %q != response %q", g.Identity, out.Identity)
			}
			if g.Name != tc.wantName {
				t.Errorf("name = %q, want %q", g.Name, tc.wantName)
			}
			if !g.Video.GetCanPublish() || !g.Video.GetCanSubscribe() || !g.Video.GetCanPublishData() {
				t.Errorf("browser grants missing: %+v", g.Video)
			}
			if g.Video.Hidden || g.Video.GetCanUpdateOwnMetadata() {
				t.Errorf("browser got key-only grants: %+v", g.Video)
			}
			switch {
			case tc.wantConfig == "" && g.RoomConfig != nil:
				t.Errorf("unexpected roomConfig %v", g.RoomConfig)
			case tc.wantConfig != "":
				if g.RoomConfig == nil || len(g.RoomConfig.Agents) != 1 || g.RoomConfig.Agents[0].AgentName != tc.wantConfig {
					t.Errorf("roomConfig = %v, want agent %s", g.RoomConfig, tc.wantConfig)
				}
			}
		})
	}
}

func TestGetTokenErrors(t *testing.T) {
	f := newFixture(t, server.Config{})
	noDefault := newFixture(t, server.Config{Policy: mustPolicy(t, "rooms: [{name: a}]\n")})
	tests := []struct {
		name       string
		f          *fixture
		method     string
		query      string
		wantStatus int
		wantCode   string
	}{
		{name: "missing room", f: noDefault, query: "?identity=u", wantStatus: 400, wantCode: string(policy.CodeMissingRoom)},
		{name: "invalid room", f: f, query: "?room=bad%20room&identity=u", wantStatus: 400, wantCode: string(policy.CodeInvalidRoom)},
		{name: "room not allowed", f: f, query: "?room=secret&identity=u", wantStatus: 403, wantCode: string(policy.CodeRoomNotAllowed)},
		{name: "room outside default allow list", f: noDefault, query: "?room=b&identity=u", wantStatus: 403, wantCode: string(policy.CodeRoomNotAllowed)},
		{name: "invalid identity", f: f, query: "?room=test-room&identity=%3Cscript%3E", wantStatus: 400, wantCode: string(policy.CodeInvalidIdentity)},
		{name: "identity too long", f: f, query: "?room=test-room&identity=" + strings.Repeat("a", 129), wantStatus: 400, wantCode: string(policy.CodeInvalidIdentity)},
		{name: "invalid name", f: f, query: "?room=test-room&identity=u&name=%00", wantStatus: 400, wantCode: string(policy.CodeInvalidName)},
		{name: "ttl too long (seed ttl=48)", f: f, query: "?room=test-room&identity=u&ttl=48", wantStatus: 400, wantCode: string(policy.CodeTTLTooLong)},
		{name: "ttl 168h", f: f, query: "?room=test-room&identity=u&ttl=168", wantStatus: 400, wantCode: string(policy.CodeTTLTooLong)},
		{name: "ttl garbage", f: f, query: "?room=test-room&identity=u&ttl=soon", wantStatus: 400, wantCode: string(policy.CodeInvalidTTL)},
		{name: "ttl negative", f: f, query: "?room=test-room&identity=u&ttl=-1", wantStatus: 400, wantCode: string(policy.CodeInvalidTTL)},
		{name: "ttl under a second, in hours", f: f, query: "?room=test-room&identity=u&ttl=0.00001", wantStatus: 400, wantCode: string(policy.CodeInvalidTTL)},
		{name: "duplicate room", f: f, query: "?room=test-room&room=other&identity=u", wantStatus: 400, wantCode: server.CodeBadRequest},
		{name: "bad escape", f: f, query: "?room=test%zzroom&identity=u", wantStatus: 400, wantCode: server.CodeBadRequest},
		{name: "query too long", f: f, query: "?room=test-room&x=" + strings.Repeat("a", server.DefaultMaxQuery), wantStatus: 414, wantCode: server.CodeQueryTooLong},
		{name: "method", f: f, method: "DELETE", query: "?room=test-room", wantStatus: 405, wantCode: server.CodeMethod},
		{name: "unknown api path", f: f, query: "/../../api/nope", wantStatus: 404, wantCode: server.CodeNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.method
			if m == "" {
				m = "GET"
			}
			path := "/api/token" + tc.query
			if strings.HasPrefix(tc.query, "/") {
				path = "/api/nope"
			}
			r := tc.f.do(t, m, path, "", nil)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			if c := r.code(t); c != tc.wantCode {
				t.Errorf("code %q, want %q", c, tc.wantCode)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

// livekitClientBody is what livekit-client's TokenSource.endpoint() sends
// for fetch({roomName, participantIdentity, participantName, agentName,
// agentMetadata}): TokenSourceRequest.toJsonString({useProtoFieldName: true}).
const livekitClientBody = `{"room_name":"support","participant_name":"Ann","participant_identity":"ann","room_config":{"agents":[{"agent_name":"support-agent","metadata":"{\"lang\":\"en\"}"}]}}`

func TestPostToken(t *testing.T) {
	f := newFixture(t, server.Config{LiveKitURL: "ws://127.0.0.1:7880", PublicLiveKitURL: "wss://lk.example.com"})
	tests := []struct {
		name      string
		body      string
		hdr       map[string]string
		wantRoom  string
		wantID    string
		wantName  string
		wantAgent string
		wantMeta  string
		wantTTL   int64
		check     func(t *testing.T, g *auth.ClaimGrants)
	}{
		{name: "livekit-client request", body: livekitClientBody, hdr: map[string]string{"Authorization": "Bearer " + backendKey},
			wantRoom: "support", wantID: "ann", wantName: "Ann", wantAgent: "support-agent", wantTTL: 3600,
			check: func(t *testing.T, g *auth.ClaimGrants) {
				if md := g.RoomConfig.Agents[0].Metadata; md != `{"lang":"en"}` {
					t.Errorf("agent metadata %q", md)
				}
			}},
		{name: "browser: the room's agent, no job metadata", body: `{"room_name":"support","participant_identity":"ann","room_config":{"agents":[{"agent_name":"support-agent"}]}}`,
			wantRoom: "support", wantID: "ann", wantAgent: "support-agent", wantTTL: 6 * 3600},
		{name: "camelCase JSON names", body: `{"roomName":"demo-x","participantIdentity":"cam"}`, wantRoom: "demo-x", wantID: "cam", wantTTL: 6 * 3600},
		{name: "empty body uses defaults", body: `{}`, wantRoom: "test-room", wantTTL: 6 * 3600},
		{name: "empty attributes as sent by livekit-client", body: `{"room_name":"test-room","participant_attributes":{}}`, wantRoom: "test-room", wantTTL: 6 * 3600},
		{name: "room agent dispatched by default", body: `{"room_name":"support","participant_identity":"z"}`, wantRoom: "support", wantID: "z", wantAgent: "support-agent", wantTTL: 6 * 3600},
		{name: "api key with metadata, agents, own grants", body: `{"room_name":"anything","participant_identity":"svc","participant_metadata":"m1","participant_attributes":{"k":"v"},"room_config":{"agents":[{"agentName":"any-agent","deployment":"prod"}]}}`,
			hdr: map[string]string{"Authorization": "Bearer " + backendKey}, wantRoom: "anything", wantID: "svc", wantAgent: "any-agent", wantMeta: "m1", wantTTL: 3600,
			check: func(t *testing.T, g *auth.ClaimGrants) {
				if !g.Video.Hidden || !g.Video.GetCanUpdateOwnMetadata() {
					t.Errorf("backend key grants missing: %+v", g.Video)
				}
				if g.Attributes["k"] != "v" {
					t.Errorf("attributes %v", g.Attributes)
				}
				if d := g.RoomConfig.Agents[0].Deployment; d != "prod" {
					t.Errorf("deployment %q", d)
				}
			}},
		{name: "bot key subscribe only", body: `{"room_name":"support","participant_identity":"bot1"}`, hdr: map[string]string{"Authorization": "Bearer " + botKey},
			wantRoom: "support", wantID: "bot1", wantAgent: "support-agent", wantTTL: 6 * 3600,
			check: func(t *testing.T, g *auth.ClaimGrants) {
				if g.Video.GetCanPublish() || g.Video.GetCanPublishData() || !g.Video.GetCanSubscribe() {
					t.Errorf("bot grants: publish %v data %v subscribe %v", g.Video.GetCanPublish(), g.Video.GetCanPublishData(), g.Video.GetCanSubscribe())
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, "POST", "/api/token", tc.body, tc.hdr)
			if r.status != http.StatusCreated {
				t.Fatalf("status %d, want 201: %s", r.status, r.body)
			}
			var out map[string]string
			if err := json.Unmarshal(r.body, &out); err != nil {
				t.Fatal(err)
			}
			if len(out) != 2 || out["server_url"] != "wss://lk.example.com" || out["participant_token"] == "" {
				t.Fatalf("response %s: want exactly server_url (public URL) and participant_token", r.body)
			}
			g, ttl := verify(t, out["participant_token"])
			noAdmin(t, g)
			if g.Video.Room != tc.wantRoom {
				t.Errorf("room %q, want %q", g.Video.Room, tc.wantRoom)
			}
			if tc.wantID != "" && g.Identity != tc.wantID {
				t.Errorf("identity %q, want %q", g.Identity, tc.wantID)
			}
			if g.Name != tc.wantName || g.Metadata != tc.wantMeta {
				t.Errorf("name %q metadata %q, want %q %q", g.Name, g.Metadata, tc.wantName, tc.wantMeta)
			}
			if ttl != tc.wantTTL {
				t.Errorf("ttl %d, want %d", ttl, tc.wantTTL)
			}
			if tc.wantAgent != "" {
				if g.RoomConfig == nil || len(g.RoomConfig.Agents) != 1 || g.RoomConfig.Agents[0].AgentName != tc.wantAgent {
					t.Fatalf("roomConfig %v, want agent %q", g.RoomConfig, tc.wantAgent)
				}
			} else if g.RoomConfig != nil {
				t.Errorf("unexpected roomConfig %v", g.RoomConfig)
			}
			if tc.check != nil {
				tc.check(t, g)
			}
		})
	}
}

func TestPostTokenErrors(t *testing.T) {
	f := newFixture(t, server.Config{MaxBodyBytes: 512})
	bearer := map[string]string{"Authorization": "Bearer " + backendKey}
	tests := []struct {
		name       string
		body       string
		hdr        map[string]string
		wantStatus int
		wantCode   string
	}{
		{name: "not JSON", body: `room=x`, wantStatus: 400, wantCode: server.CodeInvalidJSON},
		{name: "truncated", body: `{"room_name":`, wantStatus: 400, wantCode: server.CodeInvalidJSON},
		{name: "trailing data", body: `{} {}`, wantStatus: 400, wantCode: server.CodeInvalidJSON},
		{name: "wrong type", body: `{"room_name":5}`, wantStatus: 400, wantCode: server.CodeInvalidJSON},
		{name: "unknown field", body: `{"room_name":"test-room","ttl":48}`, wantStatus: 400, wantCode: server.CodeUnknownField},
		{name: "both spellings", body: `{"room_name":"a","roomName":"b"}`, wantStatus: 400, wantCode: server.CodeBadRequest},
		{name: "body too large", body: `{"participant_name":"` + strings.Repeat("a", 600) + `"}`, wantStatus: 413, wantCode: server.CodeBodyTooLarge},
		{name: "wrong content type", body: `{}`, hdr: map[string]string{"Content-Type": "text/plain"}, wantStatus: 415, wantCode: server.CodeMediaType},
		{name: "browser metadata", body: `{"room_name":"test-room","participant_metadata":"x"}`, wantStatus: 403, wantCode: string(policy.CodeMetadataNotAllowed)},
		{name: "browser attributes", body: `{"room_name":"test-room","participant_attributes":{"a":"b"}}`, wantStatus: 403, wantCode: string(policy.CodeMetadataNotAllowed)},
		{name: "browser foreign agent", body: `{"room_name":"test-room","room_config":{"agents":[{"agent_name":"support-agent"}]}}`, wantStatus: 403, wantCode: string(policy.CodeAgentNotAllowed)},
		{name: "egress in room_config", body: `{"room_name":"test-room","room_config":{"egress":{}}}`, hdr: bearer, wantStatus: 403, wantCode: server.CodeRoomConfig},
		{name: "max participants", body: `{"room_config":{"max_participants":1000}}`, hdr: bearer, wantStatus: 403, wantCode: server.CodeRoomConfig},
		{name: "unknown room_config field", body: `{"room_config":{"bogus":1}}`, wantStatus: 400, wantCode: server.CodeUnknownField},
		{name: "agent restart policy", body: `{"room_config":{"agents":[{"agent_name":"a","restart_policy":1}]}}`, hdr: bearer, wantStatus: 403, wantCode: server.CodeRoomConfig},
		{name: "invalid agent name", body: `{"room_config":{"agents":[{"agent_name":"a b"}]}}`, hdr: bearer, wantStatus: 400, wantCode: string(policy.CodeInvalidAgent)},
		{name: "too many agents", body: `{"room_config":{"agents":[{"agent_name":"a"},{"agent_name":"b"},{"agent_name":"c"},{"agent_name":"d"},{"agent_name":"e"}]}}`, hdr: bearer, wantStatus: 400, wantCode: string(policy.CodeInvalidRoomConfig)},
		{name: "metadata too long", body: `{"participant_metadata":"` + strings.Repeat("m", 4097) + `"}`, hdr: bearer, wantStatus: 413, wantCode: server.CodeBodyTooLarge},
		{name: "empty attribute key", body: `{"participant_attributes":{"":"v"}}`, hdr: bearer, wantStatus: 400, wantCode: string(policy.CodeInvalidMetadata)},
		{name: "bot room not allowed", body: `{"room_name":"test-room"}`, hdr: map[string]string{"Authorization": "Bearer " + botKey}, wantStatus: 403, wantCode: string(policy.CodeRoomNotAllowed)},
		{name: "key ttl max is per key", body: `{"room_name":"test-room"}`, hdr: bearer, wantStatus: 201},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, "POST", "/api/token", tc.body, tc.hdr)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			if tc.wantCode == "" {
				return
			}
			if c := r.code(t); c != tc.wantCode {
				t.Errorf("code %q, want %q", c, tc.wantCode)
			}
		})
	}
}

func TestAPIKeyAuth(t *testing.T) {
	f := newFixture(t, server.Config{})
	tests := []struct {
		name       string
		auth       string
		query      string
		wantStatus int
		wantCode   string
	}{
		{name: "unknown key", auth: "Bearer nope", query: "?room=test-room&identity=u", wantStatus: 401, wantCode: server.CodeUnauthorized},
		{name: "not bearer", auth: "Basic Zm9vOmJhcg==", query: "?room=test-room&identity=u", wantStatus: 401, wantCode: server.CodeUnauthorized},
		{name: "empty bearer", auth: "Bearer ", query: "?room=test-room&identity=u", wantStatus: 401, wantCode: server.CodeUnauthorized},
		{name: "key above its max ttl", auth: "Bearer " + backendKey, query: "?room=x&identity=u&ttl=2h", wantStatus: 400, wantCode: string(policy.CodeTTLTooLong)},
		{name: "key within its ttl", auth: "Bearer " + backendKey, query: "?room=any-room&identity=u&ttl=30m", wantStatus: 200},
		{name: "bearer scheme case-insensitive", auth: "bearer " + backendKey, query: "?room=x&identity=u", wantStatus: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, "GET", "/api/token"+tc.query, "", map[string]string{"Authorization": tc.auth})
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			if tc.wantCode == "" {
				return
			}
			if c := r.code(t); c != tc.wantCode {
				t.Errorf("code %q, want %q", c, tc.wantCode)
			}
			if tc.wantStatus == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
		})
	}
}

// TestBrowserRules keeps what is HTTP's of the browser rules (the rules
// themselves are policy.TestDecideBrowserRules): the status a denial maps
// to, and the identity the server generates.
func TestBrowserRules(t *testing.T) {
	tests := []struct {
		name       string
		policy     string
		query      string
		wantStatus int
		wantCode   string
		check      func(t *testing.T, g *auth.ClaimGrants)
	}{
		{name: "browser disabled", policy: "browser: {disabled: true}\nallow_rooms: ['*']", query: "?room=a&identity=u", wantStatus: 401, wantCode: string(policy.CodeBrowserDisabled)},
		{name: "server identity refuses a chosen one", policy: "browser: {server_identity: true}\nallow_rooms: ['*']", query: "?room=a&identity=u", wantStatus: 403, wantCode: string(policy.CodeIdentityNotAllowed)},
		{name: "server identity generates", policy: "browser: {server_identity: true}\nallow_rooms: ['*']\nidentity: {generated_prefix: guest-}", query: "?room=a", wantStatus: 200,
			check: func(t *testing.T, g *auth.ClaimGrants) {
				if !regexp.MustCompile(`^guest-[0-9a-f]{16}$`).MatchString(g.Identity) {
					t.Errorf("identity %q", g.Identity)
				}
			}},
		{name: "narrowed browser grants are explicit false", policy: "browser: {grants: [canSubscribe]}\nallow_rooms: ['*']", query: "?room=a&identity=u", wantStatus: 200,
			check: func(t *testing.T, g *auth.ClaimGrants) {
				if g.Video.GetCanPublish() || g.Video.GetCanPublishData() || !g.Video.GetCanSubscribe() {
					t.Errorf("grants %+v", g.Video)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, server.Config{Policy: mustPolicy(t, tc.policy)})
			r := f.do(t, "GET", "/api/token"+tc.query, "", nil)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			if tc.wantCode != "" {
				if c := r.code(t); c != tc.wantCode {
					t.Errorf("code %q, want %q", c, tc.wantCode)
				}
				return
			}
			var out struct{ Token string }
			if err := json.Unmarshal(r.body, &out); err != nil {
				t.Fatal(err)
			}
			g, _ := verify(t, out.Token)
			noAdmin(t, g)
			if tc.check != nil {
				tc.check(t, g)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	f := newFixture(t, server.Config{})
	star := newFixture(t, server.Config{Policy: mustPolicy(t, "origins: ['*']\nallow_rooms: ['*']")})
	tests := []struct {
		name       string
		f          *fixture
		method     string
		hdr        map[string]string
		wantStatus int
		wantACAO   string
		wantCode   string
	}{
		{name: "preflight allowed", f: f, method: "OPTIONS",
			hdr:        map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
			wantStatus: 204, wantACAO: "https://app.example.com"},
		{name: "preflight refused", f: f, method: "OPTIONS",
			hdr:        map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
			wantStatus: 403, wantCode: server.CodeOriginNotAllowed},
		{name: "options without preflight headers", f: f, method: "OPTIONS", wantStatus: 204},
		{name: "get from allowed origin", f: f, method: "GET", hdr: map[string]string{"Origin": "https://app.example.com"}, wantStatus: 200, wantACAO: "https://app.example.com"},
		{name: "get from other origin", f: f, method: "GET", hdr: map[string]string{"Origin": "https://evil.example"}, wantStatus: 403, wantCode: server.CodeOriginNotAllowed},
		{name: "null origin", f: f, method: "GET", hdr: map[string]string{"Origin": "null"}, wantStatus: 403, wantCode: server.CodeOriginNotAllowed},
		{name: "same origin", f: f, method: "GET", hdr: map[string]string{"Origin": f.ts.URL}, wantStatus: 200},
		{name: "no origin (curl)", f: f, method: "GET", wantStatus: 200},
		{name: "star origin", f: star, method: "GET", hdr: map[string]string{"Origin": "https://any.example"}, wantStatus: 200, wantACAO: "*"},
		{name: "star preflight", f: star, method: "OPTIONS", hdr: map[string]string{"Origin": "https://any.example", "Access-Control-Request-Method": "GET"}, wantStatus: 204, wantACAO: "*"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.f.do(t, tc.method, "/api/token?room=test-room&identity=u", "", tc.hdr)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			if got := r.header.Get("Access-Control-Allow-Origin"); got != tc.wantACAO {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.wantACAO)
			}
			if r.header.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("Access-Control-Allow-Credentials must never be set")
			}
			if tc.wantCode != "" {
				if c := r.code(t); c != tc.wantCode {
					t.Errorf("code %q, want %q", c, tc.wantCode)
				}
			}
			if tc.method == "OPTIONS" && tc.wantStatus == 204 && tc.wantACAO != "" {
				if m := r.header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") || !strings.Contains(m, "GET") {
					t.Errorf("Allow-Methods %q", m)
				}
				if h := r.header.Get("Access-Control-Allow-Headers"); !strings.Contains(h, "Content-Type") || !strings.Contains(h, "Authorization") {
					t.Errorf("Allow-Headers %q", h)
				}
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	pol := mustPolicy(t, `
allow_rooms: ['*']
rate_limit:
  per_address: {rate: 1, burst: 2}
  per_key: {rate: 1, burst: 1}
api_keys:
  - {name: k, sha256: `+sha(backendKey)+`, rooms: ['*']}
`)
	f := newFixture(t, server.Config{Policy: pol})
	get := func(hdr map[string]string) reply {
		return f.do(t, "GET", "/api/token?room=a&identity=u", "", hdr)
	}
	key := map[string]string{"Authorization": "Bearer " + backendKey}
	steps := []struct {
		name       string
		hdr        map[string]string
		advance    time.Duration
		wantStatus int
		wantRetry  string
	}{
		{name: "address burst 1", wantStatus: 200},
		{name: "address burst 2", wantStatus: 200},
		{name: "address empty", wantStatus: 429, wantRetry: "1"},
		{name: "key has its own bucket", hdr: key, wantStatus: 200},
		{name: "key empty", hdr: key, wantStatus: 429, wantRetry: "1"},
		{name: "refilled after a second", advance: time.Second, wantStatus: 200},
		{name: "empty again", wantStatus: 429, wantRetry: "1"},
		{name: "key refilled", hdr: key, wantStatus: 200},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			f.clock.add(s.advance)
			r := get(s.hdr)
			if r.status != s.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, s.wantStatus, r.body)
			}
			if s.wantStatus == 429 {
				if c := r.code(t); c != server.CodeRateLimited {
					t.Errorf("code %q", c)
				}
				if ra := r.header.Get("Retry-After"); ra != s.wantRetry {
					t.Errorf("Retry-After %q, want %q", ra, s.wantRetry)
				}
			}
		})
	}
}

// TestRateLimitTinyRate: a policy may set a rate whose wait does not fit
// a Duration; Retry-After is then the longest wait, not 1 (which an
// overflowed, negative wait used to give).
func TestRateLimitTinyRate(t *testing.T) {
	pol := mustPolicy(t, "allow_rooms: ['*']\nrate_limit:\n  per_address: {rate: 1e-12, burst: 1}\n")
	f := newFixture(t, server.Config{Policy: pol})
	if r := f.do(t, "GET", "/api/token?room=a&identity=u", "", nil); r.status != 200 {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	r := f.do(t, "GET", "/api/token?room=a&identity=u", "", nil)
	if r.status != 429 || r.header.Get("Retry-After") != "9223372037" {
		t.Errorf("second: %d, Retry-After %q; want 429, 9223372037", r.status, r.header.Get("Retry-After"))
	}
}

func TestRoomsAndConfig(t *testing.T) {
	f := newFixture(t, server.Config{LiveKitURL: "ws://127.0.0.1:7880", PublicLiveKitURL: "wss://lk.example.com"})
	r := f.do(t, "GET", "/api/rooms", "", nil)
	if r.status != 200 {
		t.Fatalf("rooms: %d %s", r.status, r.body)
	}
	var rooms struct {
		Rooms []struct{ Name, Description, Agent string } `json:"rooms"`
	}
	if err := json.Unmarshal(r.body, &rooms); err != nil {
		t.Fatal(err)
	}
	want := []struct{ Name, Description, Agent string }{{"test-room", "dev room", ""}, {"support", "Support desk", "support-agent"}}
	if len(rooms.Rooms) != len(want) {
		t.Fatalf("rooms %s", r.body)
	}
	for i := range want {
		if rooms.Rooms[i] != want[i] {
			t.Errorf("room %d = %+v, want %+v", i, rooms.Rooms[i], want[i])
		}
	}
	if !bytes.Contains(r.body, []byte(`"agent":""`)) {
		t.Errorf("agent must be present (empty) for rooms without one: %s", r.body)
	}
	r = f.do(t, "GET", "/api/config", "", nil)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"server_url":"wss://lk.example.com"}` {
		t.Errorf("config: %d %s", r.status, r.body)
	}
	for _, path := range []string{"/api/rooms", "/api/config", "/healthz", "/readyz"} {
		r = f.do(t, "POST", path, "{}", nil)
		if r.status != 405 || r.code(t) != server.CodeMethod || r.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST %s: %d, Allow %q: %s", path, r.status, r.header.Get("Allow"), r.body)
		}
	}

	dev := newFixture(t, server.Config{Policy: policy.Default()})
	r = dev.do(t, "GET", "/api/rooms", "", nil)
	if !bytes.Contains(r.body, []byte(`"name":"test-room"`)) {
		t.Errorf("dev rooms: %s", r.body)
	}
}

func TestHealthAndReady(t *testing.T) {
	livekit := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") }))
	defer livekit.Close()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "ws://" + dead.Addr().String()
	dead.Close()
	up := "ws" + strings.TrimPrefix(livekit.URL, "http")
	tests := []struct {
		name       string
		cfg        server.Config
		path       string
		wantStatus int
	}{
		{name: "healthz", path: "/healthz", wantStatus: 200},
		{name: "readyz without probe", cfg: server.Config{LiveKitURL: deadURL}, path: "/readyz", wantStatus: 200},
		{name: "readyz livekit up", cfg: server.Config{LiveKitURL: up, CheckLiveKit: true}, path: "/readyz", wantStatus: 200},
		{name: "readyz livekit down", cfg: server.Config{LiveKitURL: deadURL, CheckLiveKit: true}, path: "/readyz", wantStatus: 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.cfg)
			r := f.do(t, "GET", tc.path, "", nil)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			if tc.wantStatus == 503 && r.code(t) != server.CodeNotReady {
				t.Errorf("body %s", r.body)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, server.Config{Version: "v1.2.3"})
	f.do(t, "GET", "/api/token?room=test-room&identity=u", "", nil)
	f.do(t, "GET", "/api/token?room=nope&identity=u", "", nil)
	f.do(t, "GET", "/api/token?room=test-room&identity=u&ttl=48", "", nil)
	r := f.do(t, "GET", "/metrics", "", nil)
	if r.status != 200 {
		t.Fatalf("metrics %d", r.status)
	}
	body := string(r.body)
	for _, want := range []string{
		`voicetoken_tokens_issued_total{outcome="issued"} 1`,
		`voicetoken_tokens_issued_total{outcome="denied"} 2`,
		`voicetoken_token_denials_total{reason="room_not_allowed"} 1`,
		`voicetoken_token_denials_total{reason="ttl_too_long"} 1`,
		`voicetoken_key_info{fingerprint="2bb80d53",key="devkey",primary="true"} 1`,
		`voicetoken_build_info{goversion="go`,
		`version="v1.2.3"} 1`,
		`voicetoken_http_request_duration_seconds_count{route="token_get"} 3`,
		`process_resident_memory_bytes`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, devSecret+`"`) {
		t.Error("metrics contain the secret")
	}
}

func TestAccessLogHasNoSecrets(t *testing.T) {
	f := newFixture(t, server.Config{})
	r := f.do(t, "GET", "/api/token?room=test-room&identity=u", "", nil)
	var out struct{ Token string }
	json.Unmarshal(r.body, &out)
	f.do(t, "GET", "/api/token?room=test-room&identity=u", "", map[string]string{"Authorization": "Bearer " + backendKey})
	f.do(t, "GET", "/api/token?room=nope&identity=u", "", nil)
	logs := f.logs.String()
	var events []string
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		events = append(events, m["event"].(string))
	}
	if strings.Join(events, ",") != "TOKEN_ISSUED,TOKEN_ISSUED,TOKEN_DENIED" {
		t.Errorf("events %v", events)
	}
	for _, secret := range []string{out.Token, strings.Split(out.Token, ".")[2], backendKey, `"` + devSecret + `"`} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains a secret or token: %.20s...", secret)
		}
	}
	if fp := `"token":"` + token.Fingerprint(out.Token) + `"`; !strings.Contains(logs, fp) {
		t.Errorf("log lacks the token fingerprint %s", fp)
	}
	if !strings.Contains(logs, `"caller":"backend"`) {
		t.Error("log does not name the API-key caller")
	}
}

func TestPage(t *testing.T) {
	page := fstest.MapFS{
		"index.html":    {Data: []byte("<!doctype html><script src=app.js></script>")},
		"assets/app.js": {Data: []byte("console.log(1)")},
	}
	tests := []struct {
		name       string
		cfg        server.Config
		path       string
		method     string
		wantStatus int
		wantBody   string
		wantCSP    []string
		wantAllow  string
	}{
		{name: "placeholder", path: "/", wantStatus: 200, wantBody: "voicetoken", wantCSP: []string{"script-src 'self'", "connect-src 'self' ws://127.0.0.1:7880 http://127.0.0.1:7880"}},
		{name: "placeholder 404", path: "/nope.js", wantStatus: 404},
		{name: "embedded index", cfg: server.Config{Page: page, LiveKitURL: "wss://lk.example.com:7443"}, path: "/", wantStatus: 200, wantBody: "<script src=app.js>",
			wantCSP: []string{"connect-src 'self' wss://lk.example.com:7443 https://lk.example.com:7443", "frame-ancestors 'none'", "object-src 'none'"}},
		{name: "embedded asset", cfg: server.Config{Page: page}, path: "/assets/app.js", wantStatus: 200, wantBody: "console.log"},
		{name: "livekit cloud wildcard", cfg: server.Config{Page: page, LiveKitURL: "wss://proj.livekit.cloud"}, path: "/", wantStatus: 200,
			wantCSP: []string{"wss://proj.livekit.cloud https://proj.livekit.cloud wss://*.livekit.cloud https://*.livekit.cloud"}},
		{name: "post to page", path: "/", method: "POST", wantStatus: 405, wantAllow: "GET, HEAD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.cfg)
			m := tc.method
			if m == "" {
				m = "GET"
			}
			r := f.do(t, m, tc.path, "", nil)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			if !strings.Contains(string(r.body), tc.wantBody) {
				t.Errorf("body %q lacks %q", r.body, tc.wantBody)
			}
			csp := r.header.Get("Content-Security-Policy")
			for _, w := range tc.wantCSP {
				if !strings.Contains(csp, w) {
					t.Errorf("CSP %q lacks %q", csp, w)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("CSP allows inline or eval: %q", csp)
			}
			if r.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff")
			}
			if got := r.header.Get("Allow"); got != tc.wantAllow {
				t.Errorf("Allow %q, want %q", got, tc.wantAllow)
			}
		})
	}
	_, err := server.New(server.Config{Keys: devKeys(t), Page: fstest.MapFS{"app.js": {}}})
	if !errors.Is(err, server.ErrInvalidConfig) {
		t.Errorf("page without index.html: %v, want ErrInvalidConfig", err)
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := server.Config{
		Addr:        "no-port",
		LiveKitURL:  "ftp://x",
		Policy:      &policy.File{Browser: policy.BrowserPolicy{Grants: []string{"roomAdmin"}}},
		ReadTimeout: -1,
	}
	err := cfg.Validate()
	if !errors.Is(err, server.ErrInvalidConfig) || !errors.Is(err, policy.ErrAdminGrant) {
		t.Fatalf("Validate: %v", err)
	}
	for _, want := range []string{"no-port", "ftp://x", "no API key", "roomAdmin", "negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error lacks %q:\n%v", want, err)
		}
	}
	if _, err := server.New(cfg); !errors.Is(err, server.ErrInvalidConfig) {
		t.Errorf("New accepted an invalid config: %v", err)
	}
	good := server.Config{Keys: devKeys(t)}
	if err := good.Validate(); err != nil {
		t.Errorf("zero config with keys: %v", err)
	}
}

// TestReload is SIGHUP: a good new policy and key file take effect
// together; a bad one is refused and the running ones stay.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	polFile := filepath.Join(dir, "policy.yaml")
	keyFile := filepath.Join(dir, "keys.yaml")
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(polFile, "rooms: [{name: old-room}]\n")
	write(keyFile, devKey+": "+devSecret+"\n")
	load := func() (*keys.Set, *policy.File, error) {
		ks, err := keys.Load(keys.Config{KeyFile: keyFile})
		if err != nil {
			return nil, nil, err
		}
		p, err := policy.Load(polFile)
		return ks, p, err
	}
	ks, pol, err := load()
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, server.Config{Keys: ks, Policy: pol, Reload: load})
	status := func(room string) int {
		return f.do(t, "GET", "/api/token?identity=u&room="+room, "", nil).status
	}
	steps := []struct {
		name       string
		policy     string
		keys       string
		wantErr    bool
		wantOld    int
		wantNew    int
		wantIssuer string
	}{
		{name: "bad policy refused", policy: "rooms: [{name: new-room}]\nbrowser: {grants: [roomAdmin]}\n", wantErr: true, wantOld: 200, wantNew: 403},
		{name: "broken YAML refused", policy: "rooms: [", wantErr: true, wantOld: 200, wantNew: 403},
		{name: "bad key file refused", policy: "rooms: [{name: new-room}]\n", keys: "no secret here\n", wantErr: true, wantOld: 200, wantNew: 403},
		{name: "good files applied together", policy: "rooms: [{name: new-room}]\n", keys: "newkey: newsecret\n", wantOld: 403, wantNew: 200, wantIssuer: "newkey"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			write(polFile, s.policy)
			if s.keys != "" {
				write(keyFile, s.keys)
			}
			err := f.srv.Reload()
			if (err != nil) != s.wantErr {
				t.Fatalf("Reload err = %v, wantErr %v", err, s.wantErr)
			}
			if got := status("old-room"); got != s.wantOld {
				t.Errorf("old-room: %d, want %d", got, s.wantOld)
			}
			if got := status("new-room"); got != s.wantNew {
				t.Errorf("new-room: %d, want %d", got, s.wantNew)
			}
			if s.wantIssuer != "" {
				r := f.do(t, "GET", "/api/token?identity=u&room=new-room", "", nil)
				var out struct{ Token string }
				json.Unmarshal(r.body, &out)
				v, err := auth.ParseAPIToken(out.Token)
				if err != nil {
					t.Fatal(err)
				}
				if v.APIKey() != s.wantIssuer {
					t.Errorf("issuer %q, want %q", v.APIKey(), s.wantIssuer)
				}
				if _, _, err := v.Verify("newsecret"); err != nil {
					t.Errorf("new key: %v", err)
				}
			}
		})
	}
	if !strings.Contains(f.logs.String(), `"event":"RELOAD_FAILED"`) || !strings.Contains(f.logs.String(), `"event":"RELOADED"`) {
		t.Errorf("reload events missing from log")
	}
	m := f.do(t, "GET", "/metrics", "", nil)
	if !strings.Contains(string(m.body), `key="newkey"`) || strings.Contains(string(m.body), `key="devkey"`) {
		t.Errorf("key_info not replaced on reload")
	}
}

// TestWatchFiles: a policy file replaced by rename (as editors and
// `install` do) is reloaded with no SIGHUP; a directory that cannot be
// watched is an error at once.
func TestWatchFiles(t *testing.T) {
	dir := t.TempDir()
	polFile := filepath.Join(dir, "policy.yaml")
	replace := func(data string) {
		t.Helper()
		tmp := filepath.Join(dir, ".policy.yaml.tmp")
		if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, polFile); err != nil {
			t.Fatal(err)
		}
	}
	replace("rooms: [{name: old-room}]\n")
	load := func() (*keys.Set, *policy.File, error) {
		p, err := policy.Load(polFile)
		return devKeys(t), p, err
	}
	_, pol, err := load()
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, server.Config{Policy: pol, Reload: load})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := f.srv.WatchFiles(ctx, "", polFile); err != nil {
		t.Fatal(err)
	}
	status := func(room string) int {
		return f.do(t, "GET", "/api/token?identity=u&room="+room, "", nil).status
	}
	replace("rooms: [{name: new-room}]\n")
	testkit.Eventually(t, 30*time.Second, "the renamed policy reloaded", func() bool { return status("new-room") == 200 })
	if got := status("old-room"); got != 403 {
		t.Errorf("old-room: %d after the reload, want 403", got)
	}

	err = f.srv.WatchFiles(ctx, filepath.Join(dir, "missing", "policy.yaml"))
	if err == nil || !strings.Contains(err.Error(), "watch "+filepath.Join(dir, "missing")) {
		t.Errorf("watching a missing directory: %v", err)
	}
}

func TestServeAndShutdown(t *testing.T) {
	srv, err := server.New(server.Config{Keys: devKeys(t), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	u := url.URL{Scheme: "http", Host: ln.Addr().String(), Path: "/healthz"}
	resp, err := http.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := http.Get(u.String()); err == nil {
		t.Error("server still answering after shutdown")
	}
}
