package vaulttest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/vault/vaulttest"
)

// TestRoutes: each request reaches the part of the fake Vault that real
// Vault's router would give it, and is answered with Vault's status:
// the token store (with its own 404 for what it does not serve), the
// vault CLI's KV preflight, and the engines under every other path.
func TestRoutes(t *testing.T) {
	const (
		writer = "hvs.writer-token"
		reader = "hvs.reader-token"
		fixed  = "hvs.fixed-token" // renewable false
	)
	for _, tc := range []struct {
		name, method, path, token, body string
		sealed                          bool
		want                            int
		wantBody                        string
	}{
		{name: "lookup-self", method: "GET", path: "auth/token/lookup-self", token: reader, want: 200, wantBody: `"policies":["default","podium"]`},
		{name: "lookup-self by POST", method: "POST", path: "auth/token/lookup-self", token: reader, want: 404, wantBody: `no handler for route \"auth/token/lookup-self\"`},
		{name: "renew-self by POST", method: "POST", path: "auth/token/renew-self", token: writer, want: 200, wantBody: `"lease_duration":3600`},
		{name: "renew-self by PUT", method: "PUT", path: "auth/token/renew-self", token: writer, want: 200},
		{name: "renew-self by GET", method: "GET", path: "auth/token/renew-self", token: writer, want: 404},
		{name: "renew-self not renewable", method: "POST", path: "auth/token/renew-self", token: fixed, want: 400, wantBody: "lease is not renewable"},
		{name: "token op not served", method: "POST", path: "auth/token/create", token: writer, want: 404, wantBody: `auth/token/create`},
		{name: "token store, unknown token", method: "GET", path: "auth/token/lookup-self", token: "hvs.nobody", want: 403},
		{name: "token store, sealed", method: "GET", path: "auth/token/lookup-self", token: reader, sealed: true, want: 503, wantBody: "Vault is sealed"},
		{name: "preflight", method: "GET", path: "sys/internal/ui/mounts/secret/podium", token: reader, want: 200, wantBody: `"version":"2"`},
		{name: "preflight, no mount", method: "GET", path: "sys/internal/ui/mounts/nope/podium", token: reader, want: 403, wantBody: "preflight capability check"},
		{name: "preflight, unknown token", method: "GET", path: "sys/internal/ui/mounts/secret/podium", token: "hvs.nobody", want: 403, wantBody: "permission denied"},
		{name: "preflight by POST is no route", method: "POST", path: "sys/internal/ui/mounts/secret", token: writer, want: 404, wantBody: "route entry not found"},
		{name: "no mount", method: "GET", path: "nope/data/podium", token: reader, want: 404, wantBody: `no handler for route \"nope/data/podium\"`},
		{name: "read", method: "GET", path: "secret/data/podium", token: reader, want: 200, wantBody: `"token":"v1"`},
		{name: "read a missing secret", method: "GET", path: "secret/data/missing", token: reader, want: 404},
		{name: "read, unknown token", method: "GET", path: "secret/data/podium", token: "hvs.nobody", want: 403},
		{name: "write", method: "POST", path: "secret/data/podium", token: writer, body: `{"data":{"token":"v2"}}`, want: 200, wantBody: `"version":2`},
		{name: "write, read-only token", method: "PUT", path: "secret/data/podium", token: reader, body: `{"data":{"token":"v2"}}`, want: 403},
		{name: "write, bad JSON", method: "POST", path: "secret/data/podium", token: writer, body: `{`, want: 400, wantBody: "failed to parse JSON input"},
		{name: "delete", method: "DELETE", path: "secret/data/podium", token: writer, want: 204},
		{name: "other method", method: "PATCH", path: "secret/data/podium", token: writer, want: 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := vaulttest.New(t)
			s.AddToken(writer, true)
			s.AddToken(reader, false)
			s.AddToken(fixed, true)
			s.SetTokenTTL(writer, time.Hour, 0, true)
			s.SetTokenTTL(fixed, time.Hour, 0, false)
			s.Put(t, "podium", map[string]any{"token": "v1"})
			if tc.sealed {
				s.FailTokenRequests(1)
			}
			req, err := http.NewRequest(tc.method, s.URL+"/v1/"+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Vault-Token", tc.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			// The body is not shown: lookup-self's answer holds the token.
			if resp.StatusCode != tc.want || !strings.Contains(string(body), tc.wantBody) {
				t.Errorf("%s /v1/%s = %d (body has %q: %v); want %d", tc.method, tc.path, resp.StatusCode, tc.wantBody, strings.Contains(string(body), tc.wantBody), tc.want)
			}
		})
	}
}
