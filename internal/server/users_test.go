package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"voicetoken/internal/server"
	"voicetoken/internal/testkit"
	"voicetoken/internal/userauth"
	"voicetoken/internal/userauth/oidctest"
)

// usersPolicy: users of the provider op may join podium-* and test-room;
// hosts (groups contains "hosts") may speak, everyone else listens.
func usersPolicy(op *oidctest.Provider, extra string) string {
	return `
default_room: test-room
rooms: [{name: test-room}]
allow_rooms: ["demo-*"]
rate_limit: {per_address: {rate: 0}, per_key: {rate: 0}}
oidc:
  - name: corp
    issuer: ` + op.Issuer + `
    client_id: ` + oidctest.ClientID + `
users:
  rooms: ["podium-*", test-room]
  grants: [canSubscribe, canPublishData]
  rules:
    - {claim: groups, value: hosts, grants: [canPublish, canSubscribe, canPublishData]}
` + extra
}

// waitReady polls /readyz until the identity providers' keys are known.
func (f *fixture) waitReady(t *testing.T) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "/readyz 200", func() bool {
		return f.do(t, "GET", "/readyz", "", nil).status == http.StatusOK
	})
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// mintedFor asks for a token as POST /api/token does and checks it with
// LiveKit's verifier.
func (f *fixture) mintedFor(t *testing.T, body string, hdr map[string]string) (identity, name string, publish, subscribe bool) {
	t.Helper()
	r := f.do(t, "POST", "/api/token", body, hdr)
	if r.status != http.StatusCreated {
		t.Fatalf("POST /api/token: %d %s", r.status, r.body)
	}
	var out struct {
		Token string `json:"participant_token"`
	}
	json.Unmarshal(r.body, &out)
	g, _ := verify(t, out.Token)
	noAdmin(t, g)
	return g.Identity, g.Name, g.Video.GetCanPublish(), g.Video.GetCanSubscribe()
}

// TestOIDCUser: a user signs in at a real OpenID Provider, the page
// sends the ID token, and the LiveKit token carries the identity and
// grants the login and the policy give: never one the caller names.
func TestOIDCUser(t *testing.T) {
	op := oidctest.Start(t)
	f := newFixture(t, server.Config{Policy: mustPolicy(t, usersPolicy(op, ""))})
	f.waitReady(t)
	alice := op.Login(t, oidctest.Alice, oidctest.ClientID)
	bob := op.Login(t, oidctest.Bob, oidctest.ClientID)
	f.logs.Secret(alice, bob)

	for _, tc := range []struct {
		name          string
		token         string
		body          string
		wantID        string
		wantName      string
		wantPublish   bool
		wantSubscribe bool
	}{
		{name: "a host speaks in podium-*", token: alice, body: `{"room_name":"podium-1"}`, wantID: "corp:u-alice-1", wantName: "Alice Host", wantPublish: true, wantSubscribe: true},
		{name: "anyone else listens", token: bob, body: `{"room_name":"podium-1"}`, wantID: "corp:u-bob-2", wantName: "Bob Listener", wantSubscribe: true},
		{name: "the name comes from the login", token: bob, body: `{"room_name":"test-room","participant_name":"Mallory"}`, wantID: "corp:u-bob-2", wantName: "Bob Listener", wantSubscribe: true},
		{name: "naming its own identity is fine", token: bob, body: `{"room_name":"test-room","participant_identity":"corp:u-bob-2"}`, wantID: "corp:u-bob-2", wantName: "Bob Listener", wantSubscribe: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, name, pub, sub := f.mintedFor(t, tc.body, bearer(tc.token))
			if id != tc.wantID || name != tc.wantName || pub != tc.wantPublish || sub != tc.wantSubscribe {
				t.Errorf("token for %q %q publish=%v subscribe=%v; want %q %q %v %v", id, name, pub, sub, tc.wantID, tc.wantName, tc.wantPublish, tc.wantSubscribe)
			}
		})
	}

	for _, tc := range []struct {
		name, method, path, body string
		want                     int
		code                     string
	}{
		{name: "another identity (POST)", method: "POST", path: "/api/token", body: `{"room_name":"podium-1","participant_identity":"corp:u-alice-1"}`, want: 403, code: "identity_not_allowed"},
		{name: "another identity (GET)", method: "GET", path: "/api/token?room=podium-1&identity=alice", want: 403, code: "identity_not_allowed"},
		{name: "a room users may not join", method: "GET", path: "/api/token?room=demo-1", want: 403, code: "room_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, tc.method, tc.path, tc.body, bearer(bob))
			if r.status != tc.want || r.code(t) != tc.code {
				t.Fatalf("%d %s; want %d %s", r.status, r.body, tc.want, tc.code)
			}
		})
	}

	// A browser may not take an identity in a user source's namespace.
	r := f.do(t, "GET", "/api/token?room=test-room&identity=corp:u-alice-1", "", nil)
	if r.status != http.StatusForbidden || r.code(t) != "identity_not_allowed" {
		t.Errorf("a browser naming corp:u-alice-1: %d %s", r.status, r.body)
	}
}

