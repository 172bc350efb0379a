package probe_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"voicetoken/internal/logscan"
	"voicetoken/internal/probe"
	"voicetoken/internal/testkit"
)

// platform answers as an upstream would: 200 (or a WebSocket upgrade)
// for the token it knows, 401 for a revoked one, 403 for another
// account's, 500 for one that breaks it.
func platform(t *testing.T, l *logscan.Logs, good, revoked, other, broken string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if q := r.URL.Query().Get("token"); q != "" {
			tok = q
		}
		switch tok {
		case good:
			if r.Header.Get("Upgrade") == "websocket" {
				c, err := websocket.Accept(w, r, nil)
				if err != nil {
					return
				}
				c.CloseNow()
				return
			}
			w.Write([]byte(`{"ok":true}`))
		case revoked:
			http.Error(w, "revoked", http.StatusUnauthorized)
		case other:
			http.Error(w, "wrong account", http.StatusForbidden)
		case broken:
			http.Error(w, "oops", http.StatusInternalServerError)
		default:
			http.Error(w, "who?", http.StatusUnauthorized)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestProbe(t *testing.T) {
	l := logscan.New(t)
	now := time.Now()
	good, revoked, other, broken := testkit.TokenExp(t, now, time.Hour), testkit.TokenExp(t, now, 2*time.Hour), testkit.TokenExp(t, now, 3*time.Hour), testkit.TokenExp(t, now, 4*time.Hour)
	l.Secret(good, revoked, other, broken)
	srv := platform(t, l, good, revoked, other, broken)
	ws := "ws" + strings.TrimPrefix(srv.URL, "http")
	tests := []struct {
		name, url, query, tok string
		status                int
		wantErr               error
		detail                string
	}{
		{name: "REST accepted", url: srv.URL + "/v1/me", tok: good, status: 200},
		{name: "REST revoked", url: srv.URL + "/v1/me", tok: revoked, wantErr: probe.ErrRefused, detail: "answered 401 Unauthorized"},
		{name: "REST other account", url: srv.URL + "/v1/me", tok: other, wantErr: probe.ErrRefused, detail: "answered 403 Forbidden"},
		{name: "REST server error", url: srv.URL + "/v1/me", tok: broken, wantErr: probe.ErrInconclusive, detail: "answered 500"},
		{name: "REST in the query", url: srv.URL + "/v1/me", query: "token", tok: revoked, wantErr: probe.ErrRefused, detail: "/v1/me answered 401"},
		{name: "WebSocket accepted", url: ws + "/ws", tok: good, status: 101},
		{name: "WebSocket accepted, token in the query", url: ws + "/ws", query: "token", tok: good, status: 101},
		{name: "WebSocket revoked", url: ws + "/ws", tok: revoked, wantErr: probe.ErrRefused, detail: "answered 401"},
		{name: "WebSocket other account", url: ws + "/ws", query: "token", tok: other, wantErr: probe.ErrRefused, detail: "answered 403"},
		{name: "nothing listening", url: "http://127.0.0.1:1/v1/me", tok: good, wantErr: probe.ErrInconclusive, detail: "GET http://127.0.0.1:1/v1/me"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := probe.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			p.Query = tt.query
			res, err := p.Probe(t.Context(), tt.tok)
			l.NoSecret(err)
			if !errors.Is(err, tt.wantErr) || err != nil && !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("Probe = %v; want %v containing %q", err, tt.wantErr, tt.detail)
			}
			if err == nil && res.Status != tt.status {
				t.Errorf("status %d, want %d", res.Status, tt.status)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		wantErr  error
	}{
		{name: "https", in: "https://api.example/v1/me"},
		{name: "wss", in: "wss://ws.example/agent"},
		{name: "ftp", in: "ftp://x/", wantErr: probe.ErrURL},
		{name: "no host", in: "https:///x", wantErr: probe.ErrURL},
		{name: "not a URL", in: "%zz", wantErr: probe.ErrURL},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := probe.Parse(tt.in); !errors.Is(err, tt.wantErr) {
				t.Errorf("Parse(%q) = %v, want %v", tt.in, err, tt.wantErr)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"https://a/b", "wss://x", "ws://", "%zz", "ftp://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := probe.Parse(s)
		if err == nil && (p.URL.Host == "" || !strings.Contains("http https ws wss", p.URL.Scheme)) {
			t.Fatalf("Parse(%q) accepted %v", s, p.URL)
		}
	})
}
