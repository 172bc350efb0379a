package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/livekit/protocol/auth"

	"voicetoken/internal/logscan"
	"voicetoken/internal/policy"
	"voicetoken/internal/server"
	"voicetoken/internal/testkit"
	"voicetoken/internal/userauth/oidctest"
)

// matrixCaller is one kind of caller and what testPolicyYAML lets it do.
// The model is written out here, apart from the policy compiler, so the
// test checks the server against the policy as documented.
type matrixCaller struct {
	name   string
	header map[string]string
	remote string // RemoteAddr; default httptest's 192.0.2.1
	// identity the caller asks for, and its token must carry: "u1", or
	// a signed-in user's own (the login's).
	identity string
	// refused: every request fails whatever it asks (status given);
	// neverMints: every request fails, for whichever reason comes first.
	refused    int
	neverMints bool
	rooms      func(room string) bool
	maxTTL     time.Duration
	// grants the caller's tokens may carry besides roomJoin.
	publish, subscribe, data, updateMeta, hidden bool
	metadata                                     bool // may set attributes
}

func browserRooms(room string) bool {
	ok, _ := path.Match("demo-*", room)
	return room == "test-room" || room == "support" || ok
}

func matrixCallers() []matrixCaller {
	browser := func(name string, hdr map[string]string) matrixCaller {
		return matrixCaller{name: name, header: hdr, rooms: browserRooms, maxTTL: 24 * time.Hour, publish: true, subscribe: true, data: true}
	}
	return []matrixCaller{
		browser("browser-same-origin", map[string]string{"Origin": "http://127.0.0.1:9000"}),
		browser("browser-allowed-origin", map[string]string{"Origin": "https://app.example.com"}),
		browser("browser-no-origin", nil),
		{name: "browser-other-origin", header: map[string]string{"Origin": "https://evil.example.com"}, refused: 403},
		{name: "browser-null-origin", header: map[string]string{"Origin": "null"}, refused: 403},
		{name: "key-backend", header: map[string]string{"Authorization": "Bearer " + backendKey}, rooms: func(string) bool { return true },
			maxTTL: time.Hour, publish: true, subscribe: true, data: true, updateMeta: true, hidden: true, metadata: true},
		{name: "key-bot", header: map[string]string{"Authorization": "Bearer " + botKey}, rooms: func(r string) bool { return r == "support" },
			maxTTL: 24 * time.Hour, subscribe: true},
		{name: "key-bad", header: map[string]string{"Authorization": "Bearer " + backendKey + "x"}, refused: 401},
		{name: "key-backend-other-origin", header: map[string]string{"Authorization": "Bearer " + backendKey, "Origin": "https://evil.example.com"}, refused: 403},
	}
}

// matrixUsersYAML adds signed-in users to testPolicyYAML: users go where
// browsers go and listen; the "hosts" group may speak. The forward-auth
// proxy is httptest's default peer, 192.0.2.1.
func matrixUsersYAML(op *oidctest.Provider) string {
	return `
trusted_proxies: [192.0.2.1]
oidc: [{name: corp, issuer: "` + op.Issuer + `", client_id: ` + oidctest.ClientID + `}]
forward_auth: {header: X-Auth-Request-Email, groups_header: X-Auth-Request-Groups}
users:
  grants: [canSubscribe]
  rules: [{claim: groups, value: hosts, grants: [canPublish, canSubscribe, canPublishData]}]
`
}

