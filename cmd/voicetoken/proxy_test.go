package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"voicetoken/internal/logscan"
	"voicetoken/internal/testkit"
	"voicetoken/internal/vault/vaulttest"
)

func TestProxyCommand(t *testing.T) {
	now := time.Now()
	at := func(d time.Duration, jti string) string {
		// upstreamToken is relative to testNow; the proxy runs on the real clock.
		return upstreamToken(t, now.Sub(testNow)+d, jti)
	}
	oldTok, newTok, revoked := at(time.Hour, "old"), at(2*time.Hour, "new"), at(3*time.Hour, "revoked")
	var mu sync.Mutex
	valid := map[string]bool{oldTok: true, newTok: true}
	var seen []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		mu.Lock()
		seen = append(seen, tok)
		ok := valid[tok]
		mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "ok "+r.URL.Path)
	}))
	defer up.Close()
	lastSeen := func() string { mu.Lock(); defer mu.Unlock(); return seen[len(seen)-1] }

	dir := t.TempDir()
	p := filepath.Join(dir, "podium_token")
	os.WriteFile(p, []byte(oldTok+"\n"), 0o600)
	// stderr is shared with the proxy's goroutines and scanned for the
	// tokens when the test ends (logscan).
	stderr := logscan.New(t)
	stderr.Secret(oldTok, newTok, revoked)
	ev := startProxy(t, stderr, noEnv, "--upstream", up.URL, "--credential", "file:"+p, "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0")
	base, metricsURL := "http://"+ev["addr"].(string), "http://"+ev["metrics"].(string)+"/metrics"

	get := func(u string) (int, string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(stderr.Response(resp))
	}
	if code, body := get(base + "/v1/rooms"); code != 200 || body != "ok /v1/rooms" || lastSeen() != oldTok {
		t.Fatalf("first request: %d %q", code, body)
	}

	// Rotate with the rotate command: the proxy follows without restart.
	r := runCLI(t, nil, newTok, "rotate", "--to", "file:"+p)
	if r.code != 0 {
		t.Fatalf("rotate: %d %s", r.code, r.stderr)
	}
	testkit.Eventually(t, 5*time.Second, "the new token upstream", func() bool { get(base + "/x"); return lastSeen() == newTok })

	// SIGHUP forces a reload (the file is unchanged, so it says so).
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	testkit.Eventually(t, 5*time.Second, "the SIGHUP reload", func() bool { return len(stderr.Events("CREDENTIAL_UNCHANGED")) == 1 })

	// A revoked token: the agent sees the 401, operators see AUTH_FAILURE.
	mu.Lock()
	delete(valid, newTok)
	mu.Unlock()
	if code, _ := get(base + "/v1/outposts"); code != 401 {
		t.Fatalf("status %d, want 401", code)
	}
	testkit.Eventually(t, 5*time.Second, "AUTH_FAILURE", func() bool { return len(stderr.Events("AUTH_FAILURE")) == 1 })
	af := stderr.Events("AUTH_FAILURE")[0]
	if af["status"] != float64(401) || af["source"] != "rest" || af["path"] != "/v1/outposts" {
		t.Errorf("AUTH_FAILURE %v", af)
	}
	_, m := get(metricsURL)
	for _, want := range []string{`voicetoken_auth_failures_total{current="true",source="rest",status="401"} 1`, "voicetoken_credential_expiry_seconds ", "process_start_time_seconds ", "go_goroutines "} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestProxyCommandUsage(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tok")
	os.WriteFile(p, []byte(upstreamToken(t, time.Hour, "x")), 0o600)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{name: "no upstream", args: []string{"--credential", "file:" + p}, code: 3, stderr: "--upstream"},
		{name: "bad upstream scheme", args: []string{"--upstream", "ftp://x", "--credential", "file:" + p}, code: 3, stderr: "scheme"},
		{name: "no credential", args: []string{"--upstream", "https://podium.example"}, code: 3, stderr: "--credential"},
		{name: "bad credential spec", args: []string{"--upstream", "https://podium.example", "--credential", "aws:x"}, code: 3, stderr: "unknown kind"},
		{name: "bad vault reference", args: []string{"--upstream", "https://podium.example", "--credential", "vault:x"}, code: 3, stderr: "want MOUNT/PATH[#FIELD]"},
		{name: "non-loopback listen", args: []string{"--upstream", "https://podium.example", "--credential", "file:" + p, "--listen", "0.0.0.0:8787"}, code: 3, stderr: "loopback"},
		{name: "socket group on TCP", args: []string{"--upstream", "https://podium.example", "--credential", "file:" + p, "--socket-group", "0"}, code: 3, stderr: "unix:"},
		{name: "allow-origin with a path", args: []string{"--upstream", "https://podium.example", "--credential", "file:" + p, "--allow-origin", "https://app.example/x"}, code: 3, stderr: "--allow-origin"},
		{name: "allow-origin without scheme", args: []string{"--upstream", "https://podium.example", "--credential", "file:" + p, "--allow-origin", "app.example"}, code: 3, stderr: "--allow-origin"},
		{name: "auth-failure-status 200", args: []string{"--upstream", "https://podium.example", "--credential", "file:" + p, "--auth-failure-status", "200"}, code: 3, stderr: "4xx"},
		{name: "socket in a world-writable directory", args: []string{"--upstream", "https://podium.example", "--credential", "file:" + p, "--listen", "unix:" + filepath.Join(os.TempDir(), "vt-proxy-test.sock")}, code: 1, stderr: "writable by others"},
		{name: "relative socket path", args: []string{"--upstream", "https://podium.example", "--credential", "file:" + p, "--listen", "unix:proxy.sock"}, code: 1, stderr: "absolute path"},
		{name: "bad close code", args: []string{"--upstream", "https://podium.example", "--credential", "file:" + p, "--auth-close-codes", "12"}, code: 3, stderr: "close code"},
		{name: "missing file with --require-token", args: []string{"--upstream", "https://podium.example", "--credential", "file:" + filepath.Join(dir, "nope"), "--require-token"}, code: 1, stderr: "no such file"},
		{name: "bad --probe", args: []string{"--upstream", "https://podium.example", "--credential", "file:" + p, "--probe", "ftp://x"}, code: 3, stderr: "--probe"},
		{name: "bad --on-change", args: []string{"--upstream", "https://podium.example", "--credential", "file:" + p, "--on-change", "'unterminated"}, code: 3, stderr: "--on-change"},
		{name: "every problem at once", args: []string{"--credential", "file:" + p, "--auth-close-codes", "12", "--listen", "0.0.0.0:8787"}, code: 3, stderr: "--upstream is required\n--auth-close-codes: \"12\" is not a close code (1000-4999)\n--listen:"},
		{name: "every guard problem at once", args: []string{"--upstream", "https://podium.example", "--credential", "file:" + p, "--listen", "0.0.0.0:8787", "--socket-group", "0", "--allow-origin", "app.example", "--auth-failure-status", "200"},
			code: 3, stderr: "loopback address: anyone who can reach the proxy acts as the agent (use 127.0.0.1)\n--socket-group: only with --listen unix:/path\n--allow-origin: \"app.example\": want an origin such as https://app.example (scheme and host, no path)\n--auth-failure-status: \"200\" is not a 4xx status\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, "", append([]string{"proxy"}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tt.code, tt.stderr)
			}
		})
	}
}