// TestOIDCRefusals: every ID token that is not genuine, current and for
// this audience gets 401 with RFC 6750's WWW-Authenticate and a reason.
func TestOIDCRefusals(t *testing.T) {
	op := oidctest.Start(t)
	stranger := oidctest.Start(t)
	f := newFixture(t, server.Config{Policy: mustPolicy(t, usersPolicy(op, ""))})
	f.waitReady(t)
	now := time.Now()
	genuine := op.Login(t, oidctest.Alice, oidctest.ClientID)
	none := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + strings.Split(op.Sign(t, op.Claims(oidctest.Alice, now)), ".")[1] + "."
	cases := []struct {
		name    string
		token   string
		advance time.Duration
		reason  string
	}{
		{name: "expired", token: genuine, advance: 2 * time.Hour, reason: "expired"},
		{name: "wrong audience", token: op.Login(t, oidctest.Alice, oidctest.OtherClientID), reason: "wrong audience"},
		{name: "wrong issuer", token: op.Sign(t, map[string]any{"iss": "https://evil.example", "sub": "x", "aud": oidctest.ClientID, "exp": now.Add(time.Hour).Unix()}), reason: "not configured"},
		{name: "a second provider, not configured", token: stranger.Login(t, oidctest.Alice, oidctest.ClientID), reason: "not configured"},
		{name: "alg none", token: none, reason: "algorithm"},
		{name: "HS256 with the public key", token: oidctest.SignWith(t, jose.SigningKey{Algorithm: jose.HS256, Key: op.PublicJWK(t)}, op.KID(), op.Claims(oidctest.Alice, now)), reason: "algorithm"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.logs.Secret(tc.token)
			f.clock.add(tc.advance)
			defer f.clock.add(-tc.advance)
			r := f.do(t, "POST", "/api/token", `{"room_name":"podium-1"}`, bearer(tc.token))
			if r.status != http.StatusUnauthorized || r.code(t) != server.CodeInvalidIDToken {
				t.Fatalf("%d %s; want 401 invalid_token", r.status, r.body)
			}
			wa := r.header.Get("WWW-Authenticate")
			if !strings.HasPrefix(wa, `Bearer realm="voicetoken", error="invalid_token", error_description="`) || !strings.Contains(wa, tc.reason) {
				t.Errorf("WWW-Authenticate %q; want error=invalid_token and %q", wa, tc.reason)
			}
		})
	}
}

// TestOIDCProviderDown: the provider is down when serve starts: /readyz
// says which and why, a user's token gets 503, and once the provider is
// back both recover without a restart. A key rotation later is picked
// up too.
func TestOIDCProviderDown(t *testing.T) {
	op := oidctest.Start(t)
	op.SetDown(true)
	f := newFixture(t, server.Config{Policy: mustPolicy(t, usersPolicy(op, ""))})
	testkit.Eventually(t, 10*time.Second, "/readyz naming the provider", func() bool {
		r := f.do(t, "GET", "/readyz", "", nil)
		return r.status == http.StatusServiceUnavailable && strings.Contains(string(r.body), "identity provider corp") && strings.Contains(string(r.body), "503")
	})
	tok := op.Sign(t, op.Claims(oidctest.Alice, time.Now()))
	f.logs.Secret(tok)
	if r := f.do(t, "POST", "/api/token", `{"room_name":"podium-1"}`, bearer(tok)); r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("while the provider is down: %d %s", r.status, r.body)
	}
	op.SetDown(false)
	f.waitReady(t)
	f.mintedFor(t, `{"room_name":"podium-1"}`, bearer(tok))

	op.Rotate(t, jose.ES256)
	f.clock.add(userauth.DefaultMinRefresh)
	rotated := op.Login(t, oidctest.Alice, oidctest.ClientID)
	f.logs.Secret(rotated)
	if id, _, _, _ := f.mintedFor(t, `{"room_name":"podium-1"}`, bearer(rotated)); id != "corp:u-alice-1" {
		t.Errorf("after rotation: identity %q", id)
	}
}

