package upstream_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"voicetoken/internal/hostlist"
	"voicetoken/internal/upstream"
)

// recordingUpstream answers 200 to everything and records the request
// targets and tokens it received; /ws is a WebSocket echo.
type recordingUpstream struct {
	*httptest.Server
	mu      sync.Mutex
	targets []string // RequestURI as received
}

func newRecordingUpstream(t *testing.T) *recordingUpstream {
	u := &recordingUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.targets = append(u.targets, r.RequestURI)
		u.mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/ws") {
			c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
			if err != nil {
				return
			}
			defer c.CloseNow()
			typ, msg, err := c.Read(r.Context())
			if err == nil {
				c.Write(r.Context(), typ, msg)
			}
			c.Close(websocket.StatusNormalClosure, "")
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *recordingUpstream) received() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.targets...)
}

// guardedProxy is `voicetoken proxy` as the command builds it: the Guard
// (loopback Hosts, allowOrigins) in front of NewProxy to base.
func guardedProxy(t *testing.T, l *logs, base string, tok string, allowOrigins []string, mod func(*upstream.Transport)) (*httptest.Server, *prometheus.Registry) {
	t.Helper()
	u, err := upstream.ParseUpstream(base)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, _ := upstream.NewMetrics(reg, nil, nil)
	l.Gatherer(reg)
	tr := &upstream.Transport{Source: newStatic(t, tok), Logger: l.Logger(), Metrics: m}
	if mod != nil {
		mod(tr)
	}
	hosts, err := hostlist.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &upstream.Guard{Next: upstream.NewProxy(u, tr), Hosts: &hosts, AllowOrigins: allowOrigins, Logger: l.Logger(), Metrics: m}
	px := httptest.NewServer(l.Handler(g))
	t.Cleanup(px.Close)
	return px, reg
}

