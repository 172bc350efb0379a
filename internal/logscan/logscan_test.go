package logscan_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"voicetoken/internal/logscan"
	"voicetoken/internal/testkit"
)

// fakeT records failures instead of failing, and runs cleanups on demand,
// so the scanner's own failures can be asserted.
type fakeT struct {
	testing.TB
	errs     []string
	cleanups []func()
}

func (f *fakeT) Helper() {}
func (f *fakeT) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}
func (f *fakeT) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) end() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

const secret = "sk-live-0123456789abcdef"

func TestScanners(t *testing.T) {
	tok := testkit.TokenExp(t, time.Now(), time.Hour)
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	tests := []struct {
		name     string
		produce  func(t *testing.T, l *logscan.Logs)
		wantHits int
	}{
		{name: "clean log", produce: func(t *testing.T, l *logscan.Logs) { l.Logger().Info("ok", "event", "X", "fp", "abcd1234") }},
		{name: "secret in a log line", produce: func(t *testing.T, l *logscan.Logs) { l.Logger().Info("oops", "key", secret) }, wantHits: 1},
		{name: "token signature alone in a log line", produce: func(t *testing.T, l *logscan.Logs) { l.Secret(tok); l.Logger().Info("oops", "sig", sig) }, wantHits: 1},
		{name: "error", produce: func(t *testing.T, l *logscan.Logs) { l.NoSecret(errors.New("bad key " + secret)) }, wantHits: 1},
		{name: "nil error", produce: func(t *testing.T, l *logscan.Logs) { l.NoSecret(nil) }},
		{name: "text", produce: func(t *testing.T, l *logscan.Logs) { l.Secret(tok); l.Text("stdout", "token: "+tok) }, wantHits: 2}, // token and signature
		{name: "text without secrets", produce: func(t *testing.T, l *logscan.Logs) { l.Text("stdout", "token: "+tok) }},
		{name: "short exact", produce: func(t *testing.T, l *logscan.Logs) { l.Exact(`"pw"`); l.Text("stdout", `{"s":"pw"}`) }, wantHits: 1},
		{name: "handler header", produce: func(t *testing.T, l *logscan.Logs) {
			h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Debug", secret) }))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		}, wantHits: 1},
		{name: "handler body", produce: func(t *testing.T, l *logscan.Logs) {
			h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{\"k\":\""+secret+"\"}") }))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		}, wantHits: 1},
		{name: "client response", produce: func(t *testing.T, l *logscan.Logs) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, secret) }))
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			if b := l.Response(resp); string(b) != secret {
				t.Errorf("body %q", b)
			}
		}, wantHits: 1},
		{name: "token registered after it was handed out, then logged", produce: func(t *testing.T, l *logscan.Logs) {
			l.Text("response", "{\"token\":\"x\"}")
			l.Secret(tok)
			l.Logger().Info("issued", "token", tok)
		}, wantHits: 2}, // the token and its signature segment
		{name: "metrics at the end", produce: func(t *testing.T, l *logscan.Logs) {
			reg := prometheus.NewRegistry()
			c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total", Help: "x"}, []string{"k"})
			reg.MustRegister(c)
			l.Gatherer(reg)
			c.WithLabelValues(secret).Inc() // after registration: scraped at the end
		}, wantHits: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ft := &fakeT{TB: t}
			l := logscan.New(ft)
			l.Secret(secret, "short")
			tc.produce(t, l)
			ft.end()
			_, _, hits := l.Scanned()
			if hits != tc.wantHits {
				t.Fatalf("%d hits, want %d (failures: %q)", hits, tc.wantHits, ft.errs)
			}
			if (len(ft.errs) > 0) != (tc.wantHits > 0) {
				t.Fatalf("failures %q for %d hits", ft.errs, hits)
			}
			for _, e := range ft.errs {
				if strings.Contains(e, secret) {
					t.Errorf("the failure message shows the secret")
				}
			}
		})
	}
}