// TestForwardAuthUser: the proxy's header makes a user only when the
// request comes from a trusted proxy; from anywhere else it is refused.
func TestForwardAuthUser(t *testing.T) {
	fa := `forward_auth: {header: X-Auth-Request-Email, name_header: X-Auth-Request-Preferred-Username, groups_header: X-Auth-Request-Groups}
users: {rooms: ["podium-*"], grants: [canSubscribe], rules: [{claim: groups, value: hosts, grants: [canPublish, canSubscribe]}]}
`
	base := "default_room: test-room\nrooms: [{name: test-room}]\nrate_limit: {per_address: {rate: 0}, per_key: {rate: 0}}\n"
	hdr := map[string]string{"X-Auth-Request-Email": "alice@example.com", "X-Auth-Request-Preferred-Username": "Alice", "X-Auth-Request-Groups": "staff,hosts"}

	trusted := newFixture(t, server.Config{Policy: mustPolicy(t, base+"trusted_proxies: [127.0.0.1]\n"+fa)})
	id, name, pub, _ := trusted.mintedFor(t, `{"room_name":"podium-1"}`, hdr)
	if id != "proxy:alice@example.com" || name != "Alice" || !pub {
		t.Errorf("through the trusted proxy: %q %q publish=%v", id, name, pub)
	}
	hdr["X-Auth-Request-Groups"] = ""
	if _, _, pub, _ := trusted.mintedFor(t, `{"room_name":"podium-1"}`, hdr); pub {
		t.Error("a user without the hosts group may publish")
	}

	elsewhere := newFixture(t, server.Config{Policy: mustPolicy(t, base+"trusted_proxies: [10.9.8.7]\n"+fa)})
	r := elsewhere.do(t, "POST", "/api/token", `{"room_name":"podium-1"}`, hdr)
	if r.status != http.StatusForbidden || r.code(t) != server.CodeUntrustedProxy {
		t.Fatalf("the header from an untrusted address: %d %s; want 403 %s", r.status, r.body, server.CodeUntrustedProxy)
	}
}

// TestCloudflareAccessUser: Cf-Access-Jwt-Assertion is verified against
// the team domain's keys (a real provider stands in for it).
func TestCloudflareAccessUser(t *testing.T) {
	op := oidctest.Start(t)
	y := "default_room: test-room\nrooms: [{name: test-room}]\nrate_limit: {per_address: {rate: 0}, per_key: {rate: 0}}\n" +
		"forward_auth: {cloudflare_access: {team_domain: " + op.Issuer + ", audience: " + oidctest.ClientID + ", jwks_url: " + op.JWKSURL() + "}}\n" +
		"users: {rooms: [test-room], grants: [canSubscribe]}\n"
	f := newFixture(t, server.Config{Policy: mustPolicy(t, y)})
	f.waitReady(t)
	tok := op.Login(t, oidctest.Alice, oidctest.ClientID)
	forged := oidctest.SignWith(t, jose.SigningKey{Algorithm: jose.HS256, Key: op.PublicJWK(t)}, op.KID(), op.Claims(oidctest.Bob, time.Now()))
	f.logs.Secret(tok, forged)
	if id, _, _, _ := f.mintedFor(t, `{}`, map[string]string{userauth.CloudflareHeader: tok}); id != "cf:alice@example.com" {
		t.Errorf("identity %q", id)
	}
	if r := f.do(t, "POST", "/api/token", `{}`, map[string]string{userauth.CloudflareHeader: forged}); r.status != http.StatusUnauthorized {
		t.Errorf("a forged assertion: %d %s", r.status, r.body)
	}
}
