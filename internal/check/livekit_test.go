package check_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/check"
	"voicetoken/internal/token"
)

// fakeLiveKit answers like LiveKit's server: GET / "OK", and Twirp
// RoomService/ListRooms in JSON, with the bearer token verified by
// token.Verify against the server's keys. Like the real server, a bad
// token is refused with a text answer that quotes the token.
func fakeLiveKit(t *testing.T, serverKeys token.Keyring) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") })
	mux.HandleFunc("POST /twirp/livekit.RoomService/ListRooms", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "unexpected content type", http.StatusUnsupportedMediaType)
			return
		}
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code":"unauthenticated","msg":"permissions denied"}`)
			return
		}
		tok, err := token.Verify(raw, serverKeys, testNow)
		if err != nil {
			http.Error(w, "invalid token: "+raw+", error: "+err.Error(), http.StatusUnauthorized)
			return
		}
		if tok.Claims.Video == nil || !tok.Claims.Video.RoomList {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code":"unauthenticated","msg":"permissions denied"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"rooms":[{"sid":"RM_1","name":"test-room"}]}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestLiveKit(t *testing.T) {
	k := testKey(t)
	wrong, _ := token.NewKey("APIcheck", "the-wrong-secret-0123456789abcdef")
	stranger, _ := token.NewKey("APIother", "other-secret-0123456789abcdef")
	lk := fakeLiveKit(t, k)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	notLK := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "<html>hello</html>")
	}))
	t.Cleanup(notLK.Close)
	client := check.NewHTTPClient()

	tests := []struct {
		name   string
		c      check.Check
		status check.Status
		detail string
	}{
		{name: "reachable", c: check.LiveKitReachable("livekit", lk.URL, client), status: check.OK, detail: "answered GET / with 200 OK"},
		{name: "unreachable", c: check.LiveKitReachable("livekit", downURL, client), status: check.Fail, detail: "is not reachable: connection refused"},
		{name: "answers 503", c: check.LiveKitReachable("livekit", notLK.URL, client), status: check.Warn, detail: "503 Service Unavailable"},
		{name: "key accepted", c: check.LiveKitAPI("livekit api", lk.URL, client, k, fixedNow), status: check.OK,
			detail: "API key APIcheck accepted: ListRooms lists 1 room(s)"},
		{name: "wrong secret", c: check.LiveKitAPI("livekit api", lk.URL, client, wrong, fixedNow), status: check.Fail,
			detail: "LiveKit refused API key APIcheck (401): invalid token: <token "},
		{name: "unknown key", c: check.LiveKitAPI("livekit api", lk.URL, client, stranger, fixedNow), status: check.Fail,
			detail: `no secret known for the token's API key: "APIother"`},
		{name: "no key", c: check.LiveKitAPI("livekit api", lk.URL, client, nil, fixedNow), status: check.Skipped, detail: "no API key"},
		{name: "api unreachable", c: check.LiveKitAPI("livekit api", downURL, client, k, fixedNow), status: check.Fail, detail: "connection refused"},
		{name: "not LiveKit", c: check.LiveKitAPI("livekit api", notLK.URL, client, k, fixedNow), status: check.Fail, detail: "is " + notLK.URL + " a LiveKit server?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runOne(t, tt.c)
			if got.Status != tt.status || !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("got %s %q, want %s containing %q", got.Status, got.Detail, tt.status, tt.detail)
			}
			if strings.Contains(got.Detail, "eyJ") {
				t.Errorf("detail shows a token: %q", got.Detail)
			}
		})
	}
}

func TestLiveKitTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	c := check.LiveKitReachable("livekit", slow.URL, check.NewHTTPClient())
	c.Timeout = 20 * time.Millisecond
	got := runOne(t, c)
	if got.Status != check.Fail || !strings.Contains(got.Detail, "no answer before the check's timeout") {
		t.Errorf("got %s %q", got.Status, got.Detail)
	}
}

func TestHTTPURL(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  error
	}{
		{in: "ws://127.0.0.1:7880", want: "http://127.0.0.1:7880"},
		{in: "wss://lk.example.com/", want: "https://lk.example.com"},
		{in: "WSS://lk.example.com/base/", want: "https://lk.example.com/base"},
		{in: "http://localhost:7880", want: "http://localhost:7880"},
		{in: " https://lk.example.com ", want: "https://lk.example.com"},
		{in: "localhost:7880", wantErr: check.ErrBadURL},
		{in: "ftp://x", wantErr: check.ErrBadURL},
		{in: "ws://", wantErr: check.ErrBadURL},
		{in: "ws://user:pw@host", wantErr: check.ErrBadURL},
		{in: "ws://host/?access_token=x", wantErr: check.ErrBadURL},
		{in: "ws://[::1", wantErr: check.ErrBadURL},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := check.HTTPURL(tt.in)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("HTTPURL(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
