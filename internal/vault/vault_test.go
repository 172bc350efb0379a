package vault_test

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"voicetoken/internal/logscan"
	"voicetoken/internal/vault"
	"voicetoken/internal/vault/vaulttest"
)

const (
	rootToken = "hvs.test-root-token-value"
	readToken = "hvs.test-read-only-value"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		in   string
		want vault.Ref
		err  bool
	}{
		{in: "secret/podium", want: vault.Ref{Mount: "secret", Path: "podium", Field: "token"}},
		{in: "secret/podium#jwt", want: vault.Ref{Mount: "secret", Path: "podium", Field: "jwt"}},
		{in: "kv/agents/co-host#token", want: vault.Ref{Mount: "kv", Path: "agents/co-host", Field: "token"}},
		{in: "/secret/podium/", want: vault.Ref{Mount: "secret", Path: "podium", Field: "token"}},
		{in: "secret/my secret?#a b", want: vault.Ref{Mount: "secret", Path: "my secret?", Field: "a b"}},
		{in: "secret", err: true},
		{in: "secret/", err: true},
		{in: "/podium", err: true},
		{in: "secret/podium#", err: true},
		{in: "secret/a//b", err: true},
		{in: "secret/../sys/seal", err: true},
		{in: "secret/./x", err: true},
		{in: "secret/po\ndium", err: true},
		{in: "", err: true},
	}
	for _, tc := range tests {
		got, err := vault.ParseRef(tc.in)
		if tc.err {
			if !errors.Is(err, vault.ErrRef) {
				t.Errorf("ParseRef(%q) = %+v, %v; want ErrRef", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func client(t *testing.T, addr, tok string) *vault.Client {
	t.Helper()
	c, err := vault.NewClient(vault.Config{Addr: addr, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newVault starts Vault's KV engine with a root token and a read-only
// one, and a secrets scan that knows them and the other tokens given.
func newVault(t *testing.T, otherTokens ...string) (*logscan.Logs, *vaulttest.Server) {
	t.Helper()
	l := logscan.New(t)
	l.Secret(append([]string{rootToken, readToken}, otherTokens...)...)
	srv := vaulttest.New(t)
	srv.AddToken(rootToken, true)
	srv.AddToken(readToken, false)
	return l, srv
}

// TestAgainstVaultKV runs the client against Vault's own KV v2 engine.
func TestAgainstVaultKV(t *testing.T) {
	l, srv := newVault(t, "hvs.not-a-known-token")
	ctx := context.Background()
	ref := vault.Ref{Mount: "secret", Path: "agents/podium", Field: "token"}
	c := client(t, srv.URL, rootToken)

	if _, err := c.Read(ctx, ref); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("read of a missing secret: %v, want ErrNotFound", err)
	}
	// cas 0 creates only when there is no secret yet.
	v, err := c.Write(ctx, ref, map[string]any{"token": "one", "note": "kept"}, 0)
	if err != nil || v != 1 {
		t.Fatalf("create: version %d, %v; want 1", v, err)
	}
	if _, err := c.Write(ctx, ref, map[string]any{"token": "again"}, 0); !errors.Is(err, vault.ErrChanged) {
		t.Fatalf("create over an existing secret: %v, want ErrChanged", err)
	}
	s, err := c.Read(ctx, ref)
	if err != nil || s.Version != 1 {
		t.Fatalf("read: %+v, %v", s, err)
	}
	if got, err := s.Field(ref); got != "one" || err != nil {
		t.Fatalf("field: %q, %v", got, err)
	}
	if v, err := c.Write(ctx, ref, map[string]any{"token": "two", "note": "kept"}, 1); err != nil || v != 2 {
		t.Fatalf("write at version 1: %d, %v; want 2", v, err)
	}
	// A writer still holding version 1 is refused, and nothing changes.
	if _, err := c.Write(ctx, ref, map[string]any{"token": "stale"}, 1); !errors.Is(err, vault.ErrChanged) {
		t.Fatalf("stale write: %v, want ErrChanged", err)
	}
	if got := srv.Get(t, ref.Path, 0)["token"]; got != "two" {
		t.Fatalf("after the stale write the secret holds %v, want two", got)
	}
	if got := srv.Get(t, ref.Path, 1)["token"]; got != "one" {
		t.Fatalf("version 1 holds %v, want one: KV keeps the old version", got)
	}

	// Field problems name the fields, never their values.
	_, err = s.Field(vault.Ref{Mount: "secret", Path: "agents/podium", Field: "jwt"})
	if !errors.Is(err, vault.ErrField) || !strings.Contains(err.Error(), "fields note, token") || strings.Contains(err.Error(), "one") {
		t.Errorf("missing field: %v", err)
	}
	srv.Put(t, "agents/numeric", map[string]any{"token": 42})
	n, err := c.Read(ctx, vault.Ref{Mount: "secret", Path: "agents/numeric", Field: "token"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Field(vault.Ref{Mount: "secret", Path: "agents/numeric", Field: "token"}); !errors.Is(err, vault.ErrField) || !strings.Contains(err.Error(), "number") {
		t.Errorf("numeric field: %v", err)
	}

	// A deleted current version reads as not found (Vault answers 404 with
	// the version's metadata).
	srv.Delete(t, ref.Path)
	if _, err := c.Read(ctx, ref); !errors.Is(err, vault.ErrNotFound) || !strings.Contains(err.Error(), "version 2 is deleted") {
		t.Errorf("read of a deleted version: %v", err)
	}

	// Denials say what the token needs, and never show it.
	for _, tc := range []struct {
		name string
		tok  string
		op   func(*vault.Client) error
		need string
	}{
		{name: "unknown token reads", tok: "hvs.not-a-known-token", op: func(c *vault.Client) error { _, err := c.Read(ctx, ref); return err }, need: "needs read on secret/data/agents/podium"},
		{name: "read-only token writes", tok: readToken, op: func(c *vault.Client) error { _, err := c.Write(ctx, ref, map[string]any{"token": "x"}, 2); return err }, need: "needs create and update on secret/data/agents/podium"},
	} {
		err := tc.op(client(t, srv.URL, tc.tok))
		if !errors.Is(err, vault.ErrDenied) || !strings.Contains(err.Error(), tc.need) || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s: %v", tc.name, err)
		}
		l.NoSecret(err)
	}
	// A mount that is not there.
	if _, err := c.Read(ctx, vault.Ref{Mount: "nomount", Path: "x", Field: "token"}); err == nil {
		t.Error("read on a missing mount succeeded")
	}
}

func TestRequestHeaders(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/sys/internal/ui/mounts/") {
			w.WriteHeader(http.StatusNotFound) // an old Vault: the first segment is the mount
			return
		}
		got = r.Header.Clone()
		if r.URL.EscapedPath() != "/v1/secret/data/my%20agent" {
			t.Errorf("path %q", r.URL.EscapedPath())
		}
		w.Write([]byte(`{"data":{"data":{"token":"x"},"metadata":{"version":3}}}`))
	}))
	defer srv.Close()
	c, err := vault.NewClient(vault.Config{Addr: srv.URL, Token: rootToken, Namespace: "team-a"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Read(context.Background(), vault.Ref{Mount: "secret", Path: "my agent", Field: "token"})
	if err != nil || s.Version != 3 {
		t.Fatalf("read: %+v, %v", s, err)
	}
	if got.Get("X-Vault-Token") != rootToken || got.Get("X-Vault-Namespace") != "team-a" || got.Get("X-Vault-Request") != "true" {
		t.Errorf("headers %v", got)
	}
}

func TestAnswersThatAreNotKV(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		err    error
		want   string
	}{
		{name: "an answer without KV v2 metadata", status: 200, body: `{"data":{"token":"x"}}`, err: vault.ErrResponse, want: "not a KV v2 answer"},
		{name: "nothing at the KV v2 path", status: 404, body: `{"errors":[]}`, err: vault.ErrNotFound, want: "vault kv enable-versioning secret/"},
		{name: "deleted version answered with 200", status: 200, body: `{"data":{"data":null,"metadata":{"version":4}}}`, err: vault.ErrNotFound, want: "version 4 is deleted"},
		{name: "not JSON", status: 200, body: `<html>`, err: vault.ErrResponse, want: "not a KV v2 answer"},
		{name: "sealed", status: 503, body: `{"errors":["Vault is sealed"]}`, err: vault.ErrResponse, want: "503 Vault is sealed"},
		{name: "a redirect loop", status: 307, body: ``, err: vault.ErrResponse, want: "redirected (307), not followed (as Vault's own client, only one 307 or 308, never from https to http): set VAULT_ADDR to the active node"},
		{name: "a 302", status: 302, body: ``, err: vault.ErrResponse, want: "redirected (302), not followed"},
		{name: "no errors given", status: 500, body: `{}`, err: vault.ErrResponse, want: "500 Internal Server Error"},
		{name: "control characters in the message", status: 400, body: `{"errors":["bad\u001b[31m"]}`, err: vault.ErrResponse, want: "bad?[31m"},
		{name: "huge", status: 200, body: `{"data":"` + strings.Repeat("a", 1<<20) + `"}`, err: vault.ErrResponse, want: "over 1048576 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := logscan.New(t)
			l.Secret(rootToken)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.status/100 == 3 { // to itself
					w.Header().Set("Location", "http://"+r.Host+r.URL.RequestURI())
				}
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			_, err := client(t, srv.URL, rootToken).Read(context.Background(), vault.Ref{Mount: "secret", Path: "x", Field: "token"})
			l.NoSecret(err)
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %v containing %q", err, tc.err, tc.want)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	l := logscan.New(t)
	l.Secret(rootToken, readToken)
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".vault-token"), []byte(readToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		addr string
		err  string
	}{
		{name: "defaults to the CLI's address", env: map[string]string{"VAULT_TOKEN": rootToken}, addr: vault.DefaultAddr},
		{name: "token from ~/.vault-token", env: map[string]string{"HOME": home, "VAULT_ADDR": "http://127.0.0.1:8200"}, addr: "http://127.0.0.1:8200"},
		{name: "no token", env: map[string]string{"HOME": t.TempDir()}, err: "set VAULT_TOKEN, or run 'vault login'"},
		{name: "bad address", env: map[string]string{"VAULT_TOKEN": rootToken, "VAULT_ADDR": "127.0.0.1:8200"}, err: "not an http:// or https:// URL"},
		{name: "missing CA file", env: map[string]string{"VAULT_TOKEN": rootToken, "VAULT_CACERT": filepath.Join(home, "nope.pem")}, err: "VAULT_CACERT"},
		{name: "CA file without PEM", env: map[string]string{"VAULT_TOKEN": rootToken, "VAULT_CACERT": filepath.Join(home, ".vault-token")}, err: "holds no PEM certificate"},
	}
	for _, tc := range tests {
		c, err := vault.FromEnv(func(k string) string { return tc.env[k] })
		if tc.err != "" {
			if !errors.Is(err, vault.ErrConfig) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want ErrConfig containing %q", tc.name, err, tc.err)
			}
			l.NoSecret(err)
			continue
		}
		if err != nil || c.Addr() != tc.addr {
			t.Errorf("%s: %v, addr %v; want %s", tc.name, err, c, tc.addr)
		}
	}
}

// TestTokenFileIsReadEachTime: a new 'vault login' (or Vault Agent's
// renewed sink file) takes effect without a new client.
func TestTokenFileIsReadEachTime(t *testing.T) {
	l, srv := newVault(t, "hvs.revoked-token-value")
	srv.Put(t, "podium", map[string]any{"token": "x"})
	home := t.TempDir()
	tokenFile := filepath.Join(home, ".vault-token")
	login := func(tok string) {
		if err := os.WriteFile(tokenFile, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	login(readToken)
	c, err := vault.FromEnv(func(k string) string { return map[string]string{"HOME": home, "VAULT_ADDR": srv.URL}[k] })
	if err != nil {
		t.Fatal(err)
	}
	ref := vault.Ref{Mount: "secret", Path: "podium", Field: "token"}
	ctx := context.Background()
	if _, err := c.Read(ctx, ref); err != nil {
		t.Fatalf("read with the file's token: %v", err)
	}
	login("hvs.revoked-token-value")
	_, err = c.Read(ctx, ref)
	l.NoSecret(err)
	if !errors.Is(err, vault.ErrDenied) {
		t.Fatalf("read after the file changed to a revoked token: %v, want ErrDenied", err)
	}
	login(rootToken)
	if _, err := c.Write(ctx, ref, map[string]any{"token": "y"}, 1); err != nil {
		t.Fatalf("write after logging in with a token that may write: %v", err)
	}
	os.Remove(tokenFile)
	_, err = c.Read(ctx, ref)
	if !errors.Is(err, vault.ErrConfig) {
		t.Fatalf("read with the token file gone: %v, want ErrConfig", err)
	}
}

// TestMountsFoundAsTheCLIFindsThem: a mount nested deeper than one
// segment, and a KV version 1 engine, each Vault's own, are found through
// the CLI's preflight request.
func TestMountsFoundAsTheCLIFindsThem(t *testing.T) {
	l, srv := newVault(t)
	srv.AddMount(t, "team/kv", 2)
	srv.AddMount(t, "kv1", 1)
	srv.PutAt(t, "team/kv", "agents/podium", map[string]any{"token": "nested"})
	srv.PutAt(t, "kv1", "podium", map[string]any{"token": "v1"})
	c := client(t, srv.URL, rootToken)
	ctx := context.Background()

	nested, err := vault.ParseRef("team/kv/agents/podium")
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Read(ctx, nested)
	if err != nil || s.Data["token"] != "nested" || s.Version != 1 {
		t.Fatalf("nested mount: %+v, %v", s, err)
	}
	if v, err := c.Write(ctx, nested, map[string]any{"token": "nested-2"}, 1); err != nil || v != 2 {
		t.Fatalf("write on the nested mount: %d, %v", v, err)
	}
	if got := srv.GetAt(t, "team/kv", "agents/podium", 0)["token"]; got != "nested-2" {
		t.Errorf("nested secret holds %v", got)
	}

	v1 := vault.Ref{Mount: "kv1", Path: "podium", Field: "token"}
	if s, err := c.Read(ctx, v1); err != nil || s.Data["token"] != "v1" {
		t.Fatalf("KV version 1: %+v, %v", s, err)
	}
	_, err = c.Write(ctx, v1, map[string]any{"token": "x"}, 0)
	l.NoSecret(err)
	if !errors.Is(err, vault.ErrVersion1) || !strings.Contains(err.Error(), "vault kv enable-versioning kv1/") {
		t.Errorf("write on KV version 1: %v, want ErrVersion1", err)
	}
	if _, err := c.Read(ctx, vault.Ref{Mount: "kv1", Path: "missing", Field: "token"}); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("missing KV version 1 secret: %v", err)
	}
	// The mount itself is not a secret.
	if _, err := c.Read(ctx, vault.Ref{Mount: "team", Path: "kv", Field: "token"}); !errors.Is(err, vault.ErrRef) {
		t.Errorf("reading a mount: %v, want ErrRef", err)
	}
}

// TestMountInAParentNamespace: Vault names a mount that lives in a parent
// namespace with that namespace's prefix; the path as given is kept.
func TestMountInAParentNamespace(t *testing.T) {
	l := logscan.New(t)
	l.Secret(rootToken)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/sys/internal/ui/mounts/secret/podium":
			w.Write([]byte(`{"data":{"path":"team-a/secret/","type":"kv","options":{"version":"2"}}}`))
		case "/v1/secret/data/podium":
			w.Write([]byte(`{"data":{"data":{"token":"x"},"metadata":{"version":7}}}`))
		default:
			t.Errorf("unexpected request %s", r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	c, err := vault.NewClient(vault.Config{Addr: srv.URL, Token: rootToken, Namespace: "team-a/sub"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Read(context.Background(), vault.Ref{Mount: "secret", Path: "podium", Field: "token"})
	l.NoSecret(err)
	if err != nil || s.Version != 7 {
		t.Fatalf("%+v, %v", s, err)
	}
}

// TestStandbyRedirect: a standby node answers 307 with the active node's
// URL, and the client follows it once with its token and body, as
// Vault's own client does; never from https to http.
func TestStandbyRedirect(t *testing.T) {
	l, active := newVault(t)
	ref := vault.Ref{Mount: "secret", Path: "podium", Field: "token"}
	var standbyHits atomic.Int32
	standby := func(tls bool) *httptest.Server {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			standbyHits.Add(1)
			// Another host name, as an active node has: the token header
			// must go along all the same.
			http.Redirect(w, r, strings.Replace(active.URL, "127.0.0.1", "localhost", 1)+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		})
		if tls {
			return httptest.NewTLSServer(h)
		}
		return httptest.NewServer(h)
	}

	plain := standby(false)
	defer plain.Close()
	c := client(t, plain.URL, rootToken)
	v, err := c.Write(context.Background(), ref, map[string]any{"token": "t1"}, 0)
	l.NoSecret(err)
	if err != nil || v != 1 {
		t.Fatalf("write through the standby: version %d, %v", v, err)
	}
	got, _, err := c.ReadField(context.Background(), ref)
	if err != nil || got != "t1" || standbyHits.Load() < 3 { // the mount lookup, the write, the read
		t.Fatalf("read through the standby: %q, %v (%d standby requests)", got, err, standbyHits.Load())
	}

	secure := standby(true)
	defer secure.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	sc, err := vault.NewClient(vault.Config{Addr: secure.URL, Token: rootToken, CACert: ca})
	if err != nil {
		t.Fatal(err)
	}
	before := active.Requests()
	_, _, err = sc.ReadField(context.Background(), ref)
	l.NoSecret(err)
	if !errors.Is(err, vault.ErrResponse) || !strings.Contains(err.Error(), "never from https to http") {
		t.Errorf("https standby to an http active node: %v", err)
	}
	if active.Requests() != before {
		t.Error("the token went from https to http")
	}
}
