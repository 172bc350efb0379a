package main

import (
	"bytes"
	"context"
	"flag"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"voicetoken/internal/logscan"
)

// -update-smoke rewrites testdata/smoke/*.golden.
var updateSmokeGolden = flag.Bool("update-smoke", false, "rewrite cmd/voicetoken/testdata/smoke/*.golden")

const wrongSecret = "not-the-dev-secret-0123456789abcdef"

// runSmokeNow runs `smoke` with a clock frozen at the real time: LiveKit
// judges the tokens by its own clock, and every duration the report
// shows is 0ms, so the golden files hold no timing. Output is scanned
// for secrets and for anything shaped like a token.
func runSmokeNow(t *testing.T, environ map[string]string, args ...string) result {
	t.Helper()
	frozen := time.Now()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"smoke"}, args...), &env{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return environ[k] }, now: func() time.Time { return frozen },
	})
	r := result{code, out.String(), errb.String()}
	l := logscan.New(t)
	l.Secret(wrongSecret)
	l.Text("smoke stdout", r.stdout)
	l.Text("smoke stderr", r.stderr)
	for _, s := range []string{r.stdout, r.stderr} {
		if strings.Contains(s, "eyJ") {
			t.Errorf("output carries a token:\n%s", s)
		}
	}
	return r
}

var (
	loopbackPort = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	fingerprint  = regexp.MustCompile(`<token [0-9a-f]{8}>`)
	checkedAt    = regexp.MustCompile(`"checked_at": "[^"]*"`)
	smokeRun     = regexp.MustCompile(`voicetoken-smoke-([ab])-[0-9a-f]{8}\b`)
)

// normalizeSmoke replaces what differs between runs: ports, token
// fingerprints (the tokens carry the time) and the run id in the
// participants' identities. Durations need nothing: the clock is frozen.
func normalizeSmoke(s string) string {
	s = loopbackPort.ReplaceAllString(s, "127.0.0.1:PORT")
	s = smokeRun.ReplaceAllString(s, "voicetoken-smoke-$1-RUN")
	s = fingerprint.ReplaceAllString(s, "<token FINGERPRINT>")
	return checkedAt.ReplaceAllString(s, `"checked_at": "TIME"`)
}

func smokeGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "smoke", name)
	got = normalizeSmoke(got)
	if *updateSmokeGolden {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update-smoke creates it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update-smoke rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestSmokeAgainstRealLiveKit(t *testing.T) {
	lk := startLiveKit(t, livekitBinary(t))
	devEnv := map[string]string{"LIVEKIT_URL": lk.wsURL(), "LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "secret"}

	t.Run("ok", func(t *testing.T) {
		r := runSmokeNow(t, devEnv, "--room", "smoke-golden", "-v")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s%s\nserver log:\n%s", r.code, r.stdout, r.stderr, lk.log.String())
		}
		if l := line(r.stdout, "round trip"); !regexp.MustCompile(`ok .* round trip \d+ms$`).MatchString(l) {
			t.Errorf("round trip line: %q", l)
		}
		if !strings.Contains(r.stderr, `"event":"smoke_pc_state"`) {
			t.Errorf("-v logged no WebRTC state:\n%s", r.stderr)
		}
		smokeGolden(t, "ok.golden", r.stdout)

		r = runSmokeNow(t, devEnv, "--room", "smoke-golden-json", "--json")
		if r.code != 0 {
			t.Fatalf("--json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		smokeGolden(t, "ok.golden.json", strings.ReplaceAll(r.stdout, "smoke-golden-json", "smoke-golden"))
	})

	// Two monitors, or a cron run overlapping the last, given one room:
	// each run has its own identities, so LiveKit keeps both (one
	// identity twice is DUPLICATE_IDENTITY: the first holder is removed).
	t.Run("two runs in one room at once", func(t *testing.T) {
		var wg sync.WaitGroup
		runs := make([]result, 2)
		for i := range runs {
			wg.Go(func() { runs[i] = runSmokeNow(t, devEnv, "--room", "smoke-shared") })
		}
		wg.Wait()
		for i, r := range runs {
			if r.code != 0 {
				t.Errorf("run %d: exit %d\n%s%s", i, r.code, r.stdout, r.stderr)
			}
		}
		if a, b := line(runs[0].stdout, "join a"), line(runs[1].stdout, "join a"); a == b {
			t.Errorf("both runs joined as the same participant: %q", a)
		}
	})

	t.Run("real clock reports a round trip", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"smoke"}, &env{
			stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
			getenv: func(k string) string { return devEnv[k] }, now: time.Now,
		})
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
		}
		m := regexp.MustCompile(`round trip (\d+)ms`).FindStringSubmatch(line(out.String(), "round trip"))
		if m == nil {
			t.Fatalf("no round trip time:\n%s", out.String())
		}
		t.Logf("real clock:\n%s", out.String())
	})

	t.Run("wrong secret fails at join with LiveKit's reason", func(t *testing.T) {
		r := runSmokeNow(t, map[string]string{"LIVEKIT_URL": lk.wsURL(), "LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": wrongSecret}, "--room", "smoke-golden")
		l := line(r.stdout, "join a")
		if r.code != 1 || !strings.Contains(l, "fail") || !strings.Contains(l, "LiveKit refused the join (401)") || !strings.Contains(l, "signature is invalid") {
			t.Errorf("exit %d, join a: %q\n%s", r.code, l, r.stdout)
		}
		smokeGolden(t, "refused.golden", r.stdout)
	})

	t.Run("agent with no worker times out clearly", func(t *testing.T) {
		r := runSmokeNow(t, devEnv, "--room", "smoke-golden-agent", "--agent", "greeter", "--agent-timeout", "5s", "--agent-audio")
		l := line(r.stdout, "agent")
		if r.code != 1 || !strings.Contains(l, `fail`) || !strings.Contains(l, `no agent joined within 5s`) {
			t.Errorf("exit %d, agent: %q\n%s", r.code, l, r.stdout)
		}
		smokeGolden(t, "no_agent.golden", r.stdout)
	})

	lk.stop()
	t.Run("server stopped: connection refused", func(t *testing.T) {
		r := runSmokeNow(t, devEnv, "--room", "smoke-golden", "--json")
		if r.code != 1 || !strings.Contains(smokeRun.ReplaceAllString(r.stdout, "voicetoken-smoke-$1-RUN"), `"detail": "voicetoken-smoke-a-RUN cannot join: LiveKit is not reachable at `+lk.httpURL()+`: connection refused (nothing listening)"`) {
			t.Errorf("exit %d\n%s", r.code, r.stdout)
		}
		smokeGolden(t, "unreachable.golden.json", r.stdout)
	})
}

