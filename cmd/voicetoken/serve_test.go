package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/redis/go-redis/v9"

	"voicetoken/internal/logscan"
	"voicetoken/internal/ratelimit/redistest"
	"voicetoken/internal/testkit"
)

// startServe runs `voicetoken serve args...` in-process on 127.0.0.1:0 and
// returns its base URL (read from the LISTENING log line), its stderr and
// a stop function that waits for a clean exit. The log is scanned for the
// environment's secrets when the test ends (logscan).
func startServe(t *testing.T, environ map[string]string, args ...string) (string, *logscan.Logs, func()) {
	t.Helper()
	stderr := logscan.New(t)
	for k, v := range environ {
		if strings.HasSuffix(k, "_SECRET") || strings.HasSuffix(k, "_TOKEN") {
			stderr.Secret(v)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), &env{
			stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderr,
			getenv: func(k string) string { return environ[k] }, now: time.Now,
		})
	}()
	var base string
	testkit.Eventually(t, 30*time.Second, "the LISTENING line", func() bool {
		for _, line := range strings.Split(stderr.String(), "\n") {
			var m struct{ Event, URL string }
			if json.Unmarshal([]byte(line), &m) == nil && m.Event == "LISTENING" {
				base = strings.TrimSuffix(m.URL, "/")
				return true
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d: %s", code, stderr)
		default:
		}
		return false
	})
	stop := func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exit code %d: %s", code, stderr)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("serve did not stop")
		}
	}
	return base, stderr, stop
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode
}

