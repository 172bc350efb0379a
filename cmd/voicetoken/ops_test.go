package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/logscan"
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"proxy", "--upstream", up.URL, "--credential", "file:" + p,
			"--listen", "127.0.0.1:0", "--metrics", net.JoinHostPort(ip, "0")}, &env{
			stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderr,
			getenv: func(string) string { return "" }, now: time.Now,
		})
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("proxy exited %d: %s", code, stderr.String())
		}
	}()
	logscan.Eventually(t, 5*time.Second, "PROXY_LISTENING", func() bool { return len(stderr.Events("PROXY_LISTENING")) == 1 })
	maddr := stderr.Events("PROXY_LISTENING")[0]["metrics"].(string)
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
