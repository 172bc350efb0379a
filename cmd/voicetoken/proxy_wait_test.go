package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"voicetoken/internal/logscan"
	"voicetoken/internal/testkit"
	"voicetoken/internal/token"
)

// startProxy runs `voicetoken proxy` with args and the environment
// getenv until the test ends, and returns its PROXY_LISTENING event.
func startProxy(t *testing.T, stderr *logscan.Logs, getenv func(string) string, args ...string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- run(ctx, append([]string{"proxy"}, args...), &env{
			stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderr,
			getenv: getenv, now: time.Now,
		})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("proxy exited %d: %s", code, stderr.String())
		}
	})
	testkit.Eventually(t, 5*time.Second, "PROXY_LISTENING", func() bool { return len(stderr.Events("PROXY_LISTENING")) == 1 })
	return stderr.Events("PROXY_LISTENING")[0]
}

// noEnv is an empty environment.
func noEnv(string) string { return "" }

// proxyUnderTest runs `voicetoken proxy` with args until the test ends
// and returns its listen and metrics base URLs.
func proxyUnderTest(t *testing.T, stderr *logscan.Logs, args ...string) (base, admin string) {
	t.Helper()
	ev := startProxy(t, stderr, noEnv, append([]string{"--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"}, args...)...)
	return "http://" + ev["addr"].(string), "http://" + ev["metrics"].(string)
}

// fakePlatform accepts the tokens in valid and answers 401 to others.
type fakePlatform struct {
	mu    sync.Mutex
	valid map[string]bool
}

func (f *fakePlatform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	ok := f.valid[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	f.mu.Unlock()
	if !ok {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	io.WriteString(w, "ok "+r.URL.Path)
}

func writeTokenFile(t *testing.T, path, tok string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestProxyStartsWithoutToken: an expired (or missing) token does not
// stop the proxy: it listens, answers 503 with the reason, is not ready,
// and takes the new token within 200 ms of its file appearing.
func TestProxyStartsWithoutToken(t *testing.T) {
	now := time.Now()
	expired := upstreamToken(t, now.Sub(testNow)-2*time.Hour, "expired")
	good := upstreamToken(t, now.Sub(testNow)+time.Hour, "good")
	stderr := logscan.New(t)
	stderr.Secret(expired, good)
	up := httptest.NewServer(stderr.Handler(&fakePlatform{valid: map[string]bool{good: true}}))
	t.Cleanup(up.Close)
	p := filepath.Join(t.TempDir(), "podium_token")
	writeTokenFile(t, p, expired)

	base, admin := proxyUnderTest(t, stderr, "--upstream", up.URL, "--credential", "file:"+p)
	if ev := stderr.Events("CREDENTIAL_MISSING"); len(ev) != 1 || !strings.Contains(ev[0]["reason"].(string), "expired 2h") {
		t.Fatalf("CREDENTIAL_MISSING events %v, want one saying it expired 2h ago", ev)
	}
	if strings.Contains(stderr.String(), "keeping the previous one") {
		t.Error(`the log says "keeping the previous one" when there is none`)
	}
	get := func(u string) (int, string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(stderr.Response(resp))
	}
	code, body := get(base + "/v1/me")
	var answer struct{ Error, Reason string }
	if err := json.Unmarshal([]byte(body), &answer); err != nil || code != 503 || answer.Error != "no_token" ||
		!strings.HasPrefix(answer.Reason, "no valid upstream token: ") || !strings.Contains(answer.Reason, "expired 2h") {
		t.Fatalf("without a token: %d %s; want 503 no_token saying it expired 2h ago", code, body)
	}
	if code, _ := get(admin + "/readyz"); code != 503 {
		t.Errorf("/readyz %d without a token, want 503", code)
	}
	if _, m := get(admin + "/metrics"); !strings.Contains(m, "voicetoken_proxy_no_token_total 1") {
		t.Errorf("metrics lack voicetoken_proxy_no_token_total 1")
	}

	writeTokenFile(t, p, good)
	written := time.Now()
	testkit.Eventually(t, 5*time.Second, "the proxy to take the new token", func() bool {
		code, _ := get(admin + "/readyz")
		return code == 200
	})
	took := time.Since(written)
	t.Logf("ready %s after the token file appeared", took)
	if took > 200*time.Millisecond {
		t.Errorf("ready %s after the token file appeared, want within 200ms", took)
	}
	if code, body := get(base + "/v1/me"); code != 200 || body != "ok /v1/me" {
		t.Errorf("with the token: %d %q", code, body)
	}
}

// TestProxyProbeAndOnChange: with --probe a new token the platform
// refuses is rejected (the old one stays, CREDENTIAL_REJECTED says why)
// and --on-change runs only for accepted ones, with the fingerprints.
func TestProxyProbeAndOnChange(t *testing.T) {
	now := time.Now()
	at := func(d time.Duration, jti string) string { return upstreamToken(t, now.Sub(testNow)+d, jti) }
	a, revoked, b := at(time.Hour, "a"), at(2*time.Hour, "revoked"), at(3*time.Hour, "b")
	stderr := logscan.New(t)
	stderr.Secret(a, revoked, b)
	up := httptest.NewServer(stderr.Handler(&fakePlatform{valid: map[string]bool{a: true, b: true}}))
	t.Cleanup(up.Close)
	dir := t.TempDir()
	p, hookOut := filepath.Join(dir, "podium_token"), filepath.Join(dir, "hook.out")
	writeTokenFile(t, p, a)
	hook := `sh -c 'echo "$VOICETOKEN_OLD_FINGERPRINT $VOICETOKEN_NEW_FINGERPRINT $VOICETOKEN_TOKEN_FILE" >> ` + hookOut + `'`
	proxyUnderTest(t, stderr, "--upstream", up.URL, "--credential", "file:"+p, "--probe", up.URL+"/v1/me", "--on-change", hook)

	writeTokenFile(t, p, revoked)
	testkit.Eventually(t, 5*time.Second, "the probe to refuse the revoked token", func() bool {
		for _, ev := range stderr.Events("CREDENTIAL_REJECTED") {
			if r, _ := ev["reason"].(string); strings.Contains(r, "answered 401") && ev["kept_fingerprint"] == token.Fingerprint(a) {
				return true
			}
		}
		return false
	})
	writeTokenFile(t, p, b)
	testkit.Eventually(t, 5*time.Second, "--on-change to run", func() bool { return len(stderr.Events("ON_CHANGE_RAN")) == 1 })
	got, _ := os.ReadFile(hookOut)
	stderr.Text("hook output", string(got))
	if want := token.Fingerprint(a) + " " + token.Fingerprint(b) + " " + p + "\n"; string(got) != want {
		t.Errorf("--on-change saw %q, want %q (once: not for the refused token)", got, want)
	}
}
