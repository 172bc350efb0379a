package check_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"voicetoken/internal/check"
	"voicetoken/internal/logscan"
)

func TestMetricsObserve(t *testing.T) {
	reg := prometheus.NewRegistry()
	l := logscan.New(t)
	l.Secret(testSecrets...)
	l.Gatherer(reg)
	scrape := testNow.Add(30 * time.Minute)
	m, err := check.NewMetrics(reg, check.MetricsOptions{Warn: 2 * time.Hour, Now: func() time.Time { return scrape }})
	if err != nil {
		t.Fatal(err)
	}
	m.Observe([]check.Result{
		{Name: "livekit", Status: check.OK, Duration: 250 * time.Millisecond},
		{Name: "token html:page.html", Status: check.Warn, Duration: time.Millisecond, Expires: testNow.Add(time.Hour)},
		{Name: "serve health", Status: check.Fail},
		{Name: "serve token", Status: check.OK},
		{Name: "credential file:/run/podium", Status: check.OK, Expires: testNow.Add(5 * time.Hour)},
	}, testNow)
	// Next round: serve token is skipped, so it keeps its series with
	// the skipped value; the credential could not be read, so its expiry
	// goes away (its age would lie).
	m.Observe([]check.Result{
		{Name: "livekit", Status: check.OK, Duration: 250 * time.Millisecond},
		{Name: "token html:page.html", Status: check.Warn, Duration: time.Millisecond, Expires: testNow.Add(time.Hour)},
		{Name: "serve health", Status: check.Fail},
		{Name: "serve token", Status: check.Skipped},
		{Name: "credential file:/run/podium", Status: check.Fail},
	}, testNow)
	want := `# HELP voicetoken_check_duration_seconds How long the last run of each check took.
# TYPE voicetoken_check_duration_seconds gauge
voicetoken_check_duration_seconds{check="credential file:/run/podium"} 0
voicetoken_check_duration_seconds{check="livekit"} 0.25
voicetoken_check_duration_seconds{check="serve health"} 0
voicetoken_check_duration_seconds{check="serve token"} 0
voicetoken_check_duration_seconds{check="token html:page.html"} 0.001
# HELP voicetoken_check_last_run_timestamp_seconds When the last round of checks finished, as a Unix time.
# TYPE voicetoken_check_last_run_timestamp_seconds gauge
voicetoken_check_last_run_timestamp_seconds 1.7954352e+09
# HELP voicetoken_check_rounds_total Rounds of checks run.
# TYPE voicetoken_check_rounds_total counter
voicetoken_check_rounds_total 2
# HELP voicetoken_check_status Result of the last run of each check: 1 ok, 0.5 warn, 0 fail, -1 skipped.
# TYPE voicetoken_check_status gauge
voicetoken_check_status{check="credential file:/run/podium"} 0
voicetoken_check_status{check="livekit"} 1
voicetoken_check_status{check="serve health"} 0
voicetoken_check_status{check="serve token"} -1
voicetoken_check_status{check="token html:page.html"} 0.5
# HELP voicetoken_check_token_expiry_seconds Seconds until the token a check read expires (the earliest, for a page with several; negative once expired).
# TYPE voicetoken_check_token_expiry_seconds gauge
voicetoken_check_token_expiry_seconds{check="token html:page.html"} 1800
# HELP voicetoken_check_warn_seconds The warn window (--warn): a token expiring within it is a warning.
# TYPE voicetoken_check_warn_seconds gauge
voicetoken_check_warn_seconds 7200
`
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if got := rec.Body.String(); got != want {
		t.Errorf("metrics:\n%s\nwant:\n%s", got, want)
	}
	if _, err := check.NewMetrics(reg); err == nil {
		t.Error("registering twice on one registry succeeded")
	}
}

func TestWatchStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rounds, observed atomic.Int32
	round := func(ctx context.Context) []check.Result {
		if rounds.Add(1) == 3 {
			cancel()
		}
		return []check.Result{{Name: "a"}}
	}
	done := make(chan error, 1)
	go func() {
		done <- check.Watch(ctx, time.Millisecond, nil, round, func([]check.Result) { observed.Add(1) })
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Watch = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Watch did not stop after cancel")
	}
	if rounds.Load() != 3 || observed.Load() != 2 {
		t.Errorf("%d rounds, %d observed; want 3 and 2 (the cancelled round is not recorded)", rounds.Load(), observed.Load())
	}
	if err := check.Watch(context.Background(), 0, nil, round, nil); err == nil {
		t.Error("Watch with interval 0 succeeded")
	}
}

func TestServeMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	l := logscan.New(t)
	l.Secret(testSecrets...)
	m, _ := check.NewMetrics(reg)
	m.Observe([]check.Result{{Name: "livekit", Status: check.Warn}}, testNow)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- check.ServeMetrics(ctx, ln, reg, nil) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := l.Response(resp)
	if !strings.Contains(string(body), `voicetoken_check_status{check="livekit"} 0.5`) {
		t.Errorf("/metrics lacks the status gauge:\n%s", body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeMetrics = %v, want nil after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ServeMetrics did not stop after cancel")
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/metrics"); err == nil {
		t.Error("still serving after cancel")
	}
}

// TestWatchKick: a kick (SIGHUP) runs a round at once, long before the
// interval.
func TestWatchKick(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kick := make(chan struct{})
	var rounds atomic.Int32
	observed := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() {
		done <- check.Watch(ctx, time.Hour, kick, func(context.Context) []check.Result {
			rounds.Add(1)
			return nil
		}, func([]check.Result) { observed <- struct{}{} })
	}()
	<-observed // the first round, at once
	kick <- struct{}{}
	select {
	case <-observed:
	case <-time.After(30 * time.Second):
		t.Fatal("a kick did not run a round")
	}
	if n := rounds.Load(); n != 2 {
		t.Errorf("%d rounds, want 2", n)
	}
	cancel()
	<-done
}