// TestServeNoSetup is the README's first command: no keys, no policy, and
// a token for test-room that LiveKit's own verifier accepts.
func TestServeNoSetup(t *testing.T) {
	base, stderr, stop := startServe(t, nil)
	var out struct{ Token, Room, Identity, ServerURL string }
	var raw map[string]any
	if code := getJSON(t, base+"/api/token?room=test-room&identity=u1", &raw); code != 200 {
		t.Fatalf("status %d: %v", code, raw)
	}
	b, _ := json.Marshal(raw)
	json.Unmarshal(b, &out)
	if raw["server_url"] != "ws://127.0.0.1:7880" {
		t.Errorf("server_url %v, want LiveKit's dev URL", raw["server_url"])
	}
	v, err := auth.ParseAPIToken(out.Token)
	if err != nil {
		t.Fatal(err)
	}
	_, grants, err := v.Verify("secret")
	if err != nil {
		t.Fatalf("LiveKit rejects the dev token: %v", err)
	}
	if grants.Video.Room != "test-room" || grants.Identity != "u1" {
		t.Errorf("grants %+v", grants.Video)
	}
	stderr.Issued(out.Token) // handed out once; never to be logged
	stop()
	logs := stderr.String()
	for _, want := range []string{"WARNING: using LiveKit's development key pair", `"event":"TOKEN_ISSUED"`, `"event":"SHUTDOWN"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, out.Token) {
		t.Error("the token appears in the log")
	}
}

// TestServeReloadOnSIGHUP: a good policy file is applied on SIGHUP, a bad
// one is refused and the running policy stays.
func TestServeReloadOnSIGHUP(t *testing.T) {
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(s string) {
		if err := os.WriteFile(pol, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("rooms: [{name: first}]\n")
	base, stderr, stop := startServe(t, map[string]string{"VOICETOKEN_POLICY": pol})
	defer stop()
	status := func(room string) int {
		var v any
		return getJSON(t, base+"/api/token?identity=u&room="+room, &v)
	}
	if status("first") != 200 || status("second") != 403 {
		t.Fatal("initial policy not applied")
	}
	hup := func() {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	write("rooms: [{name: second}]\nbrowser: {grants: [roomAdmin]}\n")
	hup()
	testkit.Eventually(t, 30*time.Second, "RELOAD_FAILED", func() bool { return strings.Contains(stderr.String(), `"event":"RELOAD_FAILED"`) })
	if status("first") != 200 || status("second") != 403 {
		t.Error("a bad policy file changed the running policy")
	}
	write("rooms: [{name: second}]\n")
	hup()
	testkit.Eventually(t, 30*time.Second, "the new policy", func() bool { return status("second") == 200 })
	if status("first") != 403 {
		t.Error("old room still allowed after reload")
	}
	// Refused and accepted reloads are counted (a file watch may reload
	// too, so at least one of each).
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`voicetoken_reloads_total{component="serve",result="error"} [1-9]`, `voicetoken_reloads_total{component="serve",result="ok"} [1-9]`} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want[:strings.Index(want, " ")]) + ` [1-9]`).Match(body) {
			t.Errorf("/metrics has no %s:\n%s", want, regexp.MustCompile(`(?m)^voicetoken_reloads.*$`).FindAllString(string(body), -1))
		}
	}
}

func TestServeConfigErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		environ  map[string]string
		wantCode int
		want     []string
	}{
		{name: "every problem at once", args: []string{"serve", "--addr", "nohost", "--livekit-url", "ftp://x"}, wantCode: 3,
			want: []string{"nohost", "ftp://x"}},
		{name: "bad policy file", args: []string{"serve", "--policy", "testdata/does-not-exist.yaml"}, wantCode: 3, want: []string{"read policy"}},
		{name: "half a key", args: []string{"serve"}, environ: map[string]string{"LIVEKIT_API_KEY": "APIx"}, wantCode: 3, want: []string{"LIVEKIT_API_SECRET"}},
		{name: "stray argument", args: []string{"serve", "extra"}, wantCode: 3, want: []string{"extra"}},
		{name: "rate NaN", args: []string{"serve", "--rate", "NaN"}, wantCode: 3, want: []string{"--rate NaN: want token requests per second"}},
		{name: "rate negative", args: []string{"serve", "--rate", "-3"}, wantCode: 3, want: []string{"--rate -3:"}},
		{name: "rate infinite", args: []string{"serve", "--rate", "Inf"}, wantCode: 3, want: []string{"--rate +Inf:"}},
		{name: "burst negative", args: []string{"serve", "--burst", "-5"}, wantCode: 3, want: []string{"--burst -5: want at least 1"}},
		{name: "burst zero", args: []string{"serve", "--burst", "0"}, wantCode: 3, want: []string{"--burst 0: want at least 1"}},
		{name: "redis not a redis URL", args: []string{"serve", "--redis", "http://u:pw-hunter2@h:6379"}, wantCode: 3, want: []string{"--redis:", "invalid URL scheme"}},
		{name: "REDIS_URL bad database", environ: map[string]string{"REDIS_URL": "redis://u:pw-hunter2@h:6379/x"}, args: []string{"serve"}, wantCode: 3,
			want: []string{"--redis:", "redis://u:xxxxx@h:6379/x"}},
		{name: "max ttl under a second", args: []string{"serve", "--max-ttl", "0.00001"}, wantCode: 3, want: []string{`"0.00001" hours is less than a second`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.environ, "", tc.args...)
			if r.code != tc.wantCode {
				t.Fatalf("exit %d, want %d: %s", r.code, tc.wantCode, r.stderr)
			}
			if strings.Contains(r.stderr, "pw-hunter2") {
				t.Errorf("stderr shows the Redis password: %s", r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, r.stderr)
				}
			}
		})
	}
}

// TestServeReloadOnFileChange: a policy mounted from a Kubernetes
// ConfigMap (policy.yaml -> ..data/policy.yaml, ..data -> a timestamped
// directory) is applied when the kubelet swaps ..data, with no SIGHUP.
func TestServeReloadOnFileChange(t *testing.T) {
	dir := t.TempDir()
	gen := func(name, policy string) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "policy.yaml"), []byte(policy), 0o644); err != nil {
			t.Fatal(err)
		}
		// The kubelet's swap: a new link renamed over ..data.
		if err := os.Symlink(name, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	gen("..2026_12_04_a", "rooms: [{name: first}]\n")
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.Symlink("..data/policy.yaml", pol); err != nil {
		t.Fatal(err)
	}
	base, stderr, stop := startServe(t, nil, "--policy", pol)
	defer stop()
	status := func(room string) int {
		var v any
		return getJSON(t, base+"/api/token?identity=u&room="+room, &v)
	}
	if status("first") != 200 || status("second") != 403 {
		t.Fatal("initial policy not applied")
	}
	gen("..2026_12_04_b", "rooms: [{name: second}]\n")
	testkit.Eventually(t, 30*time.Second, "the new policy without SIGHUP", func() bool { return status("second") == 200 })
	if status("first") != 403 {
		t.Error("old room still allowed after the swap")
	}
	testkit.Eventually(t, 30*time.Second, "RELOADED", func() bool { return strings.Contains(stderr.String(), `"event":"RELOADED"`) })
}

// TestServeRedis: serve --redis with a password-protected Redis (from
// VOICETOKEN_REDIS_URL) spends from Redis's buckets, logs the URL without
// its password, and answers from the local limits with Redis gone.
func TestServeRedis(t *testing.T) {
	const pw = "redis-pw-0123456789"
	rs := redistest.Start(t, "--requirepass", pw)
	url := "redis://default:" + pw + "@" + rs.Addr() + "/0"
	base, stderr, stop := startServe(t, map[string]string{"VOICETOKEN_REDIS_URL": url, "REDIS_TOKEN": pw}, "--burst", "3", "--rate", "0.001", "--redis-timeout", "1s")
	codes := func(n int) (served int) {
		for range n {
			var m map[string]any
			if getJSON(t, base+"/api/token?room=test-room&identity=u1", &m) == 200 {
				served++
			}
		}
		return served
	}
	if served := codes(6); served != 3 {
		t.Errorf("served %d of 6, want the burst (3)", served)
	}
	ev := jsonEvents(stderr, "RATE_LIMIT_REDIS")
	if len(ev) != 1 || ev[0]["redis"] != "redis://default:xxxxx@"+rs.Addr()+"/0" {
		t.Errorf("RATE_LIMIT_REDIS events %v, want one with the password redacted", ev)
	}
	c := redis.NewClient(&redis.Options{Addr: rs.Addr(), Password: pw})
	defer c.Close()
	if n, err := c.Keys(context.Background(), "rate:voicetoken:*").Result(); err != nil || len(n) != 1 {
		t.Errorf("Redis keys %v (%v), want one bucket", n, err)
	}
	rs.Stop()
	if served := codes(4); served != 3 {
		t.Errorf("Redis down: served %d of 4, want the local burst (3)", served)
	}
	// The log is written in batches: wait for the line, then for the
	// next batch, which must not hold a second one.
	testkit.Eventually(t, 30*time.Second, "RATE_LIMIT_DEGRADED", func() bool { return len(jsonEvents(stderr, "RATE_LIMIT_DEGRADED")) > 0 })
	codes(1)
	stop()
	if n := len(jsonEvents(stderr, "RATE_LIMIT_DEGRADED")); n != 1 {
		t.Errorf("%d RATE_LIMIT_DEGRADED lines, want 1", n)
	}
}

// jsonEvents are serve's JSON log lines whose event is ev (stderr also
// holds plain-text warnings).
func jsonEvents(l *logscan.Logs, ev string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(l.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["event"] == ev {
			out = append(out, m)
		}
	}
	return out
}

// TestServeGOGC: serve runs the collector at GOGC 200 unless the
// environment sets GOGC. (Not parallel: the setting is the process's.)
func TestServeGOGC(t *testing.T) {
	gogc := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	for _, tc := range []struct {
		env  map[string]string
		want uint64
	}{
		{map[string]string{"GOGC": "100"}, 100}, // first: 200 would stay set
		{nil, serveGCPercent},
	} {
		base, _, stop := startServe(t, tc.env)
		// Serve is answering, so the setting (made before it) is done.
		var health map[string]any
		if code := getJSON(t, base+"/healthz", &health); code != 200 {
			t.Fatalf("healthz: %d", code)
		}
		if got := gogc(); got != tc.want {
			t.Errorf("GOGC env %q: collector at %d, want %d", tc.env["GOGC"], got, tc.want)
		}
		stop()
	}
}