// TestProxyVaultCredential: the proxy reads its token from Vault's KV v2
// engine, and after `rotate --to vault:...` a SIGHUP (or the next
// --refresh) brings the new version in without a restart.
func TestProxyVaultCredential(t *testing.T) {
	now := time.Now()
	oldTok, newTok := upstreamToken(t, now.Sub(testNow)+time.Hour, "old"), upstreamToken(t, now.Sub(testNow)+2*time.Hour, "new")
	var mu sync.Mutex
	var last string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		last = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	lastSeen := func() string { mu.Lock(); defer mu.Unlock(); return last }
	kv := vaulttest.New(t)
	kv.AddToken("hvs.proxy-and-rotate", true)
	kv.SetTokenTTL("hvs.proxy-and-rotate", 3*time.Second, 0, true) // the proxy renews it
	kv.Put(t, "podium", map[string]any{"token": oldTok})
	environ := map[string]string{"VAULT_ADDR": kv.URL, "VAULT_TOKEN": "hvs.proxy-and-rotate"}

	stderr := logscan.New(t)
	stderr.Secret(oldTok, newTok, "hvs.proxy-and-rotate")
	ev := startProxy(t, stderr, func(k string) string { return environ[k] }, "--upstream", up.URL, "--credential", "vault:secret/podium#token", "--listen", "127.0.0.1:0")
	base := "http://" + ev["addr"].(string)
	get := func() {
		resp, err := http.Get(base + "/v1/rooms")
		if err != nil {
			t.Fatal(err)
		}
		stderr.Response(resp)
	}
	get()
	if lastSeen() != oldTok {
		t.Fatal("the first request did not carry the token from Vault")
	}
	if r := runCLI(t, environ, newTok, "rotate", "--to", "vault:secret/podium#token"); r.code != 0 {
		t.Fatalf("rotate: %d %s", r.code, r.stderr)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	testkit.Eventually(t, 5*time.Second, "the new version upstream", func() bool { get(); return lastSeen() == newTok })
	if ev := stderr.Events("CREDENTIAL_LOADED"); len(ev) != 2 || ev[1]["source"] != "vault:secret/podium#token" || ev[1]["trigger"] != "reload" {
		t.Errorf("CREDENTIAL_LOADED events %v", ev)
	}
	// Past the Vault token's first TTL, SIGHUP still reads Vault: the
	// proxy renewed it.
	testkit.Eventually(t, 5*time.Second, "two Vault token renewals", func() bool { return kv.Renewals() >= 2 })
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	testkit.Eventually(t, 5*time.Second, "the reload after the renewals", func() bool {
		return len(stderr.Events("CREDENTIAL_UNCHANGED"))+len(stderr.Events("CREDENTIAL_REJECTED")) > 0
	})
	if ev := stderr.Events("CREDENTIAL_REJECTED"); len(ev) != 0 {
		t.Errorf("the read after the token's first TTL failed: %v", ev)
	}
}

// TestProxyUnixSocket: --listen unix:PATH is the way to share the proxy
// with an agent container: the socket is 0660 in the --socket-group, any
// Host is served (no browser reaches a socket), a browser header is still
// refused, and a stale socket from a previous run is replaced.
func TestProxyUnixSocket(t *testing.T) {
	tok := upstreamToken(t, time.Since(testNow)+time.Hour, "sock")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok "+r.URL.Path)
	}))
	defer up.Close()
	dir := t.TempDir()
	os.Chmod(dir, 0o750)
	p := filepath.Join(dir, "podium_token")
	os.WriteFile(p, []byte(tok+"\n"), 0o600)
	sock := filepath.Join(dir, "proxy.sock")
	// A stale socket, as a killed proxy leaves it.
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	stderr := logscan.New(t)
	stderr.Secret(tok)
	gid := os.Getgid()
	startProxy(t, stderr, noEnv, "--upstream", up.URL, "--credential", "file:"+p, "--listen", "unix:"+sock, "--socket-group", strconv.Itoa(gid))
	fi, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want a socket with 0660", fi.Mode())
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Gid) != gid {
		t.Errorf("socket group %d, want %d", st.Gid, gid)
	}
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	for _, tc := range []struct {
		origin string
		want   int
	}{{"", 200}, {"https://evil.example", 403}} {
		req, _ := http.NewRequest("GET", "http://podium-proxy/v1/rooms", nil) // a container's name for it
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := stderr.Response(resp)
		if resp.StatusCode != tc.want {
			t.Errorf("Origin %q: %d %s, want %d", tc.origin, resp.StatusCode, body, tc.want)
		}
	}
}
