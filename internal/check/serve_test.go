package check_test

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/check"
	"voicetoken/internal/keys"
	"voicetoken/internal/server"
	"voicetoken/internal/token"
)

// fakeServe stands in for `voicetoken serve`: the routes and answers of
// internal/server's contract, with knobs to break each one.
type fakeServe struct {
	key       *token.Key
	notReady  bool
	room      string // answer for this room instead of the one asked
	page      string
	pageType  string
	tokenCode int
}

func (f *fakeServe) start(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"status":"ok"}`) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if f.notReady {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"LiveKit at ws://127.0.0.1:7880 is not reachable","code":"not_ready"}`)
			return
		}
		io.WriteString(w, `{"status":"ready"}`)
	})
	mux.HandleFunc("GET /api/token", func(w http.ResponseWriter, r *http.Request) {
		if f.tokenCode != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.tokenCode)
			io.WriteString(w, `{"error":"room \"test-room\" is not allowed","code":"room_not_allowed"}`)
			return
		}
		room := r.URL.Query().Get("room")
		if f.room != "" {
			room = f.room
		}
		raw, err := f.key.Mint(token.Claims{Identity: cmp.Or(r.URL.Query().Get("identity"), "user-1a2b3c4d"), Video: &token.VideoGrant{RoomJoin: true, Room: room}}, testNow, 24*time.Hour)
		if err != nil {
			t.Error(err)
		}
		json.NewEncoder(w).Encode(map[string]any{"token": raw, "ttl_hours": 24, "room": room})
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", f.pageType)
		io.WriteString(w, f.page)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

const goodPage = "<!DOCTYPE html>\n<html><head><title>voice</title></head><body><script src=\"app.js\"></script></body></html>\n"

func TestServe(t *testing.T) {
	k := testKey(t)
	other, _ := token.NewKey("APIelse", "else-secret-0123456789abcdef")
	client := check.NewHTTPClient()
	legacy := "<html><script>const TOKEN = '" + mint(t, k, testNow, time.Hour) + "';</script></html>"

	tests := []struct {
		name   string
		serve  fakeServe
		check  func(base string) check.Check
		status check.Status
		detail string
	}{
		{name: "healthz", serve: fakeServe{key: k}, check: func(b string) check.Check { return check.ServeEndpoint("serve health", b, "/healthz", client) },
			status: check.OK, detail: "GET /healthz answered 200 OK"},
		{name: "readyz not ready", serve: fakeServe{key: k, notReady: true}, check: func(b string) check.Check { return check.ServeEndpoint("serve ready", b, "/readyz", client) },
			status: check.Fail, detail: "GET /readyz answered 503 Service Unavailable: not_ready: LiveKit at ws://127.0.0.1:7880 is not reachable"},
		{name: "token verifies", serve: fakeServe{key: k}, check: func(b string) check.Check {
			return check.ServeToken("serve token", b, "test-room", "voicetoken-check", client, k, fixedNow)
		}, status: check.OK, detail: "token for voicetoken-check in test-room, signed by APIcheck, expires in 24h"},
		{name: "token signed by another key", serve: fakeServe{key: other}, check: func(b string) check.Check {
			return check.ServeToken("serve token", b, "test-room", "voicetoken-check", client, k, fixedNow)
		}, status: check.Fail, detail: "does not verify with our keys"},
		{name: "token for the wrong room", serve: fakeServe{key: k, room: "lobby"}, check: func(b string) check.Check {
			return check.ServeToken("serve token", b, "test-room", "voicetoken-check", client, k, fixedNow)
		}, status: check.Fail, detail: "answered a token for voicetoken-check in lobby, asked for voicetoken-check in test-room"},
		{name: "token refused", serve: fakeServe{key: k, tokenCode: http.StatusForbidden}, check: func(b string) check.Check {
			return check.ServeToken("serve token", b, "test-room", "voicetoken-check", client, k, fixedNow)
		}, status: check.Fail, detail: `GET /api/token answered 403 Forbidden: room_not_allowed: room "test-room" is not allowed`},
		{name: "token without keys", serve: fakeServe{key: k}, check: func(b string) check.Check {
			return check.ServeToken("serve token", b, "test-room", "voicetoken-check", client, nil, fixedNow)
		}, status: check.Skipped, detail: "no API key"},
		{name: "page", serve: fakeServe{key: k, page: goodPage, pageType: "text/html; charset=utf-8"}, check: func(b string) check.Check { return check.ServePage("serve page", b, client) },
			status: check.OK, detail: "GET / serves 106 bytes of HTML"},
		{name: "page with a hardcoded token", serve: fakeServe{key: k, page: legacy, pageType: "text/html"}, check: func(b string) check.Check { return check.ServePage("serve page", b, client) },
			status: check.Warn, detail: "1 hardcoded token(s)"},
		{name: "page is not HTML", serve: fakeServe{key: k, page: "{}", pageType: "application/json"}, check: func(b string) check.Check { return check.ServePage("serve page", b, client) },
			status: check.Fail, detail: `answered "application/json", not text/html`},
		{name: "page is not a page", serve: fakeServe{key: k, page: "OK", pageType: "text/html"}, check: func(b string) check.Check { return check.ServePage("serve page", b, client) },
			status: check.Fail, detail: "does not start like an HTML page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tt.serve.start(t)
			got := runOne(t, tt.check(srv.URL))
			if got.Status != tt.status || !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("got %s %q, want %s containing %q", got.Status, got.Detail, tt.status, tt.detail)
			}
			if strings.Contains(got.Detail, "eyJ") {
				t.Errorf("detail shows a token: %q", got.Detail)
			}
		})
	}
}

