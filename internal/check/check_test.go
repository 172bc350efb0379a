package check_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"voicetoken/internal/check"
	"voicetoken/internal/token"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return testNow }

const testSecret = "check-test-secret-0123456789abcdef"

func testKey(t testing.TB) *token.Key {
	t.Helper()
	k, err := token.NewKey("APIcheck", testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mint(t testing.TB, k *token.Key, at time.Time, ttl time.Duration) string {
	t.Helper()
	raw, err := k.Mint(token.Claims{Identity: "user1", Name: "User", Video: &token.VideoGrant{
		RoomJoin: true, Room: "test-room", CanPublish: token.Bool(true), CanSubscribe: token.Bool(true), CanPublishData: token.Bool(true),
	}}, at, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func result(st check.Status, detail string) func(context.Context) check.Result {
	return func(context.Context) check.Result { return check.Result{Status: st, Detail: detail} }
}

func TestRunnerRunsInParallel(t *testing.T) {
	// Each check waits until all have started: run one after another,
	// the first would never see the others and would time out.
	const n = 4
	var started atomic.Int32
	all := make(chan struct{})
	checks := make([]check.Check, n)
	for i := range checks {
		checks[i] = check.Check{Name: string(rune('a' + i)), Run: func(ctx context.Context) check.Result {
			if started.Add(1) == n {
				close(all)
			}
			select {
			case <-all:
				return check.Okf("saw all")
			case <-ctx.Done():
				return check.Failf("alone: %v", ctx.Err())
			}
		}}
	}
	r := &check.Runner{Timeout: 30 * time.Second}
	for i, res := range r.Run(context.Background(), checks) {
		if res.Status != check.OK || res.Name != checks[i].Name {
			t.Errorf("result %d = %+v, want %s ok (results in input order)", i, res, checks[i].Name)
		}
	}
}

func TestRunnerNeedsAndAfter(t *testing.T) {
	var fixed atomic.Bool
	checks := []check.Check{
		{Name: "down", Run: result(check.Fail, "connection refused")},
		{Name: "degraded", Run: result(check.Warn, "slow")},
		{Name: "api", Needs: []string{"down"}, Run: result(check.OK, "must not run")},
		{Name: "api2", Needs: []string{"api"}, Run: result(check.OK, "must not run")},
		{Name: "on warn", Needs: []string{"degraded"}, Run: result(check.OK, "ran")},
		{Name: "fix", Run: func(context.Context) check.Result { fixed.Store(true); return check.Failf("could not fix") }},
		{Name: "after fix", After: []string{"fix"}, Run: func(context.Context) check.Result {
			if !fixed.Load() {
				return check.Failf("ran before fix")
			}
			return check.Okf("ran after fix")
		}},
		{Name: "forward", Needs: []string{"later"}, Run: result(check.OK, "must not run")},
		{Name: "later", Run: result(check.OK, "x")},
		{Name: "later", Run: result(check.OK, "duplicate")},
	}
	got := (&check.Runner{}).Run(context.Background(), checks)
	want := []struct {
		status check.Status
		detail string
	}{
		{check.Fail, "connection refused"},
		{check.Warn, "slow"},
		{check.Skipped, "needs down (fail)"},
		{check.Skipped, "needs api (skipped)"},
		{check.OK, "ran"},
		{check.Fail, "could not fix"},
		{check.OK, "ran after fix"},
		{check.Fail, `needs "later", which is not listed before it`},
		{check.OK, "x"},
		{check.Fail, `duplicate check name "later"`},
	}
	for i, w := range want {
		if got[i].Status != w.status || got[i].Detail != w.detail {
			t.Errorf("%s: got %s %q, want %s %q", checks[i].Name, got[i].Status, got[i].Detail, w.status, w.detail)
		}
	}
}

func TestRunnerTimeouts(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	// A check that honours its context gets a long grace, so that a slow
	// scheduler cannot turn its own answer into "did not finish"; one
	// that ignores it runs alone under a short grace, which it always
	// overruns.
	patient := []check.Check{
		{Name: "honours ctx", Timeout: 10 * time.Millisecond, Run: func(ctx context.Context) check.Result {
			<-ctx.Done()
			return check.Failf("gave up: %v", ctx.Err())
		}},
		{Name: "panics", Run: func(ctx context.Context) check.Result { panic("boom") }},
		{Name: "no run"},
	}
	stubborn := []check.Check{
		{Name: "ignores ctx", Timeout: 10 * time.Millisecond, Run: func(ctx context.Context) check.Result {
			<-release
			return check.Okf("too late")
		}},
	}
	got := append((&check.Runner{Grace: 30 * time.Second}).Run(context.Background(), patient),
		(&check.Runner{Grace: 10 * time.Millisecond}).Run(context.Background(), stubborn)...)
	checks := append(patient, stubborn...)
	tests := []struct {
		status check.Status
		detail string
	}{
		{check.Fail, "gave up: context deadline exceeded"},
		{check.Fail, "check panicked: boom"},
		{check.Fail, "check has no Run function"},
		{check.Fail, "did not finish within 10ms"},
	}
	for i, w := range tests {
		if got[i].Status != w.status || got[i].Detail != w.detail {
			t.Errorf("%s: got %s %q, want %s %q", checks[i].Name, got[i].Status, got[i].Detail, w.status, w.detail)
		}
	}
}

func TestRunnerCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := (&check.Runner{}).Run(ctx, []check.Check{
		{Name: "a", Run: func(ctx context.Context) check.Result { return check.Failf("%v", ctx.Err()) }},
		{Name: "b", Needs: []string{"a"}, Run: result(check.OK, "x")},
	})
	if got[0].Status != check.Fail || got[1].Status != check.Skipped {
		t.Errorf("got %+v", got)
	}
}

// A detail is one printable line, and a token in it is shown only as its
// fingerprint, whatever the check (or the server it quotes) wrote.
func TestRunnerSanitizesDetails(t *testing.T) {
	raw := mint(t, testKey(t), testNow, time.Hour)
	long := strings.Repeat("x", 500)
	got := (&check.Runner{}).Run(context.Background(), []check.Check{
		{Name: "echo", Run: result(check.Fail, "invalid token: "+raw+",\n error:\tbad\x1b[31m")},
		{Name: "long", Run: result(check.OK, long)},
	})
	want := "invalid token: <token " + token.Fingerprint(raw) + ">, error: bad [31m"
	if got[0].Detail != want {
		t.Errorf("detail = %q, want %q", got[0].Detail, want)
	}
	if n := len(got[1].Detail); n != 303 || !strings.HasSuffix(got[1].Detail, "...") {
		t.Errorf("long detail has %d bytes: %q", n, got[1].Detail)
	}
}

func TestRunnerMeasuresWithInjectedClock(t *testing.T) {
	var mu sync.Mutex
	at := testNow
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		at = at.Add(1500 * time.Millisecond)
		return at
	}
	got := (&check.Runner{Now: clock}).Run(context.Background(), []check.Check{{Name: "a", Run: result(check.OK, "")}})
	if got[0].Duration != 1500*time.Millisecond {
		t.Errorf("duration = %s, want 1.5s", got[0].Duration)
	}
}

// A check that measured what it reports (smoke's round trip: 12ms, while
// the step itself took 1.5s here) keeps its own duration, so the table's
// time column says what the detail says.
func TestRunnerKeepsAMeasuredDuration(t *testing.T) {
	clock := func() func() time.Time {
		var mu sync.Mutex
		at := testNow
		return func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			at = at.Add(1500 * time.Millisecond)
			return at
		}
	}()
	measured := func(context.Context) check.Result {
		r := check.Okf("round trip 12ms")
		r.Duration = 12 * time.Millisecond
		return r
	}
	got := (&check.Runner{Now: clock}).Run(context.Background(), []check.Check{{Name: "round trip", Run: measured}})
	if got[0].Duration != 12*time.Millisecond {
		t.Errorf("duration = %s, want the measured 12ms", got[0].Duration)
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name     string
		statuses []check.Status
		strict   bool
		want     int
		overall  check.Status
	}{
		{name: "all ok", statuses: []check.Status{check.OK, check.OK}, want: 0, overall: check.OK},
		{name: "skipped does not count", statuses: []check.Status{check.OK, check.Skipped}, want: 0, overall: check.OK},
		{name: "warn", statuses: []check.Status{check.OK, check.Warn}, want: 0, overall: check.Warn},
		{name: "warn strict", statuses: []check.Status{check.OK, check.Warn}, strict: true, want: 1, overall: check.Warn},
		{name: "fail", statuses: []check.Status{check.Warn, check.Fail}, want: 1, overall: check.Fail},
		{name: "none", want: 0, overall: check.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rs []check.Result
			for _, s := range tt.statuses {
				rs = append(rs, check.Result{Status: s})
			}
			if got := check.ExitCode(rs, tt.strict); got != tt.want {
				t.Errorf("ExitCode = %d, want %d", got, tt.want)
			}
			if got := check.Overall(rs); got != tt.overall {
				t.Errorf("Overall = %s, want %s", got, tt.overall)
			}
		})
	}
}

