package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"voicetoken/internal/logscan"
	"voicetoken/internal/page"
	"voicetoken/internal/testkit"
	"voicetoken/internal/token"
)

// -update-check rewrites testdata/check_*.golden (a name of its own: the
// package's other test files may define -update).
var updateCheckGolden = flag.Bool("update-check", false, "rewrite cmd/voicetoken/testdata/check_*.golden")

// checkFakes are a LiveKit server and a `voicetoken serve` that check the
// keys as the real ones do.
type checkFakes struct {
	livekit, serve *httptest.Server
}

func startCheckFakes(t *testing.T, key *token.Key) checkFakes {
	t.Helper()
	lk := http.NewServeMux()
	lk.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") })
	lk.HandleFunc("POST /twirp/livekit.RoomService/ListRooms", func(w http.ResponseWriter, r *http.Request) {
		raw := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		tok, err := token.Verify(raw, key, testNow)
		if err != nil || tok.Claims.Video == nil || !tok.Claims.Video.RoomList {
			// LiveKit quotes the token it refuses.
			http.Error(w, "invalid token: "+raw+", error: token signature is invalid", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"rooms":[]}`)
	})
	sv := http.NewServeMux()
	var f checkFakes
	// serve hands browsers the fake LiveKit, as a ws:// URL.
	sv.HandleFunc("GET /api/config", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"server_url": "ws" + strings.TrimPrefix(f.livekit.URL, "http")})
	})
	sv.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{}") })
	sv.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{}") })
	sv.HandleFunc("GET /api/token", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		raw, _ := key.Mint(token.Claims{Identity: cmp.Or(q.Get("identity"), "user-1a2b3c4d"), Video: &token.VideoGrant{RoomJoin: true, Room: q.Get("room")}}, testNow, 24*time.Hour)
		json.NewEncoder(w).Encode(map[string]string{"token": raw})
	})
	sv.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!doctype html><html><body>voice</body></html>")
	})
	f = checkFakes{livekit: httptest.NewServer(lk), serve: httptest.NewServer(sv)}
	t.Cleanup(f.livekit.Close)
	t.Cleanup(f.serve.Close)
	return f
}

// checkFixture writes the files a full check reads: a private key file,
// a page with a token, an upstream credential.
func checkFixture(t *testing.T) (dir, keyFile, html, cred string) {
	t.Helper()
	dir = t.TempDir()
	keyFile = filepath.Join(dir, "keys.yaml")
	os.WriteFile(keyFile, []byte("APIprod: "+testSecret+"\n"), 0o600)
	html = filepath.Join(dir, "voice-agent-selector.html")
	os.WriteFile(html, []byte("<script>\n  const TOKEN = '"+mintAt(t, testNow, 24*time.Hour)+"';\n</script>\n"), 0o644)
	cred = filepath.Join(dir, "podium_token")
	up := b64(`{"alg":"RS256","typ":"JWT"}`) + "." + b64(`{"sub":"agent-7","iss":"podium","exp":`+strconv.FormatInt(testNow.Add(5*time.Hour).Unix(), 10)+`}`) + "." + b64("sig")
	os.WriteFile(cred, []byte(up+"\n"), 0o600)
	return dir, keyFile, html, cred
}

// normalize replaces what changes between runs (ports, temp dirs).
func normalize(s string, repl ...string) string {
	return strings.NewReplacer(repl...).Replace(s)
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *updateCheckGolden {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update-check creates it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update-check rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestCheckAllOKGolden(t *testing.T) {
	f := startCheckFakes(t, mustKey(t, "APIprod"))
	dir, keyFile, html, cred := checkFixture(t)
	// Relative paths, as an operator types them, keep the golden files
	// independent of the temp dir.
	wd, _ := os.Getwd()
	t.Chdir(dir)
	testdata := filepath.Join(wd, "testdata")
	environ := map[string]string{"LIVEKIT_URL": "ws" + strings.TrimPrefix(f.livekit.URL, "http")}
	args := []string{"check", "--key-file", filepath.Base(keyFile), "--html", filepath.Base(html), "--credential", "file:" + filepath.Base(cred), "--serve-url", f.serve.URL, "--warn", "2h"}
	repl := []string{f.livekit.URL, "http://LIVEKIT", "ws" + strings.TrimPrefix(f.livekit.URL, "http"), "ws://LIVEKIT", f.serve.URL, "http://SERVE"}

	r := runCLI(t, environ, "", args...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	checkGolden(t, filepath.Join(testdata, "check_ok.golden"), normalize(r.stdout, repl...))

	r = runCLI(t, environ, "", append(args, "--json")...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	checkGolden(t, filepath.Join(testdata, "check_ok.golden.json"), normalize(r.stdout, repl...))
}

func TestCheckExitCodes(t *testing.T) {
	f := startCheckFakes(t, mustKey(t, "APIprod"))
	lkURL := "ws" + strings.TrimPrefix(f.livekit.URL, "http")
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose.yaml")
	os.WriteFile(loose, []byte("APIprod: "+testSecret+"\n"), 0o644)
	os.Chmod(loose, 0o644)
	expiring := mintAt(t, testNow.Add(-23*time.Hour), 24*time.Hour)
	credential := b64(`{"alg":"ES256"}`) + "." + b64(fmt.Sprintf(`{"exp":%d}`, testNow.Add(24*time.Hour).Unix())) + ".c2ln"
	wrongEnv := map[string]string{"LIVEKIT_API_KEY": "APIprod", "LIVEKIT_API_SECRET": "not-the-secret-0123456789abcdef", "LIVEKIT_URL": lkURL}

	tests := []struct {
		name   string
		env    map[string]string
		stdin  string
		args   []string
		code   int
		stdout string // substring
		stderr string // substring
	}{
		{name: "valid token", env: prodEnv, args: []string{"--token", mintAt(t, testNow, 24*time.Hour)}, code: 0, stdout: "ok: 2 ok, 0 warn"},
		{name: "token from stdin", env: prodEnv, stdin: mintAt(t, testNow, 24*time.Hour) + "\n", args: []string{"--token", "-"}, code: 0, stdout: "VALID"},
		{name: "expiring warns", env: prodEnv, args: []string{"--token", expiring}, code: 0, stdout: "EXPIRING"},
		{name: "expiring with --strict fails", env: prodEnv, args: []string{"--strict", "--token", expiring}, code: 1, stdout: "warn: 1 ok, 1 warn"},
		{name: "expired fails", env: prodEnv, args: []string{"--token", mintAt(t, testNow.Add(-30*time.Hour), 24*time.Hour)}, code: 1, stdout: "EXPIRED"},
		{name: "dev token without keys", args: []string{"--token", devToken(t)}, code: 0, stdout: "signed by devkey"},
		{name: "LiveKit refuses our secret", env: wrongEnv, code: 1, stdout: "LiveKit refused API key APIprod (401): invalid token: <token "},
		{name: "LiveKit with dev fallback warns", env: map[string]string{"LIVEKIT_URL": lkURL}, code: 1, stdout: "using LiveKit's dev pair"},
		{name: "key file readable by others", args: []string{"--key-file", loose}, code: 1, stdout: "has mode 0644: secrets should be readable by the owner only"},
		{name: "serve down", env: prodEnv, args: []string{"--serve-url", "http://127.0.0.1:1"}, code: 1, stdout: "needs serve health (fail)"},
		{name: "credential from env", env: map[string]string{"PODIUM_TOKEN": b64(`{"alg":"ES256"}`) + "." + b64(`{"exp":1}`) + ".c2ln"}, args: []string{"--credential", "env:PODIUM_TOKEN"}, code: 1, stdout: "EXPIRED"},
		{name: "short secret warns", env: map[string]string{"LIVEKIT_API_KEY": "APIshort", "LIVEKIT_API_SECRET": "short", "PODIUM_TOKEN": credential},
			args: []string{"--credential", "env:PODIUM_TOKEN"}, code: 0, stdout: "secret under 32 characters for APIshort (LiveKit's server logs an error for it)"},
		{name: "short secret with --strict fails", env: map[string]string{"LIVEKIT_API_KEY": "APIshort", "LIVEKIT_API_SECRET": "short", "PODIUM_TOKEN": credential},
			args: []string{"--strict", "--credential", "env:PODIUM_TOKEN"}, code: 1, stdout: "warn: 1 ok, 1 warn"},
		{name: "nothing to check", code: 3, stderr: "nothing to check"},
		{name: "argument", env: prodEnv, args: []string{"sometoken"}, code: 3, stderr: "unexpected argument"},
		{name: "bad credential spec", args: []string{"--credential", "run/secrets/x"}, code: 3, stderr: "file:PATH, env:NAME, exec:COMMAND or vault:MOUNT/PATH#FIELD"},
		{name: "a bare path is a file, as for proxy", args: []string{"--credential", "/run/secrets/x"}, code: 1, stdout: "credential file:/run/secrets/x"},
		{name: "PODIUM_TOKEN_FILE is the default", env: map[string]string{"PODIUM_TOKEN_FILE": "/run/secrets/y"}, code: 1, stdout: "credential file:/run/secrets/y"},
		{name: "bad LiveKit URL", env: map[string]string{"LIVEKIT_URL": "localhost:7880"}, code: 3, stderr: "scheme must be ws, wss, http or https"},
		{name: "fix without html", args: []string{"--fix", "--token", "x"}, code: 3, stderr: "--fix needs --html"},
		{name: "ttl without fix", args: []string{"--ttl", "1h", "--token", "x"}, code: 3, stderr: "--ttl is for --fix"},
		{name: "zero timeout", args: []string{"--timeout", "0s", "--token", "x"}, code: 3, stderr: "--timeout"},
		{name: "every flag problem at once", args: []string{"--timeout", "0s", "--warn", "-1s", "--ttl", "1h", "--force", "--token", "x"}, code: 3,
			stderr: "voicetoken check: --warn must not be negative\n--timeout must be positive\n--ttl is for --fix\n--force is for --fix\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.env, tc.stdin, append([]string{"check"}, tc.args...)...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stdout %q\nstderr %q\nwant %q / %q", r.stdout, r.stderr, tc.stdout, tc.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, "eyJ") {
				t.Errorf("output shows a token:\n%s%s", r.stdout, r.stderr)
			}
		})
	}
}

// The seed's cron line, on a copy of a page whose token has expired.
func TestCheckFix(t *testing.T) {
	dir := t.TempDir()
	html := filepath.Join(dir, "voice-agent-selector.html")
	old := mintAt(t, testNow.Add(-48*time.Hour), 24*time.Hour)
	orig := "<!DOCTYPE html>\r\n<script>\r\n  const TOKEN = '" + old + "';\r\n  // é ✓\r\n</script>"
	os.WriteFile(html, []byte(orig), 0o640)

	r := runCLI(t, prodEnv, "", "check", "--html", html, "--fix")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"re-minted 1 of 1 token(s): new expiry 2026-11-24 12:00:00 UTC (in 24h); backup " + html + ".bak",
		"VALID: user1 in test-room, expires in 24h",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	got, _ := os.ReadFile(html)
	ms, err := page.Find(got)
	if err != nil {
		t.Fatal(err)
	}
	if string(got[:ms[0].Start])+old+string(got[ms[0].End:]) != orig {
		t.Errorf("bytes outside the token changed: %q", got)
	}
	if _, err := token.Verify(ms[0].Token, mustKey(t, "APIprod"), testNow); err != nil {
		t.Errorf("new token: %v", err)
	}
	if bak, _ := os.ReadFile(html + ".bak"); string(bak) != orig {
		t.Error("no backup of the old page")
	}

	// Without --fix the same expired page fails the check.
	os.WriteFile(html, []byte(orig), 0o640)
	if r := runCLI(t, prodEnv, "", "check", "--html", html); r.code != 1 || !strings.Contains(r.stdout, "EXPIRED") {
		t.Errorf("exit %d, stdout %s", r.code, r.stdout)
	}
	// A token signed with a secret we do not hold is not re-minted.
	os.WriteFile(html, []byte(orig), 0o640)
	other := map[string]string{"LIVEKIT_API_KEY": "APIprod", "LIVEKIT_API_SECRET": "another-secret-0123456789abcdef"}
	r = runCLI(t, other, "", "check", "--html", html, "--fix")
	if r.code != 1 || !strings.Contains(r.stdout, "cannot fix") {
		t.Errorf("exit %d, stdout %s", r.code, r.stdout)
	}
	if now, _ := os.ReadFile(html); string(now) != orig {
		t.Error("page changed although the fix was refused")
	}
}

func TestCheckWatch(t *testing.T) {
	f := startCheckFakes(t, mustKey(t, "APIprod"))
	environ := map[string]string{"LIVEKIT_API_KEY": "APIprod", "LIVEKIT_API_SECRET": testSecret, "LIVEKIT_URL": f.livekit.URL}
	// Written by the command and read by the test meanwhile; scanned for
	// the secret when the test ends.
	stdout, stderr := logscan.New(t), logscan.New(t)
	stdout.Secret(testSecret)
	stderr.Secret(testSecret)
	_, _, _, cred := checkFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"check", "--watch", "1h", "--metrics-addr", "127.0.0.1:0", "--token", mintAt(t, testNow, time.Hour),
			"--credential", "file:" + cred, "--serve-url", "http://127.0.0.1:1"}, &env{
			stdin: strings.NewReader(""), stdout: stdout, stderr: stderr,
			getenv: func(k string) string { return environ[k] }, now: func() time.Time { return testNow },
		})
	}()
	urlRE := regexp.MustCompile(`"url":"(http://127\.0\.0\.1:\d+/metrics)"`)
	testkit.Eventually(t, 30*time.Second, "the metrics URL on stderr", func() bool { return urlRE.MatchString(stderr.String()) })
	metricsURL := urlRE.FindStringSubmatch(stderr.String())[1]
	var body string
	testkit.Eventually(t, 30*time.Second, "the first round's metrics", func() bool {
		resp, err := http.Get(metricsURL)
		if err != nil {
			return false
		}
		body = string(stderr.Response(resp))
		return strings.Contains(body, "voicetoken_check_rounds_total 1")
	})
	for _, want := range []string{
		`voicetoken_check_status{check="livekit"} 1`,
		`voicetoken_check_status{check="livekit api"} 1`,
		`voicetoken_check_status{check="token"} 0.5`, // expires in 1h, --warn 2h
		`voicetoken_check_duration_seconds{check="keys"} 0`,
		// Seconds left on every token watched, and the window to compare.
		`voicetoken_check_token_expiry_seconds{check="token"} 3600`,
		`voicetoken_check_token_expiry_seconds{check="credential file:` + cred + `"} 18000`,
		`voicetoken_check_warn_seconds 7200`,
		// A skipped check keeps its series, with its own value.
		`voicetoken_check_status{check="serve health"} 0`,
		`voicetoken_check_status{check="serve ready"} -1`,
		"process_start_time_seconds ",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s:\n%s", want, body)
		}
	}
	// SIGHUP (systemctl reload) runs a round now: the interval is 1h.
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	testkit.Eventually(t, 30*time.Second, "the round SIGHUP asked for", func() bool {
		resp, err := http.Get(metricsURL)
		if err != nil {
			return false
		}
		return strings.Contains(string(stderr.Response(resp)), "voicetoken_check_rounds_total 2")
	})
	if !strings.Contains(stdout.String(), "== 2026-11-23 12:00:00 UTC") || !strings.Contains(stderr.String(), `"event":"check_round"`) {
		t.Errorf("stdout %q\nstderr %q", stdout.String(), stderr.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after cancel: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("check --watch did not stop on cancel")
	}
	if _, err := http.Get(metricsURL); err == nil {
		t.Error("metrics still served after the watch ended")
	}
	if strings.Contains(stdout.String()+stderr.String(), testSecret) || strings.Contains(stdout.String()+stderr.String(), "eyJ") {
		t.Error("output shows a secret or token")
	}
}
