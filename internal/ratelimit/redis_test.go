package ratelimit_test

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/keys"
	"voicetoken/internal/logscan"
	"voicetoken/internal/policy"
	"voicetoken/internal/ratelimit"
	"voicetoken/internal/ratelimit/redistest"
	"voicetoken/internal/server"
	"voicetoken/internal/testkit"
)

const (
	apiKey    = "example-key-do-not-use"
	apiKeySum = "239d610c3cb3891b136e406ed6352e180f4764d2aa4e6b7753b18985d93b1636"
	// The buckets: so slow to refill (one token in 1000 s) that the
	// budget over a test's window is the burst, plus one at most.
	addrBurst, keyBurst = 10, 20
	testPolicy          = `allow_rooms: ['*']
rate_limit:
  per_address: {rate: 0.001, burst: 10}
  per_key: {rate: 0.001, burst: 20}
api_keys:
  - name: agent-backend
    sha256: ` + apiKeySum + `
    rooms: ["*"]
`
)

// cluster is three servers (replicas) sharing one Redis, each with its
// own Redis limiter, as three serve processes would.
type cluster struct {
	t       *testing.T
	logs    *logscan.Logs
	servers []*server.Server
	next    int
}

func newCluster(t *testing.T, url string, timeout time.Duration, prefix string) *cluster {
	t.Helper()
	c := &cluster{t: t, logs: logscan.New(t)}
	c.logs.Secret(apiKey)
	p, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.NewSet(keys.Pair{Key: "devkey", Secret: "secret-secret-secret-secret-secret-0123"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rl, err := ratelimit.New(ratelimit.Config{URL: url, Local: server.NewMemoryLimiter(), Timeout: timeout,
			RetryEvery: 10 * time.Millisecond, Prefix: prefix, Logger: c.logs.Logger()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rl.Close() })
		srv, err := server.New(server.Config{Keys: ks, Policy: p}, server.WithLimiter(rl), server.WithLogger(c.logs.Logger()))
		if err != nil {
			t.Fatal(err)
		}
		c.servers = append(c.servers, srv)
	}
	return c
}

// get sends one token request to the next replica (round robin) and
// returns its status; an error status (5xx) fails the test.
func (c *cluster) get(remote, bearer string) int {
	c.t.Helper()
	srv := c.servers[c.next%len(c.servers)]
	c.next++
	r := httptest.NewRequest("GET", "/api/token?room=test-room&identity=u1", nil)
	r.Host, r.RemoteAddr = "127.0.0.1:9000", remote
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	w := httptest.NewRecorder()
	c.logs.Handler(srv.Handler()).ServeHTTP(w, r)
	if w.Code >= 500 {
		c.t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if w.Code == 429 {
		if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 {
			c.t.Errorf("429 with Retry-After %q, want whole seconds >= 1", w.Header().Get("Retry-After"))
		}
	}
	return w.Code
}

// metric is the value of an unlabelled or labelled sample on replica i.
func (c *cluster) metric(i int, sample string) string {
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.Host = "127.0.0.1:9000"
	w := httptest.NewRecorder()
	c.servers[i].Handler().ServeHTTP(w, r)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindStringSubmatch(w.Body.String())
	if m == nil {
		return ""
	}
	return m[1]
}

// spread sends n requests over the replicas and counts those answered
// without 429.
func (c *cluster) spread(n int, remote func(i int) string, bearer func(i int) string) (served int) {
	c.t.Helper()
	for i := range n {
		b := ""
		if bearer != nil {
			b = bearer(i)
		}
		if c.get(remote(i), b) != 429 {
			served++
		}
	}
	return served
}

func fixed(addr string) func(int) string { return func(int) string { return addr } }

// TestSharedBudgetAcrossReplicas: a client spreading its requests over
// three replicas gets its budget once, not three times, for each kind of
// bucket: an address, an IPv6 /64, an API key, and the address's bucket
// that wrong API keys spend from.
func TestSharedBudgetAcrossReplicas(t *testing.T) {
	rs := redistest.Start(t)
	tests := []struct {
		name   string
		remote func(i int) string
		bearer func(i int) string
		budget int
	}{
		{name: "one IPv4 address", remote: fixed("198.51.100.7:1"), budget: addrBurst},
		{name: "addresses of one IPv6 /64", remote: func(i int) string { return fmt.Sprintf("[2001:db8:1:2::%x]:1", i+1) }, budget: addrBurst},
		{name: "one API key from many addresses", remote: func(i int) string { return fmt.Sprintf("203.0.113.%d:1", i%250+1) },
			bearer: func(int) string { return apiKey }, budget: keyBurst},
		{name: "wrong API keys spend the address's bucket", remote: fixed("203.0.113.9:1"),
			bearer: func(i int) string { return fmt.Sprintf("guess-%04d", i) }, budget: addrBurst},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, rs.URL(), time.Second, "test:"+t.Name()+":")
			start := time.Now()
			served := c.spread(3*tc.budget+30, tc.remote, tc.bearer)
			// The fixed window: burst plus what refills meanwhile.
			bound := tc.budget + int(time.Since(start).Seconds()*0.001) + 1
			if served < tc.budget || served > bound {
				t.Errorf("served %d over three replicas, want %d..%d (three separate budgets would serve %d)", served, tc.budget, bound, 3*tc.budget)
			}
			if got := c.metric(0, `voicetoken_ratelimit_decisions_total{store="local"}`); got != "0" {
				t.Errorf("local decisions %s, want 0 while Redis is up", got)
			}
		})
	}
}

