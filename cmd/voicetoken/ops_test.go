package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/logscan"
	"voicetoken/internal/token"
)

// nonLoopbackIP returns one of this machine's non-loopback IPv4 addresses,
// or 0.0.0.0 (every address) when it has none.
func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "0.0.0.0"
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return "0.0.0.0"
}

// TestProxyMetricsBindsAnyAddress: Prometheus in Kubernetes scrapes the
// pod's IP, so --metrics must accept a non-loopback address (it serves
// no token), while --listen stays loopback only.
func TestProxyMetricsBindsAnyAddress(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	tok := upstreamToken(t, time.Since(testNow)+time.Hour, "metrics")
	p := filepath.Join(t.TempDir(), "podium_token")
	if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ip := nonLoopbackIP(t)
	stderr := logscan.New(t)
	stderr.Secret(tok)
	ev := startProxy(t, stderr, noEnv, "--upstream", up.URL, "--credential", "file:"+p, "--listen", "127.0.0.1:0", "--metrics", net.JoinHostPort(ip, "0"))
	maddr := ev["metrics"].(string)
	host, port, _ := net.SplitHostPort(maddr)
	if ip != "0.0.0.0" && host != ip {
		t.Fatalf("metrics bound %s, want %s", maddr, ip)
	}
	if host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	resp, err := http.Get("http://" + net.JoinHostPort(host, port) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := string(stderr.Response(resp))
	if resp.StatusCode != 200 || !strings.Contains(body, "voicetoken_credential_expiry_seconds ") {
		t.Fatalf("scrape of %s: %d %.200s", maddr, resp.StatusCode, body)
	}
}

// deadLiveKit returns the ws:// URL of a loopback port where nothing
// listens any more.
func deadLiveKit(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := "ws" + strings.TrimPrefix(srv.URL, "http")
	srv.Close()
	return u
}

// TestEnvFileLiveKitURL: LIVEKIT_URL in --env-file (as the livekit-agent
// .env templates hold it) is read by every command that takes both, below
// the flag and the environment; and serve's /readyz checks a LiveKit that
// is not the dev default unless told not to.
func TestEnvFileLiveKitURL(t *testing.T) {
	dead := deadLiveKit(t)
	envFile := filepath.Join(t.TempDir(), "dev.env")
	if err := os.WriteFile(envFile, []byte("LIVEKIT_URL="+dead+"\nLIVEKIT_API_KEY=APIenv\nLIVEKIT_API_SECRET="+testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("serve hands out the env file's URL and its readyz checks it", func(t *testing.T) {
		base, _, stop := startServe(t, nil, "--env-file", envFile)
		defer stop()
		var tok struct {
			ServerURL string `json:"server_url"`
		}
		if code := getJSON(t, base+"/api/token?room=test-room&identity=u1", &tok); code != 200 || tok.ServerURL != dead {
			t.Errorf("GET /api/token: %d server_url %q, want %q", code, tok.ServerURL, dead)
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("/readyz = %d with LiveKit down at %s, want 503 (check-livekit on by default)", resp.StatusCode, dead)
		}
	})
	t.Run("serve --check-livekit=false", func(t *testing.T) {
		base, _, stop := startServe(t, map[string]string{"LIVEKIT_URL": dead}, "--check-livekit=false")
		defer stop()
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("/readyz = %d, want 200 with --check-livekit=false", resp.StatusCode)
		}
	})
	tests := []struct {
		name       string
		environ    map[string]string
		args       []string
		wantCode   int
		wantStdout string
		wantNot    string
	}{
		{name: "smoke reads it", args: []string{"smoke", "--env-file", envFile, "--timeout", "2s"},
			wantCode: 1, wantStdout: strings.TrimPrefix(dead, "ws://"), wantNot: "no LiveKit URL"},
		{name: "check reads it", args: []string{"check", "--env-file", envFile},
			wantCode: 1, wantStdout: "livekit "},
		{name: "the environment wins over the file", environ: map[string]string{"LIVEKIT_URL": "http://127.0.0.1:1"}, args: []string{"check", "--env-file", envFile},
			wantCode: 1, wantStdout: "127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.environ, "", tt.args...)
			if r.code != tt.wantCode || !strings.Contains(r.stdout, tt.wantStdout) || (tt.wantNot != "" && strings.Contains(r.stdout+r.stderr, tt.wantNot)) {
				t.Errorf("exit %d, want %d; stdout lacks %q?\n%s\nstderr: %s", r.code, tt.wantCode, tt.wantStdout, r.stdout, r.stderr)
			}
		})
	}
}

// TestTTLCapSaysHowToRaiseIt: the seed's ?ttl=48 is refused (the safe cap
// stays), and the error says how to raise the cap; with --max-ttl 168h
// the same request succeeds.
func TestTTLCapSaysHowToRaiseIt(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  []string
	}{
		{name: "default cap", wantCode: 400, wantErr: []string{"48h", "24h", "--max-ttl", "max_ttl"}},
		{name: "raised with --max-ttl", args: []string{"--max-ttl", "168h"}, wantCode: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, _, stop := startServe(t, nil, tt.args...)
			defer stop()
			var body struct {
				Error string `json:"error"`
			}
			if code := getJSON(t, base+"/api/token?room=test-room&identity=u1&ttl=48", &body); code != tt.wantCode {
				t.Fatalf("status %d, want %d (%s)", code, tt.wantCode, body.Error)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(body.Error, w) {
					t.Errorf("error %q does not mention %q", body.Error, w)
				}
			}
		})
	}
}

