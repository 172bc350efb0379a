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
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			w.Write([]byte(body))
		}))
		defer srv.Close()
		const vaultToken = "hvs.fuzz-token-0123456789"
		l := logscan.New(t)
		l.Secret(vaultToken)
		c, err := vault.NewClient(vault.Config{Addr: srv.URL, Token: vaultToken})
		if err != nil {
			t.Fatal(err)
		}
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
