package userauth_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"voicetoken/internal/logscan"
	"voicetoken/internal/policy"
	"voicetoken/internal/userauth"
	"voicetoken/internal/userauth/oidctest"
)

// TestForwardAuth: the proxy's header is believed from a trusted proxy
// only; from anywhere else a request carrying it is refused.
func TestForwardAuth(t *testing.T) {
	logs := logscan.New(t)
	r := newRegistry(t, logs, &clock{})
	f := r.ForwardAuth(&policy.ForwardAuth{Header: "X-Auth-Request-Email",
		NameHeader: "X-Auth-Request-Preferred-Username", GroupsHeader: "X-Auth-Request-Groups"})
	for _, tc := range []struct {
		name       string
		header     http.Header
		trusted    bool
		want       error
		wantID     string
		wantName   string
		wantHosts  bool
		wantNobody bool
	}{
		{name: "from a trusted proxy", trusted: true,
			header: http.Header{"X-Auth-Request-Email": {"alice@example.com"}, "X-Auth-Request-Preferred-Username": {"Alice"}, "X-Auth-Request-Groups": {"staff, hosts"}},
			wantID: "proxy:alice@example.com", wantName: "Alice", wantHosts: true},
		{name: "without groups", trusted: true, header: http.Header{"X-Auth-Request-Email": {"bob@example.com"}}, wantID: "proxy:bob@example.com"},
		{name: "from anywhere else", header: http.Header{"X-Auth-Request-Email": {"alice@example.com"}}, want: userauth.ErrUntrustedProxy},
		{name: "no header: not a forward-auth caller", header: http.Header{}, wantNobody: true},
		{name: "no header from elsewhere either", header: http.Header{"X-Forwarded-Email": {"x@example.com"}}, wantNobody: true},
		{name: "given twice", trusted: true, header: http.Header{"X-Auth-Request-Email": {"a@example.com", "b@example.com"}}, want: userauth.ErrMalformed},
		{name: "empty", trusted: true, header: http.Header{"X-Auth-Request-Email": {" "}}, want: userauth.ErrIdentity},
		{name: "control characters", trusted: true, header: http.Header{"X-Auth-Request-Email": {"a\x01b"}}, want: userauth.ErrIdentity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := f.Authenticate(context.Background(), tc.header, tc.trusted)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("Authenticate = %+v, %v; want %v", u, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantNobody {
				if u != nil || f.Present(tc.header) {
					t.Fatalf("a request without the header got user %+v", u)
				}
				return
			}
			if u.Kind != userauth.KindForwardAuth || u.Identity != tc.wantID || u.Name != tc.wantName || u.HasClaim("groups", "hosts") != tc.wantHosts {
				t.Errorf("user = %+v; want identity %q name %q hosts %v", u, tc.wantID, tc.wantName, tc.wantHosts)
			}
		})
	}
}

// TestCloudflareAccess: Cf-Access-Jwt-Assertion is verified against the
// team domain's keys (here a real provider standing in for it), from
// any address; a forged one is refused.
func TestCloudflareAccess(t *testing.T) {
	logs := logscan.New(t)
	p := oidctest.Start(t)
	r := newRegistry(t, logs, &clock{})
	f := r.ForwardAuth(&policy.ForwardAuth{CloudflareAccess: &policy.CloudflareAccess{
		TeamDomain: p.Issuer, Audience: oidctest.ClientID, JWKSURL: p.JWKSURL()}})
	ready(t, f)
	genuine := p.Login(t, oidctest.Alice, oidctest.ClientID)
	forged := oidctest.SignWith(t, jose.SigningKey{Algorithm: jose.HS256, Key: p.PublicJWK(t)}, p.KID(), p.Claims(oidctest.Bob, time.Now()))
	other := p.Login(t, oidctest.Alice, oidctest.OtherClientID)
	logs.Secret(genuine, forged, other)
	for _, tc := range []struct {
		name    string
		token   string
		trusted bool
		want    error
	}{
		{name: "through the proxy", token: genuine, trusted: true},
		{name: "from anywhere: it is signed", token: genuine},
		{name: "HS256 with the public key", token: forged, trusted: true, want: userauth.ErrAlgorithm},
		{name: "another application's audience", token: other, trusted: true, want: userauth.ErrAudience},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{userauth.CloudflareHeader: {tc.token}}
			u, err := f.Authenticate(context.Background(), h, tc.trusted)
			if tc.want != nil {
				if !errors.Is(err, tc.want) || !errors.Is(err, userauth.ErrInvalidToken) {
					t.Fatalf("Authenticate = %v, want %v", err, tc.want)
				}
				logs.NoSecret(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.Kind != userauth.KindForwardAuth || u.Identity != "cf:alice@example.com" || u.Source != "cloudflare" {
				t.Errorf("user = %+v", u)
			}
		})
	}
}