// TestRedisDownDegradesToLocal: killing Redis mid-run, every request is
// still answered (200 or 429, never 5xx) by each replica's own limits,
// each replica logs RATE_LIMIT_DEGRADED once; Redis back, each logs
// RATE_LIMIT_RECOVERED and the budget is shared again.
func TestRedisDownDegradesToLocal(t *testing.T) {
	rs := redistest.Start(t)
	c := newCluster(t, rs.URL(), time.Second, "")
	if served := c.spread(40, fixed("198.51.100.1:1"), nil); served > addrBurst+1 {
		t.Fatalf("shared: served %d, want at most %d", served, addrBurst+1)
	}

	rs.Stop()
	// Local limits: each replica's own bucket, so three budgets, never
	// none and never unlimited.
	served := c.spread(3*addrBurst+30, fixed("198.51.100.2:1"), nil)
	if served != 3*addrBurst {
		t.Errorf("degraded: served %d, want %d (each replica's own burst)", served, 3*addrBurst)
	}
	if n := len(c.logs.Events("RATE_LIMIT_DEGRADED")); n != 3 {
		t.Errorf("%d RATE_LIMIT_DEGRADED lines, want one per replica (3)", n)
	}
	for i := range c.servers {
		if got := c.metric(i, "voicetoken_ratelimit_degraded"); got != "1" {
			t.Errorf("replica %d: voicetoken_ratelimit_degraded %q, want 1", i, got)
		}
	}

	rs.Restart() // same port, empty
	testkit.Eventually(t, 20*time.Second, "every replica to log RATE_LIMIT_RECOVERED", func() bool {
		c.get("198.51.100.3:1", "")
		return len(c.logs.Events("RATE_LIMIT_RECOVERED")) == 3
	})
	if n := len(c.logs.Events("RATE_LIMIT_DEGRADED")); n != 3 {
		t.Errorf("%d RATE_LIMIT_DEGRADED lines after recovery, want still 3", n)
	}
	if served := c.spread(3*addrBurst+30, fixed("198.51.100.4:1"), nil); served > addrBurst+1 || served < addrBurst {
		t.Errorf("shared again: served %d, want %d..%d", served, addrBurst, addrBurst+1)
	}
	for i := range c.servers {
		if got := c.metric(i, "voicetoken_ratelimit_degraded"); got != "0" {
			t.Errorf("replica %d: voicetoken_ratelimit_degraded %q after recovery, want 0", i, got)
		}
	}
}

