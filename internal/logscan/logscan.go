// Package logscan is for tests: a JSON log sink that fails the test when
// any line or error carries a registered secret (the "grep every log line
// for the token" check), plus token and polling helpers that the
// credential and upstream tests share. Nothing in the binary imports it.
package logscan

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// Token returns an RS256-looking JWT (random signature: nothing here
// verifies it) with the given claims plus a random jti, so every call
// gives a distinct value.
func Token(t testing.TB, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"jti": rand.Text()}
	for k, v := range claims {
		c[k] = v
	}
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "podium-1"})
	p, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	rand.Read(sig)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(p) + "." + enc.EncodeToString(sig)
}

// TokenExp is Token with exp = now + d and iss podium.
func TokenExp(t testing.TB, now time.Time, d time.Duration) string {
	return Token(t, map[string]any{"iss": "podium", "aud": "outpost", "sub": "cohost", "exp": now.Add(d).Unix()})
}

// Logs captures JSON log lines and, at cleanup, fails the test if any
// line contains a registered secret: the "grep every log line for the
// token" check of issue 6.
type Logs struct {
	t       testing.TB
	mu      sync.Mutex
	buf     bytes.Buffer
	secrets []string
}

// New returns a Logs that scans when t ends.
func New(t testing.TB) *Logs {
	l := &Logs{t: t}
	t.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, line := range strings.Split(l.buf.String(), "\n") {
			for _, s := range l.secrets {
				if strings.Contains(line, s) {
					t.Errorf("a log line contains a secret (fingerprint shown): %.40s...", strings.ReplaceAll(line, s, "<SECRET>"))
				}
			}
		}
	})
	return l
}

// Write stores log output.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Logger returns a JSON logger writing to l.
func (l *Logs) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Secret registers token values (and their signature segments) to scan for.
func (l *Logs) Secret(vals ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range vals {
		if len(v) < 8 {
			continue // too short to be a token; would match everything
		}
		l.secrets = append(l.secrets, v)
		if i := strings.LastIndexByte(v, '.'); i > 0 && len(v)-i > 16 {
			l.secrets = append(l.secrets, v[i+1:])
		}
	}
}

// NoSecret fails when err's message contains a registered secret.
func (l *Logs) NoSecret(err error) {
	l.t.Helper()
	if err == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.secrets {
		if strings.Contains(err.Error(), s) {
			l.t.Errorf("error message contains a secret")
		}
	}
}

// Events returns the decoded lines whose event is ev.
func (l *Logs) Events(ev string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			l.t.Errorf("log line is not JSON: %v", err)
			continue
		}
		if m["event"] == ev {
			out = append(out, m)
		}
	}
	return out
}

// Eventually polls cond until it holds or the deadline passes.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