// TestSmokeUnreachable needs no LiveKit: nothing listens at the URL.
func TestSmokeUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := runSmokeNow(t, map[string]string{"LIVEKIT_URL": "ws://" + addr}, "--room", "smoke-golden")
	if r.code != 1 {
		t.Errorf("exit %d, want 1\n%s", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "NOT SAFE FOR PRODUCTION") {
		t.Errorf("the dev key pair is used without a warning:\n%s", r.stderr)
	}
	smokeGolden(t, "unreachable.golden", r.stdout)
}

func TestSmokeUsage(t *testing.T) {
	tests := []struct {
		name    string
		environ map[string]string
		args    []string
		says    string
	}{
		{name: "no URL", args: nil, says: "no LiveKit URL: set LIVEKIT_URL or --livekit-url"},
		{name: "bad URL", args: []string{"--livekit-url", "ftp://x"}, says: "LiveKit URL: bad URL"},
		{name: "token in the URL", args: []string{"--livekit-url", "ws://x/?access_token=abc"}, says: "want scheme://host"},
		{name: "argument", environ: map[string]string{"LIVEKIT_URL": "ws://x"}, args: []string{"extra"}, says: `unexpected argument "extra"`},
		{name: "timeout", environ: map[string]string{"LIVEKIT_URL": "ws://x"}, args: []string{"--timeout", "0s"}, says: "--timeout must be positive"},
		{name: "agent timeout", environ: map[string]string{"LIVEKIT_URL": "ws://x"}, args: []string{"--agent", "a", "--agent-timeout", "-1s"}, says: "--agent-timeout must be positive"},
		{name: "audio without agent", environ: map[string]string{"LIVEKIT_URL": "ws://x"}, args: []string{"--agent-audio"}, says: "--agent-audio needs --agent NAME"},
		{name: "unknown flag", args: []string{"--nope"}, says: "flag provided but not defined: -nope"},
		{name: "voice timeout", environ: map[string]string{"LIVEKIT_URL": "ws://x"}, args: []string{"--agent", "a", "--voice-timeout", "0s"}, says: "--voice-timeout must be positive"},
		{name: "say without agent", environ: map[string]string{"LIVEKIT_URL": "ws://x"}, args: []string{"--say", "x.ogg"}, says: "--say and --record need --agent NAME"},
		{name: "say: no such file", environ: map[string]string{"LIVEKIT_URL": "ws://x"}, args: []string{"--agent", "a", "--say", "/nonexistent/x.ogg"}, says: "--say: open /nonexistent/x.ogg: no such file"},
		{name: "say: not Ogg", environ: map[string]string{"LIVEKIT_URL": "ws://x", "LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "secret"}, args: []string{"--agent", "a", "--say", "smoke_test.go"}, says: "utterance: not an Ogg/Opus file smoke can send"},
		{name: "record: not a directory", environ: map[string]string{"LIVEKIT_URL": "ws://x"}, args: []string{"--agent", "a", "--record", "smoke_test.go"}, says: "--record smoke_test.go: not a directory"},
		{name: "rooms", environ: map[string]string{"LIVEKIT_URL": "ws://x"}, args: []string{"--rooms", "0"}, says: "--rooms must be between 1 and 100"},
		{name: "rooms with a room", environ: map[string]string{"LIVEKIT_URL": "ws://x"}, args: []string{"--rooms", "2", "--room", "r"}, says: "--rooms needs fresh rooms: drop --room"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.environ, "", append([]string{"smoke"}, tt.args...)...)
			if r.code != 3 || !strings.Contains(r.stderr, tt.says) || r.stdout != "" {
				t.Errorf("exit %d, stderr %q, stdout %q; want 3 and %q", r.code, r.stderr, r.stdout, tt.says)
			}
		})
	}
	r := runCLI(t, nil, "", "smoke", "-h")
	if r.code != 0 || !strings.Contains(r.stderr, "--agent-timeout") || !strings.Contains(r.stderr, "round trip") {
		t.Errorf("-h: exit %d\n%s", r.code, r.stderr)
	}
}
