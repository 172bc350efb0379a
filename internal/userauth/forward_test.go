package userauth_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"voicetoken/internal/logscan"
	"voicetoken/internal/userauth"
	"voicetoken/internal/userauth/oidctest"
)

// TestForwardAuth: the proxy's header is believed from a trusted proxy
// only; from anywhere else a request carrying it is refused.
func TestForwardAuth(t *testing.T) {
	logs := logscan.New(t)
	r := newRegistry(t, logs, &clock{})
	f, err := r.ForwardAuth(&userauth.ForwardAuthConfig{Header: "X-Auth-Request-Email",
		NameHeader: "X-Auth-Request-Preferred-Username", GroupsHeader: "X-Auth-Request-Groups"})
	if err != nil {
		t.Fatal(err)
	}
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
	f, err := r.ForwardAuth(&userauth.ForwardAuthConfig{CloudflareAccess: &userauth.CloudflareAccessConfig{
		TeamDomain: p.Issuer, Audience: oidctest.ClientID, JWKSURL: p.JWKSURL()}})
	if err != nil {
		t.Fatal(err)
	}
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

func TestCheckConfig(t *testing.T) {
	empty := ""
	for _, tc := range []struct {
		name    string
		issuers []userauth.IssuerConfig
		fa      *userauth.ForwardAuthConfig
		want    string // "" valid
	}{
		{name: "minimal", issuers: []userauth.IssuerConfig{{Name: "corp", Issuer: "https://login.example.com", ClientID: "app"}}},
		{name: "http elsewhere than loopback", issuers: []userauth.IssuerConfig{{Name: "corp", Issuer: "http://login.example.com", ClientID: "app"}}, want: "http only on a loopback address"},
		{name: "no audience", issuers: []userauth.IssuerConfig{{Name: "corp", Issuer: "https://a.example"}}, want: "audience: the client ID"},
		{name: "HS256", issuers: []userauth.IssuerConfig{{Name: "corp", Issuer: "https://a.example", ClientID: "x", Algorithms: []string{"HS256"}}}, want: `"HS256" is not accepted`},
		{name: "none", issuers: []userauth.IssuerConfig{{Name: "corp", Issuer: "https://a.example", ClientID: "x", Algorithms: []string{"none"}}}, want: `"none" is not accepted`},
		{name: "no name", issuers: []userauth.IssuerConfig{{Issuer: "https://a.example", ClientID: "x"}}, want: "name: want 1-32"},
		{name: "overlapping prefixes", issuers: []userauth.IssuerConfig{
			{Name: "a", Issuer: "https://a.example", ClientID: "x"},
			{Name: "b", Issuer: "https://b.example", ClientID: "x", IdentityPrefix: &empty}}, want: "overlap"},
		{name: "issuer and proxy with their default prefixes", issuers: []userauth.IssuerConfig{{Name: "corp", Issuer: "https://a.example", ClientID: "x"}},
			fa: &userauth.ForwardAuthConfig{Header: "X-Auth-Request-User"}},
		{name: "forward auth without a header", fa: &userauth.ForwardAuthConfig{}, want: "name the header"},
		{name: "a header that is not one", fa: &userauth.ForwardAuthConfig{Header: "X-User: admin"}, want: "is not a header name"},
		{name: "cloudflare without audience", fa: &userauth.ForwardAuthConfig{CloudflareAccess: &userauth.CloudflareAccessConfig{TeamDomain: "https://t.cloudflareaccess.com"}}, want: "AUD tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := userauth.CheckConfig(tc.issuers, tc.fa)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, userauth.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckConfig = %v; want %q", err, tc.want)
			}
		})
	}
}
