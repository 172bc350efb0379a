package userauth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"voicetoken/internal/logscan"
	"voicetoken/internal/policy"
	"voicetoken/internal/testkit"
	"voicetoken/internal/userauth"
	"voicetoken/internal/userauth/oidctest"
)

// clock is the real time plus an offset the test moves.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

func newRegistry(t *testing.T, logs *logscan.Logs, c *clock) *userauth.Registry {
	r := userauth.NewRegistry(userauth.Options{Logger: logs.Logger(), Now: c.now,
		RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	t.Cleanup(r.Close)
	return r
}

func corp(p *oidctest.Provider) policy.OIDCIssuer {
	return policy.OIDCIssuer{Name: "corp", Issuer: p.Issuer, ClientID: oidctest.ClientID}
}

func ready(t *testing.T, v interface{ Ready() error }) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "the identity provider's keys", func() bool { return v.Ready() == nil })
}

// TestLoginAtRealProvider: a user signs in at a real OpenID Provider
// (authorization code flow), and the ID token it issues becomes the
// mapped identity, name and claims.
func TestLoginAtRealProvider(t *testing.T) {
	logs := logscan.New(t)
	p := oidctest.Start(t)
	r := newRegistry(t, logs, &clock{})
	email := policy.OIDCIssuer{Name: "mail", Issuer: p.Issuer, Audience: oidctest.ClientID,
		IdentityClaim: "email", IdentityPrefix: new(string), NameClaim: "preferred_username"}
	for _, tc := range []struct {
		name      string
		cfg       policy.OIDCIssuer
		user      string
		wantID    string
		wantName  string
		wantHosts bool
	}{
		{name: "sub with the issuer's prefix", cfg: corp(p), user: oidctest.Alice, wantID: "corp:u-alice-1", wantName: "Alice Host", wantHosts: true},
		{name: "a user without the group", cfg: corp(p), user: oidctest.Bob, wantID: "corp:u-bob-2", wantName: "Bob Listener"},
		{name: "email, no prefix, name from another claim", cfg: email, user: oidctest.Alice, wantID: "alice@example.com", wantName: "alice", wantHosts: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := r.Verifier([]policy.OIDCIssuer{tc.cfg})
			ready(t, v)
			raw := p.Login(t, tc.user, oidctest.ClientID)
			logs.Secret(raw)
			u, err := v.Verify(context.Background(), raw)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if u.Identity != tc.wantID || u.Name != tc.wantName || u.Kind != userauth.KindOIDC || u.Source != tc.cfg.Name {
				t.Errorf("user = %+v, want identity %q name %q", u, tc.wantID, tc.wantName)
			}
			if got := u.HasClaim("groups", "hosts"); got != tc.wantHosts {
				t.Errorf("HasClaim(groups, hosts) = %v, want %v", got, tc.wantHosts)
			}
			if !u.HasClaim("email_verified", "true") {
				t.Errorf("email_verified claim not exposed: %v", u.Claims)
			}
		})
	}
}

