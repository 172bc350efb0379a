package vault_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"voicetoken/internal/logscan"
	"voicetoken/internal/vault"
)

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"secret/podium", "secret/podium#jwt", "kv/a/b#c", "/x/", "secret/../y", "a/b#", "#", "secret/a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := vault.ParseRef(s)
		if err != nil {
			if !errors.Is(err, vault.ErrRef) {
				t.Fatalf("error %v does not wrap ErrRef", err)
			}
			return
		}
		if r.Mount == "" || r.Path == "" || r.Field == "" || strings.Contains(r.Mount, "/") {
			t.Fatalf("ParseRef(%q) = %+v", s, r)
		}
		// What String writes parses back to the same reference.
		if again, err := vault.ParseRef(r.String()); err != nil || again != r {
			t.Fatalf("round trip of %+v: %+v, %v", r, again, err)
		}
	})
}

// FuzzRead feeds Read any answer: it must return a secret or an error
// wrapping one of the package's sentinels, never panic, and never put a
// control character in an error.
func FuzzRead(f *testing.F) {
	f.Add(200, `{"data":{"data":{"token":"x"},"metadata":{"version":1}}}`)
	f.Add(404, `{"data":{"data":null,"metadata":{"version":2}}}`)
	f.Add(404, `{"errors":[]}`)
	f.Add(403, `{"errors":["permission denied"]}`)
	f.Add(200, `{"data":{"data":{},"metadata":null}}`)
	f.Add(500, "\x1b[2J")
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 200 || status > 599 || status == 304 {
			return
		}
		c, l := answering(t, status, body)
		s, err := c.Read(context.Background(), vault.Ref{Mount: "secret", Path: "x", Field: "token"})
		if err == nil {
			if s == nil || s.Data == nil {
				t.Fatalf("no error and no secret for %d %q", status, body)
			}
			return
		}
		l.NoSecret(err)
		if !errors.Is(err, vault.ErrNotFound) && !errors.Is(err, vault.ErrDenied) && !errors.Is(err, vault.ErrResponse) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		if strings.ContainsFunc(err.Error(), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("error holds a control character: %q", err)
		}
	})
}

// FuzzTokenInfo feeds LookupSelf and RenewSelf any answer: a TokenInfo
// with a TTL of zero or more, or an error wrapping ErrDenied or
// ErrResponse without control characters; never a panic, never the
// token (which a real lookup answer holds, as data.id).
func FuzzTokenInfo(f *testing.F) {
	f.Add(200, `{"data":{"id":"hvs.fuzz-token-0123456789","ttl":3600,"renewable":true,"policies":["default"]}}`)
	f.Add(200, `{"auth":{"client_token":"hvs.fuzz-token-0123456789","lease_duration":3600,"renewable":true}}`)
	f.Add(200, `{"data":{"ttl":-5}}`)
	f.Add(403, `{"errors":["permission denied"]}`)
	f.Add(400, `{"errors":["lease is not renewable"]}`)
	f.Add(200, `{"data":{"ttl":1e30,"policies":["\u001b[2J"]}}`)
	f.Add(200, `{"data":{"ttl":9223372036854775807}}`)
	f.Add(200, `{"auth":{"lease_duration":9223372036854}}`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 200 || status > 599 || status == 304 {
			return
		}
		c, l := answering(t, status, body)
		for _, call := range []func(context.Context) (vault.TokenInfo, error){c.LookupSelf, c.RenewSelf} {
			info, err := call(context.Background())
			if err == nil {
				if info.TTL < 0 {
					t.Fatalf("negative TTL %v for %d %q", info.TTL, status, body)
				}
				for _, p := range info.Policies {
					l.Text("policy", p)
					if strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
						t.Fatalf("policy holds a control character: %q", p)
					}
				}
				continue
			}
			l.NoSecret(err)
			if !errors.Is(err, vault.ErrDenied) && !errors.Is(err, vault.ErrResponse) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			if strings.ContainsFunc(err.Error(), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("error holds a control character: %q", err)
			}
		}
	})
}

// answering is a client of a "Vault" that answers every request with
// status and body, and a scan for the client's token.
func answering(t *testing.T, status int, body string) (*vault.Client, *logscan.Logs) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	const vaultToken = "hvs.fuzz-token-0123456789"
	l := logscan.New(t)
	l.Secret(vaultToken)
	c, err := vault.NewClient(vault.Config{Addr: srv.URL, Token: vaultToken})
	if err != nil {
		t.Fatal(err)
	}
	return c, l
}