// matrixUsers are the signed-in callers: an OIDC host and listener (ID
// tokens from a real provider), a forged ID token, forward-auth users
// through the proxy, and the proxy's header from elsewhere.
func matrixUsers(t *testing.T, op *oidctest.Provider, l *logscan.Logs) []matrixCaller {
	alice := op.Login(t, oidctest.Alice, oidctest.ClientID)
	bob := op.Login(t, oidctest.Bob, oidctest.ClientID)
	forged := oidctest.SignWith(t, jose.SigningKey{Algorithm: jose.HS256, Key: op.PublicJWK(t)}, op.KID(), op.Claims(oidctest.Alice, time.Now()))
	l.Secret(alice, bob, forged)
	user := func(name, id string, hdr map[string]string, host bool) matrixCaller {
		return matrixCaller{name: name, header: hdr, identity: id, rooms: browserRooms, maxTTL: 24 * time.Hour,
			subscribe: true, publish: host, data: host}
	}
	return []matrixCaller{
		user("oidc-host", "corp:u-alice-1", map[string]string{"Authorization": "Bearer " + alice}, true),
		user("oidc-listener", "corp:u-bob-2", map[string]string{"Authorization": "Bearer " + bob}, false),
		{name: "oidc-forged-hs256", header: map[string]string{"Authorization": "Bearer " + forged}, refused: 401},
		user("forward-auth-host", "proxy:carol@example.com", map[string]string{"X-Auth-Request-Email": "carol@example.com", "X-Auth-Request-Groups": "hosts"}, true),
		{name: "forward-auth-from-elsewhere", header: map[string]string{"X-Auth-Request-Email": "carol@example.com"}, remote: "203.0.113.9:4444", refused: 403},
		{name: "browser-taking-a-user-identity", identity: "corp:u-alice-1", neverMints: true},
	}
}

// matrixRooms: allowed for some callers, a pattern, never allowed, and
// path/glob/encoding tricks that must never reach a token.
var matrixRooms = []struct {
	q     string // as sent, URL-encoded
	name  string // decoded
	valid bool   // a safe room name at all
}{
	{q: "test-room", name: "test-room", valid: true},
	{q: "support", name: "support", valid: true},
	{q: "demo-7", name: "demo-7", valid: true},
	{q: "secret-room", name: "secret-room", valid: true},
	{q: "TEST-ROOM", name: "TEST-ROOM", valid: true},
	{q: "demo-%2A", name: "demo-*"},
	{q: "%2A", name: "*"},
	{q: "..%2Ftest-room", name: "../test-room"},
	{q: "test-room%2F..%2Fsecret", name: "test-room/../secret"},
	{q: "test-room%00", name: "test-room\x00"},
	{q: "demo-%5Ba-z%5D", name: "demo-[a-z]"},
	{q: "t%D0%B5st-room", name: "tеst-room"}, // Cyrillic e
	{q: strings.Repeat("a", 129), name: strings.Repeat("a", 129)},
}

// matrixGrants are what a caller may try to ask for. The API has no
// grant parameter: a GET carries it as query parameters (ignored), a POST
// as a body field (refused) or as participant attributes (data, never a
// grant).
var matrixGrants = []string{
	"", "canPublishData", "roomAdmin", "roomCreate", "roomList", "roomRecord", "ingressAdmin", "hidden",
	"recorder", "agent", "canUpdateOwnMetadata", "canSubscribeMetrics", "canManageAgentSession",
	"destinationRoom", "sip.admin", "sip.call",
}

func matrixTTLs(max time.Duration) []struct {
	name, q string
	ok      bool
	want    time.Duration
} {
	return []struct {
		name, q string
		ok      bool
		want    time.Duration
	}{
		{name: "default", q: "", ok: true, want: min(6*time.Hour, max)},
		{name: "max", q: max.String(), ok: true, want: max},
		{name: "max+1s", q: (max + time.Second).String()},
		{name: "zero", q: "0"},
		{name: "negative", q: "-1"},
		{name: "huge", q: "1e400"},
		{name: "NaN", q: "NaN"},
	}
}

