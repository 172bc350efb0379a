package upstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"voicetoken/internal/credential"
	"voicetoken/internal/upstream"
)

// proxyFor starts the proxy in front of up with src and returns its URL
// and the metrics registry.
func proxyFor(t *testing.T, l *logs, up *fakeUpstream, src upstream.CredentialSource, mod func(*upstream.Transport)) (string, *prometheus.Registry) {
	t.Helper()
	u, err := upstream.ParseUpstream(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := upstream.NewMetrics(reg, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &upstream.Transport{Source: src, Logger: l.Logger(), Metrics: m}
	if mod != nil {
		mod(tr)
	}
	// Every answer the agent gets and the final /metrics are scanned for
	// the tokens (logscan).
	l.Gatherer(reg)
	srv := httptest.NewServer(l.Handler(upstream.NewProxy(u, tr)))
	t.Cleanup(srv.Close)
	return srv.URL, reg
}

func get(t *testing.T, u string, hdr http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestProxyREST(t *testing.T) {
	now := time.Now()
	good, revoked, banned := tokenExp(t, now, time.Hour), tokenExp(t, now, 2*time.Hour), tokenExp(t, now, 3*time.Hour)
	tests := []struct {
		name       string
		token      string
		mod        func(*upstream.Transport)
		wantStatus int
		wantAuth   bool
	}{
		{name: "valid token", token: good, wantStatus: 200},
		{name: "valid token in query", token: good, mod: func(tr *upstream.Transport) { tr.Query = "token" }, wantStatus: 200},
		{name: "revoked token is 401", token: revoked, wantStatus: 401, wantAuth: true},
		{name: "forbidden token is 403", token: banned, wantStatus: 403, wantAuth: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogs(t)
			l.Secret(good, revoked, banned)
			up := newFakeUpstream(t, good)
			up.forbidden[banned] = true
			px, reg := proxyFor(t, l, up, newStatic(t, tt.token), tt.mod)
			// The agent's own stale Authorization must not reach the upstream.
			status, body := get(t, px+"/api/v1/outposts?x=1", http.Header{"Authorization": {"Bearer stale-hardcoded-token"}})
			if status != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", status, body, tt.wantStatus)
			}
			if up.last() != tt.token {
				t.Errorf("upstream did not receive the source's token")
			}
			if status == 200 && !strings.Contains(body, `"path":"/api/v1/outposts"`) {
				t.Errorf("body %s", body)
			}
			ev := l.Events("AUTH_FAILURE")
			if !tt.wantAuth {
				if len(ev) != 0 {
					t.Fatalf("unexpected AUTH_FAILURE %v", ev)
				}
				return
			}
			if len(ev) != 1 {
				t.Fatalf("%d AUTH_FAILURE events, want 1", len(ev))
			}
			host := strings.TrimPrefix(up.URL, "http://")
			want := map[string]any{"source": "rest", "status": float64(tt.wantStatus), "upstream": host, "path": "/api/v1/outposts", "fingerprint": fp(tt.token)}
			for k, v := range want {
				if ev[0][k] != v {
					t.Errorf("%s = %v, want %v", k, ev[0][k], v)
				}
			}
			if left, _ := ev[0]["token_expires_in"].(float64); left <= 0 {
				t.Errorf("token_expires_in = %v", ev[0]["token_expires_in"])
			}
			if got := counterValue(t, reg, "rest", fmt.Sprint(tt.wantStatus)); got != 1 {
				t.Errorf("voicetoken_auth_failures_total = %v, want 1", got)
			}
		})
	}
}

func TestProxyWebSocket(t *testing.T) {
	now := time.Now()
	good, bad := tokenExp(t, now, time.Hour), tokenExp(t, now, time.Hour)
	tests := []struct {
		name      string
		token     string
		path      string
		wantClose websocket.StatusCode
		wantDial  int // handshake status when the dial fails
		wantEvent map[string]any
	}{
		{name: "echo with a valid token", token: good, path: "/ws"},
		{name: "bad token closed with 4001", token: bad, path: "/ws", wantClose: 4001,
			wantEvent: map[string]any{"source": "websocket", "status": float64(101), "close_code": float64(4001), "reason": "invalid token"}},
		{name: "bad token refused at the handshake", token: bad, path: "/ws-reject", wantDial: 401,
			wantEvent: map[string]any{"source": "websocket", "status": float64(401)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogs(t)
			l.Secret(good, bad)
			up := newFakeUpstream(t, good)
			px, reg := proxyFor(t, l, up, newStatic(t, tt.token), nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, wsURL(px)+tt.path, nil)
			if tt.wantDial != 0 {
				if err == nil || resp == nil || resp.StatusCode != tt.wantDial {
					t.Fatalf("dial: %v, want status %d", err, tt.wantDial)
				}
			} else {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				defer c.CloseNow()
				werr := c.Write(ctx, websocket.MessageText, []byte("hello"))
				_, msg, rerr := c.Read(ctx)
				if tt.wantClose == 0 {
					if werr != nil || rerr != nil || string(msg) != "hello" {
						t.Fatalf("echo: %v %v %q", werr, rerr, msg)
					}
					c.Close(websocket.StatusNormalClosure, "")
				} else if got := websocket.CloseStatus(rerr); got != tt.wantClose {
					t.Fatalf("close status %d (%v), want %d", got, rerr, tt.wantClose)
				}
			}
			if tt.wantEvent == nil {
				if ev := l.Events("AUTH_FAILURE"); len(ev) != 0 {
					t.Fatalf("unexpected AUTH_FAILURE %v", ev)
				}
				return
			}
			eventually(t, 2*time.Second, "AUTH_FAILURE", func() bool { return len(l.Events("AUTH_FAILURE")) == 1 })
			ev := l.Events("AUTH_FAILURE")[0]
			for k, v := range tt.wantEvent {
				if ev[k] != v {
					t.Errorf("%s = %v, want %v", k, ev[k], v)
				}
			}
			if ev["fingerprint"] != fp(tt.token) || ev["path"] != tt.path {
				t.Errorf("event %v", ev)
			}
			status := fmt.Sprint(tt.wantDial)
			if tt.wantClose != 0 {
				status = fmt.Sprint(int(tt.wantClose))
			}
			if got := counterValue(t, reg, "websocket", status); got != 1 {
				t.Errorf("counter{websocket,%s} = %v", status, got)
			}
		})
	}
}

// TestRotateUnderLoad is issue 6's proof: 50 clients stream requests
// through the proxy while the token file is rotated. Every request must
// carry the old or the new token, none may fail, and every request that
// starts after the source reports the new token must carry it.
func TestRotateUnderLoad(t *testing.T) {
	now := time.Now()
	l := newLogs(t)
	oldTok, newTok := tokenExp(t, now, time.Hour), tokenExp(t, now, 2*time.Hour)
	l.Secret(oldTok, newTok)
	up := newFakeUpstream(t, oldTok, newTok) // during a rotation the platform accepts both
	var afterSwap, stale, foreign atomic.Int64
	up.onRequest = func(r *http.Request, tok string) {
		switch {
		case tok != oldTok && tok != newTok:
			foreign.Add(1)
		case tok == oldTok && r.Header.Get("X-After-Swap") == "1":
			stale.Add(1)
		case tok == newTok:
			afterSwap.Add(1)
		}
	}

	p := filepath.Join(t.TempDir(), "podium_token")
	if err := os.WriteFile(p, []byte(oldTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := credential.New(context.Background(), credential.Config{Spec: credential.Spec{Kind: credential.KindFile, Path: p}, Logger: l.Logger(), PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { src.Run(ctx); close(runDone) }()
	defer func() { cancel(); <-runDone }()
	px, _ := proxyFor(t, l, up, src, nil)

	var swapped atomic.Bool
	var requests, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/stream/%d/%d", px, i, n), nil)
				if swapped.Load() {
					req.Header.Set("X-After-Swap", "1")
				}
				resp, err := client.Do(req)
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
			}
		}()
	}
	eventually(t, 30*time.Second, "traffic", func() bool { return requests.Load() > 200 }) // generous: CI runs packages in parallel under -race
	res, err := credential.Rotate(credential.RotateOptions{Path: p, Token: newTok, Backups: 1})
	if err != nil {
		t.Fatal(err)
	}
	l.Logger().Info("rotated", "event", "TEST_ROTATED", "old", res.Old, "new", res.New)
	eventually(t, 2*time.Second, "the source to load the new token", func() bool { return src.Token() == newTok })
	swapped.Store(true)
	before := requests.Load()
	eventually(t, 5*time.Second, "traffic after the swap", func() bool { return requests.Load() > before+200 })
	close(stop)
	wg.Wait()
	t.Logf("%d requests, %d with the new token", requests.Load(), afterSwap.Load())
	if f := failures.Load(); f != 0 {
		t.Errorf("%d requests failed", f)
	}
	if n := foreign.Load(); n != 0 {
		t.Errorf("%d requests carried neither token", n)
	}
	if n := stale.Load(); n != 0 {
		t.Errorf("%d requests started after the swap carried the old token", n)
	}
	if afterSwap.Load() < 100 {
		t.Errorf("only %d requests with the new token", afterSwap.Load())
	}
	if ev := l.Events("AUTH_FAILURE"); len(ev) != 0 {
		t.Errorf("%d AUTH_FAILURE events during the rotation", len(ev))
	}
}

func TestTransportRefusesOtherHosts(t *testing.T) {
	l := newLogs(t)
	tok := tokenExp(t, time.Now(), time.Hour)
	l.Secret(tok)
	other := newFakeUpstream(t, tok)
	tr := &upstream.Transport{Source: newStatic(t, tok), Host: "podium.example:443", Logger: l.Logger()}
	_, err := tr.Client().Get(other.URL + "/x")
	if !errors.Is(err, upstream.ErrHostNotAllowed) {
		t.Fatalf("error %v, want ErrHostNotAllowed", err)
	}
	if len(other.seen) != 0 {
		t.Fatal("the token reached a host it is not for")
	}
}

func TestErrorsNeverCarryTheToken(t *testing.T) {
	l := newLogs(t)
	tok := tokenExp(t, time.Now(), time.Hour)
	l.Secret(tok)
	// A closed port: the dial fails, and http.Client's url.Error would
	// quote a URL that carries ?token=.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	u, _ := url.Parse(dead.URL)
	tr := &upstream.Transport{Source: newStatic(t, tok), Query: "token", Host: u.Host, Logger: l.Logger()}
	req, _ := http.NewRequest(http.MethodGet, dead.URL+"/x", nil)
	_, err := tr.RoundTrip(req)
	if err == nil {
		t.Fatal("no error from a closed port")
	}
	l.NoSecret(err)
	_, _, err = tr.DialWebSocket(context.Background(), wsURL(dead.URL)+"/ws", nil)
	if err == nil {
		t.Fatal("no error from a closed port")
	}
	l.NoSecret(err)
	// Through the proxy: 502 JSON and an UPSTREAM_ERROR without the token.
	px := httptest.NewServer(upstream.NewProxy(u, tr))
	defer px.Close()
	status, body := get(t, px.URL+"/x", nil)
	if status != http.StatusBadGateway || !strings.Contains(body, "upstream unreachable") {
		t.Errorf("proxy answered %d %s", status, body)
	}
	if len(l.Events("UPSTREAM_ERROR")) != 1 {
		t.Error("no UPSTREAM_ERROR event")
	}
}

func TestCloseReasonRedacted(t *testing.T) {
	l := newLogs(t)
	tok := tokenExp(t, time.Now(), time.Hour)
	l.Secret(tok)
	// An upstream that quotes the refused token in its close reason
	// (a close reason holds at most 123 bytes, so only part of it).
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.Close(4001, "bad token "+tok[len(tok)-100:])
	})
	up := httptest.NewServer(mux)
	defer up.Close()
	u, _ := url.Parse(up.URL)
	tr := &upstream.Transport{Source: newStatic(t, tok), Host: u.Host, Logger: l.Logger()}
	c, _, err := tr.DialWebSocket(context.Background(), wsURL(up.URL)+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_, _, err = c.Read(context.Background())
	if websocket.CloseStatus(err) != 4001 {
		t.Fatalf("read: %v", err)
	}
	eventually(t, 2*time.Second, "AUTH_FAILURE", func() bool { return len(l.Events("AUTH_FAILURE")) == 1 })
	if r := l.Events("AUTH_FAILURE")[0]["reason"]; r != "bad token [redacted]" {
		t.Errorf("reason %q", r)
	}
	// The signature tail must not be in any line either.
	l.Secret(tok[len(tok)-60:])
}

func TestParseUpstream(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "https", in: "https://podium.example/api", want: "https://podium.example/api"},
		{name: "wss maps to https", in: "wss://podium.example", want: "https://podium.example"},
		{name: "ws maps to http", in: "ws://127.0.0.1:9", want: "http://127.0.0.1:9"},
		{name: "no host", in: "https:///x", wantErr: true},
		{name: "user info", in: "https://u:p@podium.example", wantErr: true},
		{name: "query", in: "https://podium.example/?token=x", wantErr: true},
		{name: "ftp", in: "ftp://podium.example", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := upstream.ParseUpstream(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && u.String() != tt.want {
				t.Errorf("got %s, want %s", u, tt.want)
			}
		})
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, source, status string) float64 {
	t.Helper()
	return counterWith(t, reg, map[string]string{"source": source, "status": status})
}

// newRegistry is a private registry whose final /metrics logscan scans.
func newRegistry(t *testing.T, l *logs) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	l.Gatherer(reg)
	return reg
}

// counterWith sums voicetoken_auth_failures_total over the series whose
// labels include want.
func counterWith(t *testing.T, reg *prometheus.Registry, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "voicetoken_auth_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			match := true
			for k, v := range want {
				match = match && labels[k] == v
			}
			if match {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func TestExpiryGauge(t *testing.T) {
	now := time.Now()
	tok := tokenExp(t, now, time.Hour)
	reg := prometheus.NewRegistry()
	if _, err := upstream.NewMetrics(reg, newStatic(t, tok), func() time.Time { return now }); err != nil {
		t.Fatal(err)
	}
	found := false
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "voicetoken_credential_expiry_seconds" {
			found = true
			v := mf.GetMetric()[0].GetGauge().GetValue()
			exp := time.Unix(now.Add(time.Hour).Unix(), 0).Sub(now).Seconds()
			if v != exp {
				t.Errorf("gauge %v, want %v", v, exp)
			}
		}
	}
	if !found {
		t.Fatal("no voicetoken_credential_expiry_seconds")
	}
}