// TestSlowRedisWaitsAtMostTheTimeout: a Redis that accepts but does not
// answer (SIGSTOP) costs each request at most the timeout, not
// go-redis's seconds-long read timeout, and the local limiter decides.
func TestSlowRedisWaitsAtMostTheTimeout(t *testing.T) {
	rs := redistest.Start(t)
	const timeout = 50 * time.Millisecond
	c := newCluster(t, rs.URL(), timeout, "")
	if code := c.get("198.51.100.1:1", ""); code != 200 {
		t.Fatalf("status %d", code)
	}
	rs.Pause()
	defer rs.Resume()
	for i := range 6 {
		start := time.Now()
		code := c.get("198.51.100.1:1", "")
		// The bound is generous for a busy machine; without the timeout
		// the request would wait go-redis's 3 s read timeout.
		if el := time.Since(start); el > timeout+time.Second {
			t.Errorf("request %d waited %s with Redis stopped, want about %s", i, el, timeout)
		}
		if code != 200 {
			t.Errorf("request %d: status %d, want 200 from the local bucket", i, code)
		}
	}
	if n := len(c.logs.Events("RATE_LIMIT_DEGRADED")); n != 3 {
		t.Errorf("%d RATE_LIMIT_DEGRADED lines, want 3", n)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	local := server.NewMemoryLimiter()
	tests := []struct {
		name string
		cfg  ratelimit.Config
		want string // in the error
	}{
		{name: "no URL", cfg: ratelimit.Config{Local: local}, want: "no Redis URL"},
		{name: "not redis", cfg: ratelimit.Config{URL: "http://u:hunter2-password@h:6379", Local: local}, want: "invalid URL scheme"},
		{name: "not a URL", cfg: ratelimit.Config{URL: "redis://u:hunter2-password@h:6379/%zz", Local: local}, want: "not a URL"},
		{name: "bad db", cfg: ratelimit.Config{URL: "redis://u:hunter2-password@h:6379/x", Local: local}, want: "xxxxx"},
		{name: "no local limiter", cfg: ratelimit.Config{URL: "redis://h:6379"}, want: "no local limiter"},
		{name: "negative timeout", cfg: ratelimit.Config{URL: "redis://h:6379", Local: local, Timeout: -1}, want: "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ratelimit.New(tc.cfg)
			if !errors.Is(err, ratelimit.ErrConfig) {
				t.Fatalf("err %v, want ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %q, want it to say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("err %q shows the password", err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: "redis://127.0.0.1:6379/0", want: "redis://127.0.0.1:6379/0"},
		{in: "rediss://voicetoken:s3cret@redis.internal:6380/1", want: "rediss://voicetoken:xxxxx@redis.internal:6380/1"},
		{in: "redis://:s3cret@h:6379", want: "redis://:xxxxx@h:6379"},
		{in: "redis://h:6379/%zz", want: "(invalid URL)"},
		// Mistyped URLs, where a password is no longer where a parser
		// looks for it: nothing of them is shown.
		{in: "0pw-secret0", want: "(invalid URL)"},
		{in: "redis:s3cret@h:6379", want: "(invalid URL)"},
	}
	for _, tc := range tests {
		if got := ratelimit.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzNew: no URL makes New panic, and no error shows the password.
func FuzzNew(f *testing.F) {
	for _, s := range []string{"redis://u:pw-secret@h:1/0", "rediss://:pw-secret@h", "redis://h:1/x?pool_size=z", "unix:///tmp/r.sock", "redis://%zz:pw-secret@h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		rl, err := ratelimit.New(ratelimit.Config{URL: raw, Local: server.NewMemoryLimiter()})
		if err != nil {
			// The password, where a URL parser finds one, never reaches
			// the error (a string that is not an absolute URL is shown as
			// "(invalid URL)": TestRedact).
			if u, perr := url.Parse(raw); perr == nil && u.Scheme != "" && u.Opaque == "" {
				// (A password that also stands elsewhere in the URL, say as
				// its scheme, may be shown as that part.)
				pw, ok := u.User.Password()
				elsewhere := strings.Contains(strings.ToLower(strings.Replace(raw, ":"+pw+"@", "", 1)), strings.ToLower(pw))
				if ok && len(pw) >= 4 && !elsewhere && strings.Contains(err.Error(), pw) {
					t.Errorf("error shows the password: %v", err)
				}
			}
			return
		}
		rl.Close()
	})
}
