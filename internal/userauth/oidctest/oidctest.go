// Package oidctest runs a real OpenID Provider on 127.0.0.1 for tests:
// the example OP of github.com/zitadel/oidc (its storage and op
// packages, unchanged but for the signing keys and the claims it puts in
// ID tokens), with two users, a confidential web client, and hooks to
// rotate the signing key, take the provider down, and sign arbitrary
// claims with its real key (to forge tokens that differ from a genuine
// one in exactly one respect).
//
// It is a test-only package: the voicetoken binary must not link it
// (.ci/run checks `go list -deps ./cmd/voicetoken`).
package oidctest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/oauth2"
	"golang.org/x/text/language"
)

// The provider's client and users.
const (
	ClientID     = "voicetoken-web"
	ClientSecret = "web-secret-0123456789"
	// OtherClientID is a second client of the same provider: its tokens
	// are genuine but issued to another audience.
	OtherClientID = "other-app"
	RedirectURI   = "http://127.0.0.1/app/callback"
	// Alice is in the group "hosts"; Bob in none.
	Alice    = "alice"
	Bob      = "bob"
	Password = "correct-horse-battery"
)

// User is one of the provider's accounts.
type User struct {
	ID, Username, Name, Email string
	Groups                    []string
}

// Users are the accounts every Provider has.
var Users = map[string]User{
	Alice: {ID: "u-alice-1", Username: Alice, Name: "Alice Host", Email: "alice@example.com", Groups: []string{"hosts", "staff"}},
	Bob:   {ID: "u-bob-2", Username: Bob, Name: "Bob Listener", Email: "bob@example.com"},
}

// Provider is a running OpenID Provider.
type Provider struct {
	// Issuer is http://127.0.0.1:<port>, as its tokens' iss says.
	Issuer string
	srv    *httptest.Server
	store  *keyedStorage
	down   atomic.Bool
	jwks   atomic.Int64 // requests to the keys endpoint
}

// Start runs a provider until the test ends.
func Start(t testing.TB) *Provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("oidctest: listen: %v", err)
	}
	p := &Provider{Issuer: "http://" + ln.Addr().String()}
	users := userStore{}
	for _, u := range Users {
		users[u.ID] = &storage.User{ID: u.ID, Username: u.Username, Password: Password, FirstName: u.Name,
			Email: u.Email, EmailVerified: true, PreferredLanguage: language.English}
	}
	clients := map[string]*storage.Client{
		ClientID:      storage.WebClient(ClientID, ClientSecret, RedirectURI),
		OtherClientID: storage.WebClient(OtherClientID, ClientSecret, RedirectURI),
	}
	p.store = &keyedStorage{Storage: storage.NewStorageWithClients(users, clients)}
	p.store.rotate(t, jose.RS256)
	router := exampleop.SetupServer(p.Issuer, p.store, nil, false)
	p.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/keys" {
			p.jwks.Add(1)
		}
		if p.down.Load() && (r.URL.Path == "/keys" || strings.HasPrefix(r.URL.Path, "/.well-known/")) {
			http.Error(w, "provider down (test)", http.StatusServiceUnavailable)
			return
		}
		router.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 5 * time.Second}}
	p.srv.Start()
	t.Cleanup(p.srv.Close)
	return p
}

// JWKSURL is the provider's key set.
func (p *Provider) JWKSURL() string { return p.Issuer + "/keys" }

// JWKSRequests counts requests to the key set so far.
func (p *Provider) JWKSRequests() int64 { return p.jwks.Load() }

// SetDown makes discovery and the key set answer 503 (true) or work
// again (false).
func (p *Provider) SetDown(down bool) { p.down.Store(down) }

// Rotate signs new tokens with a fresh key of alg (RS256, ES256 or
// EdDSA); the key set publishes it next to the old ones.
func (p *Provider) Rotate(t testing.TB, alg jose.SignatureAlgorithm) string {
	return p.store.rotate(t, alg)
}

// KID is the current signing key's ID.
func (p *Provider) KID() string {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	return p.store.current.id
}

// PublicJWK is the current signing key's public half as a JWK (what an
// attacker can read from the key set).
func (p *Provider) PublicJWK(t testing.TB) []byte {
	p.store.mu.Lock()
	k := p.store.current
	p.store.mu.Unlock()
	b, err := json.Marshal(jose.JSONWebKey{Key: k.public(), KeyID: k.id, Algorithm: string(k.alg), Use: "sig"})
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	return b
}

// Sign signs claims with the provider's current key, as its ID tokens
// are signed: for tokens that differ from a genuine one in one claim.
func (p *Provider) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	p.store.mu.Lock()
	k := p.store.current
	p.store.mu.Unlock()
	return SignWith(t, jose.SigningKey{Algorithm: k.alg, Key: k.priv}, k.id, claims)
}