// TestVerifyFrictions: verify takes the token API's JSON answer (either
// contract) on stdin and in --file; does not list --key (it signs
// nothing) nor print the dev key's NOT SAFE warning; and says when a
// VALID JWT carries no LiveKit grant.
func TestVerifyFrictions(t *testing.T) {
	tok := mintAt(t, testNow, time.Hour)
	k, _ := token.NewKey("APIprod", testSecret)
	noGrant, err := k.Mint(token.Claims{Subject: "someone"}, testNow, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	answerFile := filepath.Join(t.TempDir(), "answer.json")
	os.WriteFile(answerFile, []byte(`{"server_url":"ws://127.0.0.1:7880","participant_token":"`+tok+`"}`), 0o600)
	tests := []struct {
		name       string
		environ    map[string]string
		stdin      string
		args       []string
		wantCode   int
		wantStdout []string
		wantNot    []string // in stdout or stderr
	}{
		{name: "GET /api/token answer on stdin", environ: prodEnv, stdin: `{"token":"` + tok + `","ttl_hours":1,"room":"test-room","identity":"user1","server_url":"ws://127.0.0.1:7880"}` + "\n",
			args: []string{"verify", "-"}, wantStdout: []string{"VALID", "user1"}},
		{name: "TokenSource answer in --file", environ: prodEnv, args: []string{"verify", "--file", answerFile}, wantStdout: []string{"VALID", "test-room"}},
		{name: "an error answer", environ: prodEnv, stdin: `{"error":"room not allowed"}`, args: []string{"verify", "-"}, wantCode: 2},
		{name: "dev token: no NOT SAFE warning", stdin: devToken(t), args: []string{"verify", "-"},
			wantStdout: []string{"VALID", "signature  ok, key devkey"}, wantNot: []string{"NOT SAFE"}},
		{name: "no LiveKit grant", environ: prodEnv, args: []string{"verify", noGrant},
			wantStdout: []string{"VALID", "not a LiveKit participant token"}},
		{name: "participant token: no such warning", environ: prodEnv, args: []string{"verify", tok},
			wantStdout: []string{"VALID"}, wantNot: []string{"not a LiveKit participant token"}},
		{name: "-h does not list --key", args: []string{"verify", "-h"}, wantNot: []string{"\n  -key string", "which API key of several signs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.environ, tt.stdin, tt.args...)
			if tt.args[1] != "-h" && r.code != tt.wantCode {
				t.Errorf("exit %d, want %d\n%s%s", r.code, tt.wantCode, r.stdout, r.stderr)
			}
			for _, w := range tt.wantStdout {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(r.stdout+r.stderr, w) {
					t.Errorf("output has %q:\n%s%s", w, r.stdout, r.stderr)
				}
			}
		})
	}
}

// TestNoSeedInUserText: users have no "seed" document; help and the
// example policy must not refer to one.
func TestNoSeedInUserText(t *testing.T) {
	policy, err := os.ReadFile(filepath.Join("..", "..", "examples", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{"examples/policy.yaml": string(policy)}
	for _, cmd := range []string{"smoke", "verify", "check", "serve", "proxy"} {
		r := runCLI(t, nil, "", cmd, "-h")
		texts[cmd+" -h"] = r.stdout + r.stderr
	}
	for where, s := range texts {
		if strings.Contains(strings.ToLower(s), "seed") {
			t.Errorf("%s mentions a seed:\n%s", where, s)
		}
	}
}

// TestReadmeCheckExitCodes: the README's exit-code table for check says
// what check does: an invalid token exits 1 (not verify's 2).
func TestReadmeCheckExitCodes(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Exit codes of `check`")
	if !ok {
		t.Fatal("README has no exit-code table for check")
	}
	section, _, _ = strings.Cut(section, "\n\n`")
	codes := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		if f := strings.Split(line, "|"); len(f) >= 4 && strings.TrimSpace(f[1]) != "code" && !strings.HasPrefix(strings.TrimSpace(f[1]), "-") {
			codes[strings.TrimSpace(f[1])] = f[2]
		}
	}
	badSig := mintAt(t, testNow, time.Hour)
	badSig = badSig[:len(badSig)-4] + "AAAA"
	tests := []struct {
		name string
		args []string
		want string // the README's row
		in   string // a word that row must hold
	}{
		{name: "valid", args: []string{"check", "--token", mintAt(t, testNow, 24*time.Hour)}, want: "0", in: "ok"},
		{name: "invalid token", args: []string{"check", "--token", badSig}, want: "1", in: "invalid"},
		{name: "usage", args: []string{"check", "--nope"}, want: "3", in: "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, prodEnv, "", tt.args...)
			if got := strconv.Itoa(r.code); got != tt.want {
				t.Fatalf("check exits %s, the test expects %s", got, tt.want)
			}
			if !strings.Contains(codes[tt.want], tt.in) {
				t.Errorf("README's check row for %s is %q; it should say %q", tt.want, codes[tt.want], tt.in)
			}
		})
	}
	if _, ok := codes["2"]; ok {
		t.Errorf("README says check exits 2: %q", codes["2"])
	}
}
