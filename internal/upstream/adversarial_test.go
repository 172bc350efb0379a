package upstream_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"voicetoken/internal/upstream"
)

// faultyUpstream is a platform that fails in the ways real ones do. Every
// handler that blocks waits on release, closed when the test ends, so
// nothing outlives the test.
func faultyUpstream(t *testing.T) (*httptest.Server, chan struct{}) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		http.Error(w, http.StatusText(code), code)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/reset", func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0) // RST instead of FIN
		}
		conn.Close()
	})
	mux.HandleFunc("/truncated", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "partial")
		http.NewResponseController(w).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	mux.HandleFunc("/ws/close/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.Write(r.Context(), websocket.MessageText, []byte("hello"))
		c.Close(websocket.StatusCode(code), r.URL.Query().Get("reason"))
	})
	mux.HandleFunc("/ws/abrupt", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.Write(r.Context(), websocket.MessageText, []byte("hello"))
		c.CloseNow() // TCP close, no close frame
	})
	mux.HandleFunc("/ws/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { close(release); srv.Close() })
	return srv, release
}

// TestAdversarialUpstreamFaults drives the proxy against an upstream that
// is down, slow, failing, resetting connections or closing WebSockets in
// every way: the agent gets a clear answer (status and code, or the
// close code), AUTH_FAILURE fires for auth failures only, and every
// attempt ends within its deadline.
func TestAdversarialUpstreamFaults(t *testing.T) {
	tests := []struct {
		name       string
		down       bool // the upstream's port is closed
		path       string
		ws         bool
		wantStatus int    // REST status, or the WebSocket handshake's when the dial fails
		wantCode   string // the proxy's error code, for its own answers
		wantClose  websocket.StatusCode
		wantRead   bool // the agent's read of the body / next message fails
		wantAuth   bool
	}{
		{name: "down", down: true, path: "/x", wantStatus: 502, wantCode: "upstream_refused"},
		{name: "slow", path: "/slow", wantStatus: 504, wantCode: "upstream_timeout"},
		{name: "500", path: "/status/500", wantStatus: 500},
		{name: "502", path: "/status/502", wantStatus: 502},
		{name: "503", path: "/status/503", wantStatus: 503},
		{name: "connection reset", path: "/reset", wantStatus: 502, wantCode: "upstream_closed"},
		{name: "body cut mid-stream", path: "/truncated", wantStatus: 200, wantRead: true}, // or the request fails
		{name: "401 (control)", path: "/status/401", wantStatus: 401, wantAuth: true},
		{name: "403 (control)", path: "/status/403", wantStatus: 403, wantAuth: true},
		{name: "ws down", down: true, ws: true, path: "/ws/close/1000", wantStatus: 502},
		{name: "ws handshake slow", ws: true, path: "/ws/slow", wantStatus: 504},
		{name: "ws handshake 401", ws: true, path: "/status/401", wantStatus: 401, wantAuth: true},
		{name: "ws handshake 503", ws: true, path: "/status/503", wantStatus: 503},
		{name: "ws normal close", ws: true, path: "/ws/close/1000", wantClose: 1000},
		{name: "ws going away", ws: true, path: "/ws/close/1001?reason=restart", wantClose: 1001},
		{name: "ws 1011 internal error", ws: true, path: "/ws/close/1011?reason=boom", wantClose: 1011},
		{name: "ws 4000 app close", ws: true, path: "/ws/close/4000?reason=room+ended", wantClose: 4000},
		{name: "ws abrupt TCP close", ws: true, path: "/ws/abrupt", wantClose: -1},
		{name: "ws 4001 auth", ws: true, path: "/ws/close/4001?reason=bad", wantClose: 4001, wantAuth: true},
		{name: "ws 4003 auth", ws: true, path: "/ws/close/4003", wantClose: 4003, wantAuth: true},
		{name: "ws 1008 policy", ws: true, path: "/ws/close/1008", wantClose: 1008, wantAuth: true},
		{name: "ws 4000 whose reason says token expired", ws: true, path: "/ws/close/4000?reason=token+expired", wantClose: 4000},
	}
	held, failed := 0, 0
	for _, tt := range tests {
		ok := t.Run(tt.name, func(t *testing.T) {
			l := newLogs(t)
			tok := tokenExp(t, time.Now(), time.Hour)
			l.Secret(tok)
			up, _ := faultyUpstream(t)
			target := up.URL
			if tt.down {
				dead := httptest.NewServer(http.NotFoundHandler())
				target = dead.URL
				dead.Close()
			}
			u, err := upstream.ParseUpstream(target)
			if err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			m, _ := upstream.NewMetrics(reg, nil, nil)
			l.Gatherer(reg)
			// A short header timeout only where the upstream hangs: on a
			// loaded machine a healthy answer may take longer than that.
			timeout := 5 * time.Second
			if strings.Contains(tt.path, "slow") {
				timeout = 200 * time.Millisecond
			}
			tr := &upstream.Transport{Source: newStatic(t, tok), Logger: l.Logger(), Metrics: m, ResponseHeaderTimeout: timeout}
			px := httptest.NewServer(l.Handler(upstream.NewProxy(u, tr)))
			defer px.Close()
			// Every attempt is bounded: a hang fails here, not in the CI timeout.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			if tt.ws {
				c, resp, err := websocket.Dial(ctx, wsURL(px.URL)+tt.path, nil)
				if tt.wantStatus != 0 {
					if err == nil {
						c.CloseNow()
						t.Fatal("dial succeeded")
					}
					if resp == nil || resp.StatusCode != tt.wantStatus {
						t.Fatalf("dial: %v, want handshake status %d", err, tt.wantStatus)
					}
				} else {
					if err != nil {
						t.Fatalf("dial: %v", err)
					}
					defer c.CloseNow()
					if _, msg, err := c.Read(ctx); err != nil || string(msg) != "hello" {
						t.Fatalf("first message %q, %v", msg, err)
					}
					_, _, err := c.Read(ctx)
					if err == nil || ctx.Err() != nil {
						t.Fatalf("second read: %v (ctx %v), want the upstream's close", err, ctx.Err())
					}
					if got := websocket.CloseStatus(err); got != tt.wantClose {
						t.Fatalf("close status %d (%v), want %d", got, err, tt.wantClose)
					}
				}
			} else {
				req, _ := http.NewRequestWithContext(ctx, "GET", px.URL+tt.path, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil && tt.wantRead && ctx.Err() == nil {
					// The headers were not yet sent when the upstream broke
					// off: the proxy aborts the answer, the agent sees the
					// connection fail (net/http's ErrAbortHandler).
					return
				}
				if err != nil {
					t.Fatalf("request: %v", err)
				}
				body, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				if ctx.Err() != nil {
					t.Fatal("the request hung until its deadline")
				}
				if resp.StatusCode != tt.wantStatus {
					t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.wantStatus)
				}
				if (rerr != nil) != tt.wantRead {
					t.Errorf("body read error %v, want one: %v", rerr, tt.wantRead)
				}
				if tt.wantCode != "" {
					var e struct{ Error, Code string }
					if json.Unmarshal(body, &e) != nil || e.Code != tt.wantCode || e.Error == "" {
						t.Errorf("answer %s, want {error, code:%q}", body, tt.wantCode)
					}
					if len(l.Events("UPSTREAM_ERROR")) == 0 {
						t.Error("no UPSTREAM_ERROR event")
					}
				}
			}
			// The scanner reports a close frame before passing it on, so by
			// now an AUTH_FAILURE, if any, has been logged.
			n := len(l.Events("AUTH_FAILURE"))
			if tt.wantAuth && n != 1 {
				t.Errorf("%d AUTH_FAILURE events, want 1", n)
			}
			if !tt.wantAuth && n != 0 {
				t.Errorf("AUTH_FAILURE for a fault that is not an auth failure: %v", l.Events("AUTH_FAILURE"))
			}
		})
		if ok {
			held++
		} else {
			failed++
		}
	}
	t.Logf("ADVERSARIAL scenario=upstream-faults tried=down-slow-5xx-reset-truncated-ws-closes-through-proxy times=%d held=%d failed=%d", len(tests), held, failed)
}