// rawStatus sends one request written byte for byte (Go's client would
// clean the path or refuse the method) and returns the status.
func rawStatus(t *testing.T, addr, method, target string, hdr map[string]string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", method, target)
	if _, ok := hdr["Host"]; !ok {
		fmt.Fprintf(&b, "Host: %s\r\n", addr)
	}
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("Content-Length: 0\r\nConnection: close\r\n\r\n")
	if _, err := c.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAdversarialProxyFromBrowser is what a hostile web page (or a
// confused client) on the agent's machine tries against the proxy on
// 127.0.0.1: every attempt is refused before the upstream sees it, with
// a PROXY_REFUSED event naming the reason, and an agent's own requests
// still pass.
func TestAdversarialProxyFromBrowser(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		target     string // request target, sent as is
		hdr        map[string]string
		ws         bool     // a WebSocket handshake (hdr holds its extra headers)
		allow      []string // --allow-origin
		query      string   // Transport.Query
		wantStatus int
		wantReason string // PROXY_REFUSED reason; "" means forwarded
		wantTarget string // what the upstream received, when forwarded
	}{
		{name: "DNS rebinding: foreign Host", method: "GET", target: "/api/x", hdr: map[string]string{"Host": "evil.example:8787"}, wantStatus: 403, wantReason: upstream.RefusedHost},
		{name: "DNS rebinding: Host without port", method: "GET", target: "/api/x", hdr: map[string]string{"Host": "evil.example"}, wantStatus: 403, wantReason: upstream.RefusedHost},
		{name: "absolute-form target for another host", method: "GET", target: "http://evil.example/api/x", hdr: map[string]string{"Host": "evil.example"}, wantStatus: 403, wantReason: upstream.RefusedHost},
		{name: "cross-site text/plain POST", method: "POST", target: "/api/x", hdr: map[string]string{"Origin": "https://evil.example", "Content-Type": "text/plain"}, wantStatus: 403, wantReason: upstream.RefusedOrigin},
		{name: "Origin null (sandboxed iframe, file:)", method: "POST", target: "/api/x", hdr: map[string]string{"Origin": "null"}, wantStatus: 403, wantReason: upstream.RefusedOrigin},
		{name: "no-cors GET: Sec-Fetch-Site cross-site", method: "GET", target: "/api/x", hdr: map[string]string{"Sec-Fetch-Site": "cross-site"}, wantStatus: 403, wantReason: upstream.RefusedFetchMeta},
		{name: "navigation: Sec-Fetch-Mode navigate", method: "GET", target: "/api/x", hdr: map[string]string{"Sec-Fetch-Mode": "navigate"}, wantStatus: 403, wantReason: upstream.RefusedFetchMeta},
		{name: "cross-site WebSocket", ws: true, target: "/ws", hdr: map[string]string{"Origin": "https://evil.example"}, wantStatus: 403, wantReason: upstream.RefusedOrigin},
		{name: "WebSocket with Sec-Fetch-Mode websocket", ws: true, target: "/ws", hdr: map[string]string{"Sec-Fetch-Mode": "websocket"}, wantStatus: 403, wantReason: upstream.RefusedFetchMeta},
		{name: "TRACE", method: "TRACE", target: "/api/x", wantStatus: 405, wantReason: upstream.RefusedMethod},
		{name: "CONNECT", method: "CONNECT", target: "evil.example:443", hdr: map[string]string{"Host": "evil.example:443"}, wantStatus: 405, wantReason: upstream.RefusedMethod},
		{name: "dot-dot above the base", method: "GET", target: "/../admin", wantStatus: 403, wantReason: upstream.RefusedPathEscapes},
		{name: "dot-dot twice above the base", method: "GET", target: "/podium/../../admin", wantStatus: 403, wantReason: upstream.RefusedPathEscapes},
		{name: "%2e%2e", method: "GET", target: "/%2e%2e/admin", wantStatus: 400, wantReason: upstream.RefusedPathEncoded},
		{name: "..%2f", method: "GET", target: "/podium/..%2fadmin", wantStatus: 400, wantReason: upstream.RefusedPathEncoded},
		{name: "%2E%2E%2F upper case", method: "GET", target: "/podium/%2E%2E%2Fadmin", wantStatus: 400, wantReason: upstream.RefusedPathEncoded},
		{name: `..\ backslash`, method: "GET", target: `/podium/..\admin`, wantStatus: 400, wantReason: upstream.RefusedPathEncoded},
		{name: "dot-dot inside the base is resolved", method: "GET", target: "/podium/../admin", wantStatus: 200, wantTarget: "/base/admin"},
		{name: "query kept byte for byte (header mode)", method: "GET", target: "/x?a=1;b=2&c=%41", wantStatus: 200, wantTarget: "/base/x?a=1;b=2&c=%41"},
		{name: "query kept byte for byte (--query), client's token dropped", method: "GET", target: "/x?a=1;b=2&token=mine&c=%41;token=x", query: "token", wantStatus: 200, wantTarget: "/base/x?a=1;b=2&c=%41&token=TOKEN"},
		{name: "agent: plain GET (control)", method: "GET", target: "/api/x", wantStatus: 200, wantTarget: "/base/api/x"},
		{name: "agent: Host localhost (control)", method: "GET", target: "/api/x", hdr: map[string]string{"Host": "localhost:8787"}, wantStatus: 200, wantTarget: "/base/api/x"},
		{name: "agent: Host [::1] (control)", method: "GET", target: "/api/x", hdr: map[string]string{"Host": "[::1]:8787"}, wantStatus: 200, wantTarget: "/base/api/x"},
		{name: "agent: WebSocket (control)", ws: true, target: "/ws", wantStatus: 101, wantTarget: "/base/ws"},
		{name: "browser agent: allowed Origin (control)", method: "POST", target: "/api/x", allow: []string{"https://agent.example"}, hdr: map[string]string{"Origin": "https://agent.example", "Sec-Fetch-Site": "cross-site"}, wantStatus: 200, wantTarget: "/base/api/x"},
		{name: "browser agent: allowed Origin WebSocket (control)", ws: true, target: "/ws", allow: []string{"https://agent.example"}, hdr: map[string]string{"Origin": "https://agent.example"}, wantStatus: 101, wantTarget: "/base/ws"},
		{name: "browser agent: another Origin", method: "POST", target: "/api/x", allow: []string{"https://agent.example"}, hdr: map[string]string{"Origin": "https://agent.example.evil.example"}, wantStatus: 403, wantReason: upstream.RefusedOrigin},
	}
	held, failed := 0, 0
	for _, tt := range tests {
		ok := t.Run(tt.name, func(t *testing.T) {
			l := newLogs(t)
			tok := tokenExp(t, time.Now(), time.Hour)
			l.Secret(tok)
			up := newRecordingUpstream(t)
			px, _ := guardedProxy(t, l, up.URL+"/base", tok, tt.allow, func(tr *upstream.Transport) { tr.Query = tt.query })
			addr := strings.TrimPrefix(px.URL, "http://")
			var status int
			if tt.ws {
				h := http.Header{}
				for k, v := range tt.hdr {
					h.Set(k, v)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				c, resp, err := websocket.Dial(ctx, wsURL(px.URL)+tt.target, &websocket.DialOptions{HTTPHeader: h})
				if resp != nil {
					status = resp.StatusCode
				}
				if err == nil {
					if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
						t.Errorf("write: %v", err)
					}
					if _, msg, err := c.Read(ctx); err != nil || string(msg) != "hi" {
						t.Errorf("echo %q, %v", msg, err)
					}
					c.CloseNow()
				}
			} else {
				status = rawStatus(t, addr, tt.method, tt.target, tt.hdr)
			}
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d", status, tt.wantStatus)
			}
			ev := l.Events("PROXY_REFUSED")
			got := up.received()
			if tt.wantReason == "" {
				if len(ev) != 0 {
					t.Fatalf("refused: %v", ev)
				}
				want := strings.ReplaceAll(tt.wantTarget, "TOKEN", url.QueryEscape(tok))
				if len(got) != 1 || got[0] != want {
					t.Fatalf("upstream received %q, want %q", got, want)
				}
				return
			}
			if len(got) != 0 {
				t.Fatalf("the upstream received %q", got)
			}
			if len(ev) != 1 || ev[0]["reason"] != tt.wantReason {
				t.Fatalf("PROXY_REFUSED events %v, want one with reason %s", ev, tt.wantReason)
			}
		})
		if ok {
			held++
		} else {
			failed++
		}
	}
	t.Logf("ADVERSARIAL scenario=proxy-from-a-browser tried=rebinding-Host-cross-site-POST-and-WebSocket-Sec-Fetch-TRACE-CONNECT-dot-dot-%%2e%%2e-..%%2f-query-bytes times=%d held=%d failed=%d", len(tests), held, failed)
}
