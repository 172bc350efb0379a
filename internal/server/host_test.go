package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"voicetoken/internal/logscan"
	"voicetoken/internal/policy"
	"voicetoken/internal/server"
)

// TestHostAllowlist: a server on loopback answers only to loopback names
// unless the policy lists more, so a DNS-rebound page (Host: its own
// name, Origin: the same name) cannot mint tokens from a local server.
func TestHostAllowlist(t *testing.T) {
	tests := []struct {
		name   string
		addr   string
		hosts  string // policy YAML line, or ""
		host   string
		origin string
		want   int
	}{
		{name: "loopback: localhost", addr: "127.0.0.1:9000", host: "localhost:9000", want: 200},
		{name: "loopback: 127.0.0.1", addr: "127.0.0.1:9000", host: "127.0.0.1:9000", want: 200},
		{name: "loopback: ::1", addr: "[::1]:9000", host: "[::1]:9000", want: 200},
		{name: "loopback: no port", addr: "127.0.0.1:9000", host: "LOCALHOST", want: 200},
		{name: "loopback: rebound name", addr: "127.0.0.1:9000", host: "evil.example:9000", want: 403},
		{name: "loopback: rebound name, same-origin page", addr: "127.0.0.1:9000", host: "evil.example:9000", origin: "http://evil.example:9000", want: 403},
		{name: "loopback: 127.0.0.2 is not listed", addr: "127.0.0.1:9000", host: "127.0.0.2:9000", want: 403},
		{name: "loopback: empty Host", addr: "127.0.0.1:9000", host: "", want: 403},
		{name: "loopback: listed host", addr: "127.0.0.1:9000", hosts: "hosts: [voice.example.com]", host: "voice.example.com", want: 200},
		{name: "loopback: listed host, other case and port", addr: "127.0.0.1:9000", hosts: "hosts: [voice.example.com]", host: "Voice.Example.COM:443", want: 200},
		{name: "loopback: listed hosts still allow localhost", addr: "127.0.0.1:9000", hosts: "hosts: [voice.example.com]", host: "localhost:9000", want: 200},
		{name: "loopback: not the listed host", addr: "127.0.0.1:9000", hosts: "hosts: [voice.example.com]", host: "evil.example", want: 403},
		{name: "loopback: any host", addr: "127.0.0.1:9000", hosts: `hosts: ["*"]`, host: "evil.example", want: 200},
		{name: "all interfaces: any host by default", addr: "0.0.0.0:9000", host: "evil.example", want: 200},
		{name: "all interfaces: listed hosts enforced", addr: "0.0.0.0:9000", hosts: "hosts: [voice.example.com]", host: "evil.example", want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := logscan.New(t)
			pol := mustPolicy(t, "allow_rooms: [test-room]\n"+tt.hosts+"\n")
			srv, err := server.New(server.Config{Addr: tt.addr, Keys: devKeys(t), Policy: pol}, server.WithLogger(logs.Logger()))
			if err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{"/api/token?room=test-room", "/", "/healthz"} {
				req := httptest.NewRequest("GET", path, nil)
				req.Host = tt.host
				if tt.origin != "" {
					req.Header.Set("Origin", tt.origin)
				}
				w := httptest.NewRecorder()
				srv.Handler().ServeHTTP(w, req)
				if w.Code != tt.want {
					t.Fatalf("GET %s with Host %q: status %d, want %d: %s", path, tt.host, w.Code, tt.want, w.Body)
				}
				if tt.want == 403 {
					var e struct{ Error, Code string }
					if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code != server.CodeHostNotAllowed {
						t.Errorf("GET %s: body %s, want code %s", path, w.Body, server.CodeHostNotAllowed)
					}
				}
			}
		})
	}
}

func TestPolicyHostsInvalid(t *testing.T) {
	for _, h := range []string{"https://voice.example.com", "voice.example.com/path", "user@host", ""} {
		if _, err := policy.Parse([]byte("hosts: [\"" + h + "\"]\n")); err == nil {
			t.Errorf("hosts: [%q]: accepted, want an error", h)
		}
	}
	if _, err := policy.Parse([]byte("hosts: [voice.example.com, \"voice.example.com:8443\", \"[::1]\", \"*\"]\n")); err != nil {
		t.Errorf("valid hosts refused: %v", err)
	}
}

// TestRateLimitBehindTrustedProxy: behind a trusted proxy each client has
// its own bucket; from anywhere else X-Forwarded-For is ignored, so a
// client cannot buy a fresh bucket by inventing addresses.
func TestRateLimitBehindTrustedProxy(t *testing.T) {
	tests := []struct {
		name    string
		proxies string
		xff     []string // one request each, in order
		want    []int
	}{
		{name: "trusted: one bucket per client", proxies: "trusted_proxies: [127.0.0.1]",
			xff: []string{"198.51.100.1", "198.51.100.2", "198.51.100.1"}, want: []int{200, 200, 429}},
		{name: "not trusted: one bucket for all", proxies: "",
			xff: []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"}, want: []int{200, 429, 429}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := logscan.New(t)
			pol := mustPolicy(t, "allow_rooms: [test-room]\nrate_limit: {per_address: {rate: 0.001, burst: 1}}\n"+tt.proxies+"\n")
			srv, err := server.New(server.Config{Keys: devKeys(t), Policy: pol}, server.WithLogger(logs.Logger()))
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			for i, xff := range tt.xff {
				req, err := http.NewRequest("GET", ts.URL+"/api/token?room=test-room&identity=u1", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("X-Forwarded-For", xff)
				resp, err := ts.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.want[i] {
					t.Errorf("request %d (X-Forwarded-For %s): status %d, want %d", i, xff, resp.StatusCode, tt.want[i])
				}
			}
		})
	}
}