func TestServeLiveKitURL(t *testing.T) {
	livekit := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") }))
	defer livekit.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") }))
	defer other.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := "ws" + strings.TrimPrefix(dead.URL, "http")
	dead.Close()
	ws := func(s *httptest.Server) string { return "ws" + strings.TrimPrefix(s.URL, "http") }
	serveWith := func(config string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/api/config" {
				http.NotFound(w, r)
				return
			}
			io.WriteString(w, config)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	tests := []struct {
		name    string
		config  string
		checked string
		want    check.Status
		detail  string
	}{
		{name: "the LiveKit checked", config: `{"server_url":"` + ws(livekit) + `"}`, checked: livekit.URL, want: check.OK, detail: "the LiveKit checked here"},
		{name: "nothing there (the 127.0.0.1:7880 incident)", config: `{"server_url":"` + deadURL + `"}`, checked: livekit.URL, want: check.Fail, detail: "not reachable"},
		{name: "another LiveKit, reachable", config: `{"server_url":"` + ws(other) + `"}`, checked: livekit.URL, want: check.Warn, detail: "not the LiveKit checked"},
		{name: "no LiveKit checked: the handed one answers", config: `{"server_url":"` + ws(other) + `"}`, want: check.OK, detail: "answers HTTP"},
		{name: "no LiveKit checked: nothing there", config: `{"server_url":"` + deadURL + `"}`, want: check.Fail, detail: "not reachable"},
		{name: "not a LiveKit URL", config: `{"server_url":"ftp://x"}`, want: check.Fail, detail: "no LiveKit client can use"},
		{name: "no server_url", config: `{}`, want: check.Fail, detail: "without a JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := (&check.Runner{}).Run(context.Background(), []check.Check{check.ServeLiveKitURL("serve livekit url", serveWith(tt.config), tt.checked, check.NewHTTPClient())})[0]
			if res.Status != tt.want || !strings.Contains(res.Detail, tt.detail) {
				t.Errorf("%s: %s, want %s with %q", res.Status, res.Detail, tt.want, tt.detail)
			}
		})
	}
}

// TestServeTokenBeyondLoopback runs the token check against the real
// server configured as listening beyond loopback, where browsers get
// server-chosen identities and a requested one is refused: asking for
// none passes, asking for one fails with serve's identity_not_allowed.
func TestServeTokenBeyondLoopback(t *testing.T) {
	k := testKey(t)
	ks, err := keys.NewSet(keys.Pair{Key: "APIcheck", Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Keys: ks, Addr: "0.0.0.0:9000"}, server.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	tests := []struct {
		name     string
		identity string
		status   check.Status
		detail   string
	}{
		{name: "no identity: the server's own", status: check.OK, detail: "in test-room, signed by APIcheck"},
		{name: "a requested identity is refused", identity: "voicetoken-check", status: check.Fail, detail: "403 Forbidden: identity_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := check.ServeToken("serve token", ts.URL, "test-room", tt.identity, check.NewHTTPClient(), k, time.Now).Run(context.Background())
			if r.Status != tt.status || !strings.Contains(r.Detail, tt.detail) {
				t.Fatalf("%v %q, want %v %q", r.Status, r.Detail, tt.status, tt.detail)
			}
		})
	}
}