// TestRefusals: every token that is not a genuine, current ID token of
// the configured issuer for the configured audience is refused with
// ErrInvalidToken and the specific reason, and the message never shows
// the token.
func TestRefusals(t *testing.T) {
	logs := logscan.New(t)
	p := oidctest.Start(t)
	partner := oidctest.Start(t)  // configured too
	stranger := oidctest.Start(t) // a real provider nobody configured
	c := &clock{}
	r := newRegistry(t, logs, c)
	v := r.Verifier([]policy.OIDCIssuer{corp(p), {Name: "partner", Issuer: partner.Issuer, ClientID: oidctest.ClientID}})
	ready(t, v)
	now := time.Now()
	genuine := p.Login(t, oidctest.Alice, oidctest.ClientID)
	logs.Secret(genuine)
	if _, err := v.Verify(context.Background(), genuine); err != nil {
		t.Fatalf("the genuine token is refused: %v", err)
	}
	with := func(k string, val any) map[string]any {
		m := p.Claims(oidctest.Alice, now)
		m[k] = val
		return m
	}
	hs256 := oidctest.SignWith(t, jose.SigningKey{Algorithm: jose.HS256, Key: p.PublicJWK(t)}, p.KID(), p.Claims(oidctest.Alice, now))
	parts := strings.Split(genuine, ".")
	var payload map[string]any
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(b, &payload)
	payload["sub"] = "u-admin"
	b, _ = json.Marshal(payload)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(mustJSON(p.Claims(oidctest.Alice, now))) + "."

	for _, tc := range []struct {
		name    string
		token   func() string
		advance time.Duration
		want    error
		msg     string
	}{
		{name: "expired", token: func() string { return genuine }, advance: 2 * time.Hour, want: userauth.ErrExpired, msg: "expired at"},
		{name: "wrong audience (another client of the same provider)", token: func() string { return p.Login(t, oidctest.Alice, oidctest.OtherClientID) }, want: userauth.ErrAudience, msg: `not to "voicetoken-web"`},
		{name: "wrong issuer, signed with the issuer's key", token: func() string { return p.Sign(t, with("iss", "https://evil.example")) }, want: userauth.ErrUnknownIssuer, msg: "https://evil.example"},
		{name: "another configured issuer's name, signed with this one's key", token: func() string { return p.Sign(t, with("iss", partner.Issuer)) }, want: userauth.ErrSignature},
		{name: "a second provider that is not configured", token: func() string { return stranger.Login(t, oidctest.Alice, oidctest.ClientID) }, want: userauth.ErrUnknownIssuer},
		{name: "alg none", token: func() string { return none }, want: userauth.ErrAlgorithm, msg: `"none"`},
		{name: "HS256 with the public key as the secret", token: func() string { return hs256 }, want: userauth.ErrAlgorithm, msg: `"HS256"`},
		{name: "payload changed after signing", token: func() string { return tampered }, want: userauth.ErrSignature},
		{name: "not yet valid", token: func() string { return p.Sign(t, with("nbf", now.Add(time.Hour).Unix())) }, want: userauth.ErrNotYetValid},
		{name: "no identity claim", token: func() string { return p.Sign(t, with("sub", "")) }, want: userauth.ErrIdentity},
		{name: "not a JWT", token: func() string { return "not-a-token-at-all" }, want: userauth.ErrMalformed},
		{name: "too long", token: func() string { return strings.Repeat("a", 13<<10) }, want: userauth.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.token()
			logs.Secret(raw)
			c.advance(tc.advance)
			defer c.advance(-tc.advance)
			u, err := v.Verify(context.Background(), raw)
			if !errors.Is(err, userauth.ErrInvalidToken) || !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %+v, %v; want ErrInvalidToken and %v", u, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			logs.NoSecret(err)
		})
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestKeyRotation: the provider rotates to keys of other algorithms; the
// verifier picks each up without a restart, fetching the key set again
// on the unknown key ID, but no more than once per MinRefresh.
func TestKeyRotation(t *testing.T) {
	logs := logscan.New(t)
	p := oidctest.Start(t)
	c := &clock{}
	r := newRegistry(t, logs, c)
	v := r.Verifier([]policy.OIDCIssuer{corp(p)})
	ready(t, v)
	login := func() (*userauth.User, error) {
		raw := p.Login(t, oidctest.Alice, oidctest.ClientID)
		logs.Secret(raw)
		return v.Verify(context.Background(), raw)
	}
	if _, err := login(); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	fetches := p.JWKSRequests()
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256} {
		kid := p.Rotate(t, alg)
		c.advance(userauth.DefaultMinRefresh + time.Second)
		u, err := login()
		if err != nil {
			t.Fatalf("after rotating to %s (%s): %v", alg, kid, err)
		}
		if u.Identity != "corp:u-alice-1" {
			t.Errorf("identity %q", u.Identity)
		}
		if got := p.JWKSRequests(); got != fetches+1 {
			t.Errorf("rotation to %s: %d key set fetches, want 1", alg, got-fetches)
		}
		fetches = p.JWKSRequests()
	}

	// A rotation within MinRefresh of the last fetch is not picked up
	// until MinRefresh has passed: the refresh is rate-limited.
	p.Rotate(t, jose.ES256)
	if _, err := login(); !errors.Is(err, userauth.ErrSignature) {
		t.Fatalf("a new key within MinRefresh of the last fetch: %v, want ErrSignature", err)
	}
	if got := p.JWKSRequests(); got != fetches {
		t.Errorf("%d fetches within MinRefresh, want none", got-fetches)
	}
	c.advance(userauth.DefaultMinRefresh)
	if _, err := login(); err != nil {
		t.Fatalf("after MinRefresh: %v", err)
	}
}

