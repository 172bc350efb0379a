package upstream_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"voicetoken/internal/upstream"
)

// gathered is the value of the series name{labels} on reg (-1: absent).
func gathered(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// TestUpstreamMetrics: the upstream's answers are counted by status
// class (bounded: an odd status lands in its class), an AUTH_FAILURE
// sets the last-failure time, and Metrics.Reload counts the proxy's
// reloads, present at 0 before any.
func TestUpstreamMetrics(t *testing.T) {
	now := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	tok := tokenExp(t, time.Now(), time.Hour)
	l := newLogs(t)
	l.Secret(tok)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/s/"))
		w.WriteHeader(code)
	}))
	defer srv.Close()
	px, reg := proxyFor(t, l, &fakeUpstream{Server: srv}, newStatic(t, tok), func(tr *upstream.Transport) {
		tr.Now = func() time.Time { return now }
	})
	if got := gathered(t, reg, "voicetoken_auth_failure_last_timestamp_seconds", nil); got != 0 {
		t.Errorf("last AUTH_FAILURE %v before any, want 0", got)
	}
	for _, code := range []int{200, 204, 299, 404, 401, 503} {
		get(t, px+"/s/"+strconv.Itoa(code), nil)
	}
	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{name: "2xx", metric: "voicetoken_upstream_responses_total", labels: map[string]string{"code": "2xx"}, want: 3},
		{name: "4xx", metric: "voicetoken_upstream_responses_total", labels: map[string]string{"code": "4xx"}, want: 2},
		{name: "5xx", metric: "voicetoken_upstream_responses_total", labels: map[string]string{"code": "5xx"}, want: 1},
		{name: "no per-code series", metric: "voicetoken_upstream_responses_total", labels: map[string]string{"code": "404"}, want: -1},
		{name: "last AUTH_FAILURE", metric: "voicetoken_auth_failure_last_timestamp_seconds", want: float64(now.Unix())},
		{name: "reloads ok at 0", metric: "voicetoken_reloads_total", labels: map[string]string{"component": "proxy", "result": "ok"}, want: 0},
		{name: "reloads error at 0", metric: "voicetoken_reloads_total", labels: map[string]string{"component": "proxy", "result": "error"}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gathered(t, reg, tt.metric, tt.labels); got != tt.want {
				t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}

	reg2 := prometheus.NewRegistry()
	m, err := upstream.NewMetrics(reg2, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Reload(nil)
	m.Reload(nil)
	m.Reload(errors.New("bad token"))
	for result, want := range map[string]float64{"ok": 2, "error": 1} {
		if got := gathered(t, reg2, "voicetoken_reloads_total", map[string]string{"component": "proxy", "result": result}); got != want {
			t.Errorf("reloads{result=%q} = %v, want %v", result, got, want)
		}
	}
}