// SignWith signs claims with any key and kid (go-jose).
func SignWith(t testing.TB, key jose.SigningKey, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(key, opts)
	if err != nil {
		t.Fatalf("oidctest: signer: %v", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatalf("oidctest: sign: %v", err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	return out
}

// Claims are an ID token's usual claims for user at this provider, valid
// for an hour from now: a base for Sign.
func (p *Provider) Claims(user string, now time.Time) map[string]any {
	u := Users[user]
	return map[string]any{
		"iss": p.Issuer, "sub": u.ID, "aud": ClientID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"email": u.Email, "name": u.Name, "preferred_username": u.Username, "groups": u.Groups,
	}
}

// Login signs user in with the authorization code flow, as a browser
// would: the authorization request, the provider's login form, the
// redirect back with a code, and the code exchanged at the token
// endpoint by the client. It returns the ID token.
func (p *Provider) Login(t testing.TB, user, clientID string) string {
	t.Helper()
	ctx := context.Background()
	conf := oauth2.Config{ClientID: clientID, ClientSecret: ClientSecret, RedirectURL: RedirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: p.Issuer + "/auth", TokenURL: p.Issuer + "/oauth/token"},
		Scopes:   []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail}}
	browser := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), RedirectURI) {
			return http.ErrUseLastResponse // the app's callback: read the code
		}
		return nil
	}}
	resp, err := browser.Get(conf.AuthCodeURL("state-1", oauth2.SetAuthURLParam("nonce", "nonce-1")))
	if err != nil {
		t.Fatalf("oidctest: authorization request: %v", err)
	}
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID") // the login form's URL
	if id == "" {
		t.Fatalf("oidctest: authorization request ended at %s (%s), not at the login form", resp.Request.URL.Path, resp.Status)
	}
	resp, err = browser.PostForm(p.Issuer+"/login/username", url.Values{"id": {id}, "username": {user}, "password": {Password}})
	if err != nil {
		t.Fatalf("oidctest: login: %v", err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("oidctest: login answered %s, not a redirect to the app", resp.Status)
	}
	if loc.Query().Get("state") != "state-1" || loc.Query().Get("code") == "" {
		t.Fatalf("oidctest: redirect to the app without state or code")
	}
	tok, err := conf.Exchange(context.WithValue(ctx, oauth2.HTTPClient, browser), loc.Query().Get("code"))
	if err != nil {
		t.Fatalf("oidctest: code exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatalf("oidctest: token response without id_token")
	}
	return raw
}

// userStore is storage.UserStore over the Users.
type userStore map[string]*storage.User

func (u userStore) GetUserByID(id string) *storage.User { return u[id] }
func (u userStore) GetUserByUsername(name string) *storage.User {
	for _, x := range u {
		if x.Username == name {
			return x
		}
	}
	return nil
}
func (u userStore) ExampleClientID() string { return "service" }

// keyedStorage is the example storage with rotating signing keys of any
// algorithm, and ID tokens that carry the profile, email and groups
// claims (as Google's and Keycloak's do), which the example leaves to
// the userinfo endpoint.
type keyedStorage struct {
	*storage.Storage
	mu      sync.Mutex
	current *signingKey
	keys    []*signingKey // published, newest first
}

type signingKey struct {
	id   string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

func (k *signingKey) public() crypto.PublicKey                    { return k.priv.Public() }
func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k *signingKey) Key() any                                    { return k.priv }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ *signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return k.alg }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.priv.Public() }

var keySeq atomic.Int64

func (s *keyedStorage) rotate(t testing.TB, alg jose.SignatureAlgorithm) string {
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		err = fmt.Errorf("algorithm %s not supported here", alg)
	}
	if err != nil {
		t.Fatalf("oidctest: key: %v", err)
	}
	k := &signingKey{id: fmt.Sprintf("key-%d-%s", keySeq.Add(1), alg), alg: alg, priv: priv}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current = k
	s.keys = append([]*signingKey{k}, s.keys...)
	return k.id
}

func (s *keyedStorage) SigningKey(context.Context) (op.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current, nil
}

func (s *keyedStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}, nil
}

func (s *keyedStorage) KeySet(context.Context) ([]op.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]op.Key, len(s.keys))
	for i, k := range s.keys {
		out[i] = publicKey{k}
	}
	return out, nil
}

func (s *keyedStorage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, info, req, scopes); err != nil {
		return err
	}
	for _, u := range Users {
		if u.ID == req.GetSubject() {
			info.Email, info.EmailVerified = u.Email, true
			info.Name, info.PreferredUsername = u.Name, u.Username
			if len(u.Groups) > 0 {
				info.AppendClaims("groups", u.Groups)
			}
		}
	}
	return nil
}