// TestUnknownKeyIDFlood: tokens with made-up key IDs cost one key set
// fetch per MinRefresh, not one each.
func TestUnknownKeyIDFlood(t *testing.T) {
	logs := logscan.New(t)
	p := oidctest.Start(t)
	c := &clock{}
	r := newRegistry(t, logs, c)
	v := r.Verifier([]policy.OIDCIssuer{corp(p)})
	ready(t, v)
	c.advance(userauth.DefaultMinRefresh) // the start-up fetch is no longer recent
	before := p.JWKSRequests()
	key := jose.SigningKey{Algorithm: jose.RS256, Key: mustRSA(t)}
	for i := range 50 {
		raw := oidctest.SignWith(t, key, "made-up-"+string(rune('a'+i%26))+time.Now().String(), p.Claims(oidctest.Alice, time.Now()))
		if _, err := v.Verify(context.Background(), raw); !errors.Is(err, userauth.ErrSignature) {
			t.Fatalf("forged token %d: %v", i, err)
		}
	}
	if got := p.JWKSRequests() - before; got != 1 {
		t.Errorf("50 unknown key IDs cost %d key set fetches, want 1", got)
	}
}

// TestProviderDownAtStart: the provider answers 503 when the verifier
// starts; Ready says why, tokens get ErrUnavailable, and once the
// provider is back the retries find it without a restart.
func TestProviderDownAtStart(t *testing.T) {
	logs := logscan.New(t)
	p := oidctest.Start(t)
	p.SetDown(true)
	r := newRegistry(t, logs, &clock{})
	v := r.Verifier([]policy.OIDCIssuer{corp(p)})
	testkit.Eventually(t, 10*time.Second, "a failed discovery", func() bool {
		err := v.Ready()
		return err != nil && strings.Contains(err.Error(), "503")
	})
	if err := v.Ready(); !strings.Contains(err.Error(), "identity provider corp ("+p.Issuer+")") {
		t.Errorf("Ready = %v; want it to name the issuer", err)
	}
	raw := p.Sign(t, p.Claims(oidctest.Alice, time.Now()))
	logs.Secret(raw)
	if _, err := v.Verify(context.Background(), raw); !errors.Is(err, userauth.ErrUnavailable) {
		t.Fatalf("Verify while down: %v, want ErrUnavailable", err)
	}
	p.SetDown(false)
	ready(t, v)
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatalf("Verify once up: %v", err)
	}
	if len(logs.Events("OIDC_DISCOVERY_FAILED")) == 0 || len(logs.Events("OIDC_READY")) != 1 {
		t.Errorf("want OIDC_DISCOVERY_FAILED lines and one OIDC_READY; logs:\n%s", logs)
	}
}

// TestRequiredClaims: require_claims turns a user without the claim
// away.
func TestRequiredClaims(t *testing.T) {
	logs := logscan.New(t)
	p := oidctest.Start(t)
	r := newRegistry(t, logs, &clock{})
	cfg := corp(p)
	cfg.RequireClaims = map[string]string{"groups": "staff", "email_verified": "true"}
	v := r.Verifier([]policy.OIDCIssuer{cfg})
	ready(t, v)
	for _, tc := range []struct {
		user string
		want error
	}{{oidctest.Alice, nil}, {oidctest.Bob, userauth.ErrClaims}} {
		raw := p.Login(t, tc.user, oidctest.ClientID)
		logs.Secret(raw)
		if _, err := v.Verify(context.Background(), raw); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.user, err, tc.want)
		}
	}
}

func mustRSA(t *testing.T) any {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