// goldenResults is a fixed round covering every status and column width.
var goldenResults = []check.Result{
	{Name: "keys", Status: check.OK, Detail: "1 key(s), primary APIprod: APIprod (secret 1a2b3c4d)", Duration: 120 * time.Microsecond},
	{Name: "token html:voice-agent-selector.html", Status: check.Warn, Detail: "EXPIRING: user1 in test-room, expires in 1h 10m (2026-11-23 13:10 UTC), within --warn 2h; signed by APIprod", Duration: 2 * time.Millisecond},
	{Name: "credential file:/run/secrets/podium_token", Status: check.Fail, Detail: "EXPIRED: expired 3h ago (2026-11-23 09:00 UTC), alg RS256, sub agent-7, token 0badf00d", Duration: 1500 * time.Microsecond},
	{Name: "livekit", Status: check.Fail, Detail: "LiveKit at http://127.0.0.1:7880 is not reachable: connection refused (nothing listening)", Duration: 1234 * time.Millisecond},
	{Name: "livekit api", Status: check.Skipped, Detail: "needs livekit (fail)"},
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestWriteTableGolden(t *testing.T) {
	tests := []struct {
		name   string
		colour bool
		file   string
	}{
		{name: "plain", file: "table.golden"},
		{name: "colour", colour: true, file: "table_colour.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := check.WriteTable(&b, goldenResults, tt.colour); err != nil {
				t.Fatal(err)
			}
			if hasESC := bytes.Contains(b.Bytes(), []byte("\x1b[")); hasESC != tt.colour {
				t.Errorf("colour=%v but escape codes present=%v", tt.colour, hasESC)
			}
			golden(t, tt.file, b.Bytes())
		})
	}
}

func TestWriteJSONGolden(t *testing.T) {
	var b bytes.Buffer
	if err := check.WriteJSON(&b, check.NewReport(goldenResults, testNow, false), false); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.golden.json", b.Bytes())

	b.Reset()
	if err := check.WriteJSON(&b, check.NewReport(goldenResults[:1], testNow, true), true); err != nil {
		t.Fatal(err)
	}
	if lines := bytes.Count(b.Bytes(), []byte("\n")); lines != 1 {
		t.Errorf("compact JSON has %d lines, want 1: %s", lines, b.Bytes())
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0ms"}, {999 * time.Microsecond, "0ms"}, {42 * time.Millisecond, "42ms"}, {1250 * time.Millisecond, "1.25s"},
	}
	for _, tt := range tests {
		if got := check.FormatDuration(tt.d); got != tt.want {
			t.Errorf("FormatDuration(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	raw := mint(t, testKey(t), testNow, time.Hour)
	got := check.Redact("a " + raw + " b " + raw)
	if strings.Contains(got, raw) || strings.Count(got, "<token "+token.Fingerprint(raw)+">") != 2 {
		t.Errorf("Redact = %q", got)
	}
}