// TestAdversarialAccessMatrix asks for a token in every combination of
// caller kind x room x grant x ttl x method (GET, POST with the grant as
// a field, POST with it as an attribute) and checks each answer: a 4xx
// JSON refusal exactly where the policy refuses, otherwise a token that
// LiveKit's own verifier (the oracle) reads as inside the policy: the
// room asked for and allowed, the caller's grants at most, no admin grant
// ever, validity within the caller's maximum.
func TestAdversarialAccessMatrix(t *testing.T) {
	l := logscan.New(t)
	l.Secret(backendKey, botKey)
	now := time.Now().Truncate(time.Second)
	op := oidctest.Start(t)
	srv, err := server.New(server.Config{Keys: devKeys(t), Policy: mustPolicy(t, testPolicyYAML+matrixUsersYAML(op))},
		server.WithClock(func() time.Time { return now }), server.WithLogger(l.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	h := l.Handler(srv.Handler())
	testkit.Eventually(t, 10*time.Second, "the identity provider's keys", func() bool {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/readyz", nil)
		r.Host = "127.0.0.1:9000"
		h.ServeHTTP(w, r)
		return w.Code == http.StatusOK
	})
	l.Metrics(srv.Handler())
	identityRE := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$`)

	cells, minted, refusedCells, failed := 0, 0, 0, 0
	seen := map[string]time.Duration{}
	var failures []string
	fail := func(cell, format string, args ...any) {
		failed++
		if len(failures) < 20 {
			failures = append(failures, cell+": "+fmt.Sprintf(format, args...))
		}
	}
	for _, c := range append(matrixCallers(), matrixUsers(t, op, l)...) {
		if c.identity == "" {
			c.identity = "u1"
		}
		for _, room := range matrixRooms {
			for _, g := range matrixGrants {
				for _, ttl := range matrixTTLs(c.maxTTL) {
					for _, method := range []string{"GET", "POST-field", "POST-attr"} {
						if method != "GET" && g == "" {
							continue // same as the POST without a grant below
						}
						cells++
						cell := strings.Join([]string{c.name, room.q, g, ttl.name, method}, " x ")
						var req *http.Request
						q := "room=" + room.q + "&identity=" + url.QueryEscape(c.identity)
						if ttl.q != "" {
							q += "&ttl=" + url.QueryEscape(ttl.q)
						}
						switch method {
						case "GET":
							if g != "" {
								q += "&" + g + "=true&grants=" + g + "&video." + g + "=true"
							}
							req = httptest.NewRequest("GET", "/api/token?"+q, nil)
						default:
							body := map[string]any{"room_name": room.name, "participant_identity": c.identity}
							if method == "POST-field" {
								body[g] = true
							} else {
								body["participant_attributes"] = map[string]string{g: "true"}
							}
							b, _ := json.Marshal(body)
							// ttl in the POST's query: not part of the contract, ignored.
							req = httptest.NewRequest("POST", "/api/token?"+q, strings.NewReader(string(b)))
							req.Header.Set("Content-Type", "application/json")
						}
						req.Host = "127.0.0.1:9000" // as the browser sent it: a loopback Host
						if c.remote != "" {
							req.RemoteAddr = c.remote
						}
						for k, v := range c.header {
							req.Header.Set(k, v)
						}
						w := httptest.NewRecorder()
						h.ServeHTTP(w, req)

						// The model's answer.
						wantOK := c.refused == 0 && !c.neverMints && room.valid && c.rooms(room.name)
						wantTTL := min(6*time.Hour, c.maxTTL)
						switch method {
						case "GET":
							wantOK = wantOK && ttl.ok
							wantTTL = ttl.want
						case "POST-field":
							wantOK = false // unknown field
						case "POST-attr":
							wantOK = wantOK && c.metadata
						}

						if w.Code >= 500 {
							fail(cell, "status %d: %s", w.Code, w.Body)
							continue
						}
						if w.Code >= 400 {
							refusedCells++
							var e struct{ Error, Code string }
							if json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error == "" || e.Code == "" {
								fail(cell, "refusal %d is not {error, code} JSON: %s", w.Code, w.Body)
							}
							if wantOK {
								fail(cell, "refused (%d %s) though the policy allows it", w.Code, e.Code)
							}
							// A wrong key or a refused login spends from its address's bucket:
							// after the burst, 429 instead of 401.
							if c.refused != 0 && w.Code != c.refused && !((c.refused == 401 || c.refused == 403) && w.Code == 429) {
								fail(cell, "status %d, want %d for this caller", w.Code, c.refused)
							}
							continue
						}
						minted++
						var out struct {
							Token            string `json:"token"`
							ParticipantToken string `json:"participant_token"`
						}
						json.Unmarshal(w.Body.Bytes(), &out)
						raw := out.Token + out.ParticipantToken
						l.Issued(raw)
						if !wantOK {
							fail(cell, "minted (%d) though the policy refuses it", w.Code)
						}
						// The clock is frozen: a request that differs only in
						// ignored parameters mints the very same token, which
						// LiveKit's verifier (slow under -race) reads once.
						if seen[raw] == wantTTL {
							continue
						}
						seen[raw] = wantTTL
						v, err := auth.ParseAPIToken(raw)
						if err != nil {
							fail(cell, "LiveKit cannot parse the token: %v", err)
							continue
						}
						rc, gr, err := v.Verify(devSecret)
						if err != nil {
							fail(cell, "LiveKit rejects the token: %v", err)
							continue
						}
						vg := gr.Video
						switch {
						case vg == nil || !vg.RoomJoin || vg.Room != room.name || !c.rooms(vg.Room):
							fail(cell, "token for room %q (join %v), want %q", vg.Room, vg.RoomJoin, room.name)
						case vg.RoomAdmin || vg.RoomCreate || vg.RoomList || vg.RoomRecord || vg.IngressAdmin || vg.Recorder || vg.Agent ||
							vg.GetCanManageAgentSession() || vg.DestinationRoom != "" || gr.SIP != nil || gr.Agent != nil ||
							gr.Inference != nil || gr.Observability != nil || gr.AgentEndpoint != nil || gr.AgentThread != nil || gr.Kind != "":
							fail(cell, "ADMIN GRANT minted: %+v", gr)
						case vg.GetCanPublish() && !c.publish, vg.GetCanSubscribe() && !c.subscribe, vg.GetCanPublishData() && !c.data,
							vg.GetCanUpdateOwnMetadata() && !c.updateMeta, vg.Hidden && !c.hidden, vg.GetCanSubscribeMetrics(), len(vg.CanPublishSources) > 0:
							fail(cell, "grant outside the caller's set: %+v", vg)
						case len(gr.Attributes) > 0 && !c.metadata:
							fail(cell, "attributes for a caller without metadata rights")
						case !identityRE.MatchString(gr.Identity) || gr.Identity != c.identity:
							fail(cell, "identity %q, want %q", gr.Identity, c.identity)
						}
						if life := rc.ExpiresAt.Sub(rc.NotBefore.Time); life > c.maxTTL || life != wantTTL {
							fail(cell, "validity %s, want %s (max %s)", life, wantTTL, c.maxTTL)
						}
						if gr.RoomConfig != nil {
							for _, a := range gr.RoomConfig.Agents {
								if !(room.name == "support" && a.AgentName == "support-agent") {
									fail(cell, "agent %q dispatched", a.AgentName)
								}
							}
						}
					}
				}
			}
		}
	}
	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("ADVERSARIAL scenario=access-matrix tried=caller-x-room-x-grant-x-ttl-x-method-cells times=%d held=%d failed=%d", cells, cells-failed, failed)
	t.Logf("access matrix: %d cells, %d tokens minted (each inside the policy per LiveKit's verifier), %d refused with 4xx JSON", cells, minted, refusedCells)
	if minted == 0 || refusedCells == 0 {
		t.Error("the matrix exercised only one outcome")
	}
}

// TestAdversarialAdminGrantsRefusedByPolicy: no policy file can give any
// caller an admin grant: the parser refuses it with ErrAdminGrant, so the
// running policy (and the server) keeps what it had.
func TestAdversarialAdminGrantsRefusedByPolicy(t *testing.T) {
	admin := []string{"roomAdmin", "roomCreate", "roomList", "roomRecord", "ingressAdmin", "recorder", "agent",
		"canManageAgentSession", "destinationRoom", "sip", "sip.admin", "sip.call", "sipAdmin", "sipCall", "agentAdmin"}
	tried, failed := 0, 0
	for _, g := range admin {
		for _, where := range []string{"browser", "api_key"} {
			tried++
			ok := t.Run(where+"/"+g, func(t *testing.T) {
				y := "browser: {grants: [canPublish, " + g + "]}\n"
				if where == "api_key" {
					y = "api_keys: [{name: k, sha256: " + sha("k") + ", rooms: ['*'], grants: [" + g + "]}]\n"
				}
				if _, err := policy.Parse([]byte(y)); !errors.Is(err, policy.ErrAdminGrant) || !errors.Is(err, policy.ErrInvalidPolicy) {
					t.Errorf("ParsePolicy: %v, want ErrAdminGrant", err)
				}
			})
			if !ok {
				failed++
			}
		}
	}
	t.Logf("ADVERSARIAL scenario=admin-grants-in-policy tried=admin-grant-names-in-browser-and-key-policies times=%d held=%d failed=%d", tried, tried-failed, failed)
}

// TestAdversarialHostileRequests sends hostile requests to the token API:
// each must get a 4xx with {"error","code"}, never a 5xx or a token.
func TestAdversarialHostileRequests(t *testing.T) {
	f := newFixture(t, server.Config{MaxBodyBytes: 4 << 10})
	deepJSON := strings.Repeat(`{"room_config":`, 1000) + "{}" + strings.Repeat("}", 1000)
	tests := []struct {
		name   string
		method string
		query  string
		body   string
		hdr    map[string]string
	}{
		{name: "room ../x", query: "room=..%2Fx&identity=u"},
		{name: "room *", query: "room=*&identity=u"},
		{name: "room %2F", query: "room=test-room%2F..%2F..%2Fadmin&identity=u"},
		{name: "room NUL", query: "room=test-room%00&identity=u"},
		{name: "room 10 KB (query limit)", query: "room=" + strings.Repeat("a", 10<<10) + "&identity=u"},
		{name: "room 1 KB", query: "room=" + strings.Repeat("a", 1<<10) + "&identity=u"},
		{name: "room glob", query: "room=demo-%5B%5E%5D%5D&identity=u"},
		{name: "room double-encoded slash", query: "room=a%252Fb&identity=u"},
		{name: "room unicode homoglyph", query: "room=t%D0%B5st-room&identity=u"},
		{name: "room CRLF", query: "room=test-room%0D%0ASet-Cookie:x=1&identity=u"},
		{name: "identity ANSI escape", query: "room=test-room&identity=u%1B%5B31m"},
		{name: "identity CRLF", query: "room=test-room&identity=u%0D%0Ax"},
		{name: "identity NUL", query: "room=test-room&identity=u%00"},
		{name: "identity 10 KB", query: "room=test-room&identity=" + strings.Repeat("i", 1<<11)},
		{name: "identity invalid UTF-8", query: "room=test-room&identity=%FF%FE"},
		{name: "name with bell", query: "room=test-room&identity=u&name=%07%07"},
		{name: "name invalid UTF-8", query: "room=test-room&identity=u&name=%C3%28"},
		{name: "ttl 1e400", query: "room=test-room&identity=u&ttl=1e400"},
		{name: "ttl -1", query: "room=test-room&identity=u&ttl=-1"},
		{name: "ttl NaN", query: "room=test-room&identity=u&ttl=NaN"},
		{name: "ttl Inf", query: "room=test-room&identity=u&ttl=Inf"},
		{name: "ttl -0", query: "room=test-room&identity=u&ttl=-0"},
		{name: "ttl 1ns", query: "room=test-room&identity=u&ttl=1ns"},
		{name: "ttl hex", query: "room=test-room&identity=u&ttl=0x10"},
		{name: "ttl overflowing duration", query: "room=test-room&identity=u&ttl=9999999999h"},
		{name: "ttl as hours beyond max", query: "room=test-room&identity=u&ttl=876000"},
		{name: "duplicate identity", query: "room=test-room&identity=u&identity=admin"},
		{name: "bad percent escape", query: "room=%zz&identity=u"},
		{name: "huge query", query: "room=test-room&pad=" + strings.Repeat("x", 64<<10)},
		{name: "huge body", method: "POST", body: `{"participant_name":"` + strings.Repeat("n", 1<<20) + `"}`},
		{name: "bad JSON", method: "POST", body: `{"room_name":"test-room",}`},
		{name: "JSON with NUL", method: "POST", body: "{\"room_name\":\"test-room\x00\"}"},
		{name: "deep JSON", method: "POST", body: deepJSON},
		{name: "deep array", method: "POST", body: `{"room_config":{"agents":` + strings.Repeat("[", 1500) + strings.Repeat("]", 1500) + `}}`},
		{name: "JSON array body", method: "POST", body: `[{"room_name":"test-room"}]`},
		{name: "JSON string body", method: "POST", body: `"test-room"`},
		{name: "number overflow", method: "POST", body: `{"room_name":1e400}`},
		{name: "duplicate keys", method: "POST", body: `{"room_name":"test-room","room_name":"secret-room"}`},
		{name: "wrong content type", method: "POST", body: `{"room_name":"test-room"}`, hdr: map[string]string{"Content-Type": "text/plain"}},
		{name: "form content type", method: "POST", body: `room_name=test-room`, hdr: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
		{name: "malformed content type", method: "POST", body: `{}`, hdr: map[string]string{"Content-Type": "application/json; charset"}},
		{name: "POST room trick", method: "POST", body: `{"room_name":"../test-room","participant_identity":"u"}`},
		{name: "POST identity control", method: "POST", body: `{"room_name":"test-room","participant_identity":"u\u001b[2J"}`},
		{name: "POST room_config egress", method: "POST", body: `{"room_name":"test-room","room_config":{"egress":{"room":{"file_outputs":[{"s3":{"secret":"x"}}]}}}}`},
		{name: "POST admin grant field", method: "POST", body: `{"room_name":"test-room","video":{"roomAdmin":true}}`},
		{name: "POST agent not allowed", method: "POST", body: `{"room_name":"test-room","room_config":{"agents":[{"agent_name":"support-agent"}]}}`},
		{name: "bearer 10 KB", query: "room=test-room&identity=u", hdr: map[string]string{"Authorization": "Bearer " + strings.Repeat("k", 10<<10)}},
		{name: "bearer with tab", query: "room=test-room&identity=u", hdr: map[string]string{"Authorization": "Bearer\t" + backendKey}},
		{name: "bearer twice", query: "room=test-room&identity=u", hdr: map[string]string{"Authorization": "Bearer " + backendKey + ", Bearer " + backendKey}},
		{name: "basic auth", query: "room=test-room&identity=u", hdr: map[string]string{"Authorization": "Basic YWRtaW46YWRtaW4="}},
		{name: "origin null", query: "room=test-room&identity=u", hdr: map[string]string{"Origin": "null"}},
		{name: "origin lookalike", query: "room=test-room&identity=u", hdr: map[string]string{"Origin": "https://app.example.com.evil.example"}},
		{name: "origin with userinfo", query: "room=test-room&identity=u", hdr: map[string]string{"Origin": "https://app.example.com@evil.example"}},
		{name: "method PUT", method: "PUT", query: "room=test-room&identity=u"},
		{name: "method TRACE", method: "TRACE", query: "room=test-room&identity=u"},
	}
	held, failed := 0, 0
	for _, tc := range tests {
		ok := t.Run(tc.name, func(t *testing.T) {
			m := tc.method
			if m == "" {
				m = "GET"
			}
			r := f.do(t, m, "/api/token?"+tc.query, tc.body, tc.hdr)
			if r.status < 400 || r.status > 499 {
				t.Fatalf("status %d, want 4xx: %.200s", r.status, r.body)
			}
			if c := r.code(t); c == "" || c == server.CodeInternal {
				t.Errorf("code %q", c)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if len(r.body) > 1024 {
				t.Errorf("refusal of %d bytes: hostile input echoed", len(r.body))
			}
		})
		if ok {
			held++
		} else {
			failed++
		}
	}
	t.Logf("ADVERSARIAL scenario=hostile-requests tried=room-identity-ttl-body-header-tricks-to-token-api times=%d held=%d failed=%d", len(tests), held, failed)
}

// TestAdversarialServeLimits goes through Server.Serve (the real
// http.Server and its limits): oversized headers and a body that never
// ends are refused with a 4xx, and the server stays up.
func TestAdversarialServeLimits(t *testing.T) {
	l := logscan.New(t)
	l.Secret(backendKey, botKey)
	base := "http://" + serveOnLoopback(t, l, server.Config{ReadTimeout: time.Second, ReadHeaderTimeout: time.Second})
	client := &http.Client{Timeout: 10 * time.Second}
	type attempt struct {
		name string
		req  func() *http.Request
	}
	attempts := []attempt{
		{"header of 64 KB", func() *http.Request {
			r, _ := http.NewRequest("GET", base+"/api/token?room=test-room&identity=u", nil)
			r.Header.Set("X-Pad", strings.Repeat("p", 64<<10))
			return r
		}},
		{"body of 1 MB", func() *http.Request {
			r, _ := http.NewRequest("POST", base+"/api/token", strings.NewReader(`{"participant_name":"`+strings.Repeat("n", 1<<20)+`"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}},
		{"query of 64 KB", func() *http.Request {
			r, _ := http.NewRequest("GET", base+"/api/token?room=test-room&pad="+strings.Repeat("q", 64<<10), nil)
			return r
		}},
	}
	held, failed := 0, 0
	for _, a := range attempts {
		ok := t.Run(a.name, func(t *testing.T) {
			resp, err := client.Do(a.req())
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			body := l.Response(resp)
			if resp.StatusCode < 400 || resp.StatusCode > 499 {
				t.Fatalf("status %d, want 4xx: %.200s", resp.StatusCode, body)
			}
		})
		if ok {
			held++
		} else {
			failed++
		}
	}
	// Still serving.
	resp, err := client.Get(base + "/api/token?room=test-room&identity=u")
	if err != nil {
		t.Fatal(err)
	}
	if body := l.Response(resp); resp.StatusCode != 200 {
		t.Errorf("after the attempts: %d %s", resp.StatusCode, body)
		failed++
	}
	t.Logf("ADVERSARIAL scenario=serve-limits tried=oversized-header-body-query-through-http-server times=%d held=%d failed=%d", len(attempts), held, failed)
}

// TestAdversarialSlowClients goes through Server.Serve with short limits:
// a client that sends half a header, one that connects and says nothing,
// one that keeps a connection idle, one that never reads its answers and
// one that sends half a POST body, and one that announces a GET body it
// never sends each lose their connection (or get a
// 4xx) once their limit has passed, never before; a client that keeps its
// connection busy is never cut; each close is counted in /metrics.
func TestAdversarialSlowClients(t *testing.T) {
	const (
		headerTO = 150 * time.Millisecond
		writeTO  = 300 * time.Millisecond
		idleTO   = 400 * time.Millisecond
		readTO   = 200 * time.Millisecond
	)
	l := logscan.New(t)
	addr := serveOnLoopback(t, l, server.Config{ReadHeaderTimeout: headerTO, WriteTimeout: writeTO, IdleTimeout: idleTO, ReadTimeout: readTO})
	get := "GET /api/token?room=test-room&identity=u HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
	// dial also says when it began: the server's limits start once it has
	// accepted, which may be before Dial returns, so only a clock read
	// before dialling is a lower bound for every limit.
	dial := func(t *testing.T) (*net.TCPConn, time.Time) {
		t.Helper()
		start := time.Now()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.TCPConn), start
	}
	// closedAfter reads (and drops) what the server sends until it closes
	// the connection, and says how long that took from start.
	closedAfter := func(t *testing.T, c net.Conn, start time.Time) time.Duration {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 64<<10)
		for {
			if _, err := c.Read(buf); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatal("the server kept the connection open for 10s")
				}
				return time.Since(start)
			}
		}
	}
	// net/http's deadlines close a connection no earlier than its limit.
	atLeast := func(t *testing.T, what string, got, limit time.Duration) {
		t.Helper()
		if got < limit {
			t.Errorf("%s: after %s, before its limit of %s", what, got, limit)
		}
		t.Logf("%s: after %s (limit %s)", what, got, limit)
	}
	scenarios := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"half a header", func(t *testing.T) {
			c, start := dial(t)
			fmt.Fprint(c, "GET /api/token?room=test-room HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
			atLeast(t, "half a header", closedAfter(t, c, start), headerTO)
		}},
		{"silent connection", func(t *testing.T) {
			c, start := dial(t)
			atLeast(t, "silent", closedAfter(t, c, start), headerTO)
		}},
		{"idle keep-alive", func(t *testing.T) {
			c, _ := dial(t)
			// The idle limit starts once the answer is written, which is
			// before the client reads it: the clock is read before asking.
			start := time.Now()
			fmt.Fprint(c, get)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if body := l.Response(resp); resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			atLeast(t, "idle", closedAfter(t, c, start), idleTO)
		}},
		{"never reads its answers", func(t *testing.T) {
			c, start := dial(t)
			c.SetReadBuffer(4 << 10)
			// Pipelined scrapes whose answers (several KB each) fill both
			// socket buffers; the server's write then blocks until its
			// WriteTimeout passes.
			reqs := []byte(strings.Repeat("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 5000))
			go c.Write(reqs) // blocks too once the server stops reading
			pollMetric(t, addr, `voicetoken_http_timeouts_total{phase="active"}`, 1, 10*time.Second)
			atLeast(t, "never reads", time.Since(start), writeTO)
		}},
		{"half a POST body", func(t *testing.T) {
			c, start := dial(t)
			fmt.Fprint(c, "POST /api/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"room_name\":")
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			body := l.Response(resp)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			atLeast(t, "half a body", time.Since(start), readTO)
		}},
		{"GET whose body never comes", func(t *testing.T) {
			// The handler ignores a GET's body and net/http then tries to
			// discard it: that read ends at the header's and the
			// answer's limits together, not never.
			c, start := dial(t)
			fmt.Fprint(c, "GET /api/token?room=test-room&identity=u HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
			atLeast(t, "GET body never comes", closedAfter(t, c, start), headerTO+writeTO)
		}},
		{"busy keep-alive", func(t *testing.T) {
			// Back-to-back requests on one connection for longer than
			// every limit: none of them is cut.
			c, _ := dial(t)
			br := bufio.NewReader(c)
			n := 0
			for start := time.Now(); time.Since(start) < 2*idleTO; n++ {
				if _, err := fmt.Fprint(c, get); err != nil {
					t.Fatalf("request %d: %v", n, err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("request %d after %s: %v", n, time.Since(start), err)
				}
				if body := l.Response(resp); resp.StatusCode != 200 {
					t.Fatalf("request %d: status %d: %s", n, resp.StatusCode, body)
				}
			}
			t.Logf("busy: %d requests on one connection, none cut", n)
		}},
	}
	held, failed := 0, 0
	for _, s := range scenarios {
		if t.Run(s.name, s.run) {
			held++
		} else {
			failed++
		}
	}
	// Half a header and the silent one; the idle one (the half body may
	// add one of either after its 400).
	pollMetric(t, addr, `voicetoken_http_timeouts_total{phase="header"}`, 2, 5*time.Second)
	pollMetric(t, addr, `voicetoken_http_timeouts_total{phase="idle"}`, 1, 5*time.Second)
	t.Logf("ADVERSARIAL scenario=slow-clients tried=half-header-silent-idle-unread-answers-half-body-get-body-busy times=%d held=%d failed=%d", len(scenarios), held, failed)
}

// serveOnLoopback runs the real Server.Serve (http.Server, its limits and
// the timeout counters) with cfg, the dev keys and testPolicyYAML, logging
// to l, until the test ends; it returns the address.
func serveOnLoopback(t *testing.T, l *logscan.Logs, cfg server.Config) string {
	t.Helper()
	cfg.Keys, cfg.Policy = devKeys(t), mustPolicy(t, testPolicyYAML)
	srv, err := server.New(cfg, server.WithLogger(l.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// pollMetric scrapes /metrics until the series reaches at least min, or
// fails at the deadline.
func pollMetric(t *testing.T, addr, series string, min float64, within time.Duration) {
	t.Helper()
	var last []string
	defer func() {
		if t.Failed() {
			t.Logf("last timeout counters seen: %s", strings.Join(last, "; "))
		}
	}()
	testkit.Eventually(t, within, fmt.Sprintf("%s to reach %g", series, min), func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = last[:0]
		reached := false
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, series+" "); ok {
				if n, err := strconv.ParseFloat(v, 64); err == nil && n >= min {
					reached = true
				}
			}
			if strings.HasPrefix(line, "voicetoken_http_timeouts_total") {
				last = append(last, line)
			}
		}
		return reached
	})
}
