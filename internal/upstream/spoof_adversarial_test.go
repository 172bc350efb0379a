package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"voicetoken/internal/upstream"
)

// commandedUpstream is a platform the test drives: /ws echoes, and closes
// with CODE and REASON when it reads "close CODE REASON"; /status/CODE
// answers CODE with the WWW-Authenticate header in ?www=.
func commandedUpstream(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return // a client's close is echoed by the library, with its code
			}
			if cmd, ok := strings.CutPrefix(string(msg), "close "); ok {
				code, reason, _ := strings.Cut(cmd, " ")
				n, _ := strconv.Atoi(code)
				c.Close(websocket.StatusCode(n), reason)
				return
			}
			c.Write(r.Context(), typ, msg)
		}
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		if h := r.URL.Query().Get("www"); h != "" {
			w.Header().Set("WWW-Authenticate", h)
		}
		http.Error(w, http.StatusText(code), code)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestAdversarialAuthFailureSpoofing: AUTH_FAILURE pages the on-call
// operator, so only what the upstream decided counts. A client that
// closes with an auth code first (and gets it echoed), a normal close
// whose reason mentions a token, and a 403 the operator said is not an
// auth failure raise nothing; the upstream's own auth closes and 401s
// do, with the path (never the query), the WWW-Authenticate error, and
// current=false for a connection that outlived a rotation.
func TestAdversarialAuthFailureSpoofing(t *testing.T) {
	tests := []struct {
		name        string
		ws          bool
		clientClose websocket.StatusCode // the client closes first with this code
		upClose     string               // "CODE REASON" the upstream closes with
		rotate      bool                 // the source's token changes after the dial
		path        string               // REST path
		mod         func(*upstream.Transport)
		wantEvent   map[string]any // nil: no AUTH_FAILURE
		wantCurrent string         // the counter's current label
	}{
		{name: "client closes 4001 first, upstream echoes it", ws: true, clientClose: 4001},
		{name: "client closes 4003 first", ws: true, clientClose: 4003},
		{name: "client closes 1008 first", ws: true, clientClose: 1008},
		{name: "upstream 1000 with reason 'token expired'", ws: true, upClose: "1000 token expired"},
		{name: "upstream 1000 with reason 'authentication failed'", ws: true, upClose: "1000 authentication failed"},
		{name: "upstream 1001 with reason 'credential rotated'", ws: true, upClose: "1001 credential rotated"},
		{name: "403 when only 401 counts", path: "/status/403", mod: func(tr *upstream.Transport) { tr.AuthStatuses = []int{401} }},
		{name: "upstream closes 4001 (control)", ws: true, upClose: "4001 invalid token",
			wantEvent: map[string]any{"source": "websocket", "close_code": float64(4001), "current": true}, wantCurrent: "true"},
		{name: "configured close code 4100 (control)", ws: true, upClose: "4100 session revoked", mod: func(tr *upstream.Transport) { tr.AuthCloseCodes = []int{4100} },
			wantEvent: map[string]any{"close_code": float64(4100)}, wantCurrent: "true"},
		{name: "upstream closes 4001 after a rotation: superseded token", ws: true, rotate: true, upClose: "4001 expired",
			wantEvent: map[string]any{"close_code": float64(4001), "current": false}, wantCurrent: "false"},
		{name: "401 with WWW-Authenticate, path without the query (control)", path: `/status/401?secret=x&www=Bearer+realm%3D%22p%22%2C+error%3D%22invalid_token%22`,
			wantEvent: map[string]any{"source": "rest", "status": float64(401), "path": "/status/401", "www_authenticate_error": "invalid_token", "current": true}, wantCurrent: "true"},
		{name: "403 counts by default (control)", path: "/status/403",
			wantEvent: map[string]any{"status": float64(403)}, wantCurrent: "true"},
	}
	held, failed := 0, 0
	for _, tt := range tests {
		ok := t.Run(tt.name, func(t *testing.T) {
			l := newLogs(t)
			now := time.Now()
			tok, next := tokenExp(t, now, time.Hour), tokenExp(t, now, 2*time.Hour)
			l.Secret(tok, next)
			src := newStatic(t, tok)
			up := commandedUpstream(t)
			u, _ := upstream.ParseUpstream(up.URL)
			reg := newRegistry(t, l)
			m, _ := upstream.NewMetrics(reg, src, nil)
			tr := &upstream.Transport{Source: src, Logger: l.Logger(), Metrics: m}
			if tt.mod != nil {
				tt.mod(tr)
			}
			px := httptest.NewServer(l.Handler(upstream.NewProxy(u, tr)))
			defer px.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			status := ""
			if tt.ws {
				c, _, err := websocket.Dial(ctx, wsURL(px.URL)+"/ws", nil)
				if err != nil {
					t.Fatal(err)
				}
				defer c.CloseNow()
				if tt.rotate {
					src.set(t, next)
				}
				if tt.clientClose != 0 {
					// Close returns once the echo came back through the
					// proxy: the scanner has seen it.
					if err := c.Close(tt.clientClose, "bye"); err != nil {
						t.Fatalf("close: %v", err)
					}
				} else {
					if err := c.Write(ctx, websocket.MessageText, []byte("close "+tt.upClose)); err != nil {
						t.Fatal(err)
					}
					_, _, err := c.Read(ctx)
					var ce websocket.CloseError
					if !errors.As(err, &ce) {
						t.Fatalf("read: %v, want the upstream's close", err)
					}
					status = strconv.Itoa(int(ce.Code))
				}
			} else {
				code, _ := get(t, px.URL+tt.path, nil)
				status = strconv.Itoa(code)
			}
			ev := l.Events("AUTH_FAILURE")
			if tt.wantEvent == nil {
				if len(ev) != 0 {
					t.Fatalf("AUTH_FAILURE raised: %v", ev)
				}
				return
			}
			if len(ev) != 1 {
				t.Fatalf("%d AUTH_FAILURE events, want 1", len(ev))
			}
			for k, v := range tt.wantEvent {
				if ev[0][k] != v {
					t.Errorf("%s = %v, want %v", k, ev[0][k], v)
				}
			}
			if ev[0]["fingerprint"] != fp(tok) {
				t.Errorf("fingerprint %v, want the token the request carried", ev[0]["fingerprint"])
			}
			source := "rest"
			if tt.ws {
				source = "websocket"
			}
			if got := counterWith(t, reg, map[string]string{"source": source, "status": status, "current": tt.wantCurrent}); got != 1 {
				t.Errorf("voicetoken_auth_failures_total{source=%s,status=%s,current=%s} = %v, want 1", source, status, tt.wantCurrent, got)
			}
		})
		if ok {
			held++
		} else {
			failed++
		}
	}
	t.Logf("ADVERSARIAL scenario=auth-failure-spoofing tried=client-first-closes-4001-4003-1008-echoed-1000-with-auth-words-narrowed-403-and-controls times=%d held=%d failed=%d", len(tests), held, failed)
}
