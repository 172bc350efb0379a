package server_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"voicetoken/internal/logscan"
	"voicetoken/internal/server"
)

// TestAdversarialRateLimitEvasion: a client cannot step around its
// bucket by spreading requests over the addresses of its IPv6 network,
// nor guess API keys online: wrong keys spend from the address's bucket
// and are counted. The default policy's rates (burst 50 per address).
func TestAdversarialRateLimitEvasion(t *testing.T) {
	type req struct {
		remote string
		xff    string
		bearer string
	}
	tests := []struct {
		name   string
		policy string // appended to the base policy
		reqs   func() []req
		// want: at most maxServed answers other than 429 among the
		// requests, and the last request's status.
		maxServed  int
		wantLast   int
		wantFailed int // voicetoken_api_key_failures_total at the end
	}{
		{name: "200 addresses of one IPv6 /64", maxServed: 50, wantLast: 429, reqs: func() []req {
			var rs []req
			for i := range 200 {
				rs = append(rs, req{remote: fmt.Sprintf("[2001:db8:1:2::%x]:40000", i+1)})
			}
			return rs
		}},
		{name: "200 addresses of one /64, random interface ids", maxServed: 50, wantLast: 429, reqs: func() []req {
			var rs []req
			for i := range 200 {
				rs = append(rs, req{remote: fmt.Sprintf("[2001:db8:1:2:%x:%x:%x:%x]:1", i*7919%65536, i*104729%65536, i+1, i*31)})
			}
			return rs
		}},
		{name: "another /64 has its own bucket", maxServed: 51, wantLast: 200, reqs: func() []req {
			var rs []req
			for i := range 60 {
				rs = append(rs, req{remote: fmt.Sprintf("[2001:db8:1:2::%x]:1", i+1)})
			}
			return append(rs, req{remote: "[2001:db8:1:3::1]:1"})
		}},
		{name: "ipv6_prefix 48: 60 /64s of one /48", policy: "rate_limit: {ipv6_prefix: 48}\n", maxServed: 50, wantLast: 429, reqs: func() []req {
			var rs []req
			for i := range 60 {
				rs = append(rs, req{remote: fmt.Sprintf("[2001:db8:1:%x::1]:1", i)})
			}
			return rs
		}},
		{name: "IPv4-mapped IPv6 is the IPv4 address", maxServed: 50, wantLast: 429, reqs: func() []req {
			var rs []req
			for i := range 60 {
				rs = append(rs, req{remote: "[::ffff:198.51.100.7]:1"}, req{remote: "198.51.100.7:" + strconv.Itoa(1000+i)})
			}
			return rs
		}},
		{name: "IPv4 clients by address", maxServed: 200, wantLast: 200, reqs: func() []req {
			var rs []req
			for i := range 200 {
				rs = append(rs, req{remote: fmt.Sprintf("198.51.100.%d:1", i+1)})
			}
			return rs
		}},
		{name: "behind a trusted proxy: X-Forwarded-For by /64", policy: "trusted_proxies: [10.0.0.1]\n", maxServed: 50, wantLast: 429, reqs: func() []req {
			var rs []req
			for i := range 100 {
				rs = append(rs, req{remote: "10.0.0.1:1", xff: fmt.Sprintf("2001:db8:9:9::%x", i+1)})
			}
			return rs
		}},
		{name: "300 wrong API keys from one address", maxServed: 50, wantLast: 429, wantFailed: 300, reqs: func() []req {
			var rs []req
			for i := range 300 {
				rs = append(rs, req{remote: "203.0.113.5:1", bearer: fmt.Sprintf("guess-%04d", i)})
			}
			return rs
		}},
		{name: "wrong keys spend the browser bucket of the address", maxServed: 50, wantLast: 429, wantFailed: 50, reqs: func() []req {
			var rs []req
			for i := range 50 {
				rs = append(rs, req{remote: "203.0.113.6:1", bearer: fmt.Sprintf("guess-%04d", i)})
			}
			return append(rs, req{remote: "203.0.113.6:1"})
		}},
		{name: "wrong keys are limited with per_address off", policy: "rate_limit: {per_address: {rate: 0}}\n", maxServed: 50, wantLast: 429, wantFailed: 100, reqs: func() []req {
			var rs []req
			for i := range 100 {
				rs = append(rs, req{remote: "203.0.113.7:1", bearer: fmt.Sprintf("guess-%04d", i)})
			}
			return rs
		}},
		{name: "wrong keys over IPv6 share the /64", maxServed: 50, wantLast: 429, wantFailed: 300, reqs: func() []req {
			var rs []req
			for i := range 300 {
				rs = append(rs, req{remote: fmt.Sprintf("[2001:db8:5:5::%x]:1", i+1), bearer: fmt.Sprintf("guess-%04d", i)})
			}
			return rs
		}},
	}
	failuresRE := regexp.MustCompile(`(?m)^voicetoken_api_key_failures_total (\d+)$`)
	held, failed, sent := 0, 0, 0
	for _, tc := range tests {
		ok := t.Run(tc.name, func(t *testing.T) {
			l := logscan.New(t)
			now := time.Now()
			srv, err := server.New(server.Config{Keys: devKeys(t), Policy: mustPolicy(t, "allow_rooms: ['*']\n"+tc.policy)},
				server.WithClock(func() time.Time { return now }), server.WithLogger(l.Logger()))
			if err != nil {
				t.Fatal(err)
			}
			h := l.Handler(srv.Handler())
			served, last := 0, 0
			for _, rq := range tc.reqs() {
				sent++
				r := httptest.NewRequest("GET", "/api/token?room=test-room", nil)
				r.Host, r.RemoteAddr = "127.0.0.1:9000", rq.remote
				if rq.xff != "" {
					r.Header.Set("X-Forwarded-For", rq.xff)
				}
				if rq.bearer != "" {
					r.Header.Set("Authorization", "Bearer "+rq.bearer)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code >= 500 {
					t.Fatalf("status %d", w.Code)
				}
				if w.Code == 200 {
					l.Issued(tokenOf(t, w.Body.Bytes()))
				}
				if w.Code != 429 {
					served++
				}
				last = w.Code
			}
			if served > tc.maxServed {
				t.Errorf("%d answered without 429, want at most %d", served, tc.maxServed)
			}
			if last != tc.wantLast {
				t.Errorf("last status %d, want %d", last, tc.wantLast)
			}
			w := httptest.NewRecorder()
			mr := httptest.NewRequest("GET", "/metrics", nil)
			mr.Host = "127.0.0.1:9000"
			srv.Handler().ServeHTTP(w, mr)
			m := failuresRE.FindStringSubmatch(w.Body.String())
			if m == nil || m[1] != strconv.Itoa(tc.wantFailed) {
				t.Errorf("voicetoken_api_key_failures_total %v, want %d", m, tc.wantFailed)
			}
		})
		if ok {
			held++
		} else {
			failed++
		}
	}
	t.Logf("ADVERSARIAL scenario=rate-limit-evasion tried=ipv6-address-rotation-within-a-prefix-and-online-key-guessing times=%d held=%d failed=%d detail=%q",
		len(tests), held, failed, fmt.Sprintf("%d requests", sent))
}

// tokenOf is the token of a GET answer, for the secret scan.
func tokenOf(t *testing.T, body []byte) string {
	t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Token == "" {
		t.Fatalf("answer without a token (%v)", err)
	}
	return out.Token
}
