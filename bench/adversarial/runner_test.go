package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/token"
)

// mintFor mints a LiveKit token as the server would for generation g.
func mintFor(t *testing.T, g generation, ttl time.Duration) string {
	t.Helper()
	k, err := token.NewKey(g.keyID, string(g.secret))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := k.Mint(token.Claims{Identity: "u1", Video: &token.VideoGrant{RoomJoin: true, Room: "test-room"}}, time.Now(), ttl)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func testGens(t *testing.T, n int) []generation {
	t.Helper()
	var l []generation
	t0 := time.Now().Add(-time.Hour)
	for i := range n {
		g, err := newGeneration(i)
		if err != nil {
			t.Fatal(err)
		}
		g.written = t0.Add(time.Duration(i) * time.Second)
		l = append(l, g)
	}
	return l
}

func TestVerifyToken(t *testing.T) {
	l := testGens(t, 4)
	other := l[1]
	other.secret = []byte("not-any-generations-secret")
	tests := []struct {
		name string
		raw  func() string
		want int
	}{
		{name: "generation 0", raw: func() string { return mintFor(t, l[0], l[0].ttl) }, want: 0},
		{name: "generation 3", raw: func() string { return mintFor(t, l[3], l[3].ttl) }, want: 3},
		{name: "unknown secret (half-loaded key)", raw: func() string { return mintFor(t, other, other.ttl) }, want: verdictForeign},
		{name: "key of 2 with the ttl of 1", raw: func() string { return mintFor(t, l[2], l[1].ttl) }, want: verdictMixed},
		{name: "secret of 2 under the key id of 1", raw: func() string {
			g := l[2]
			g.keyID = l[1].keyID
			return mintFor(t, g, l[2].ttl)
		}, want: verdictMixed},
		{name: "truncated signature", raw: func() string { s := mintFor(t, l[0], l[0].ttl); return s[:len(s)-4] }, want: verdictUnparsable},
		{name: "no dots", raw: func() string { return "abc" }, want: verdictUnparsable},
		{name: "one dot", raw: func() string { return "abc.def" }, want: verdictUnparsable},
		{name: "payload not JSON", raw: func() string {
			s := mintFor(t, l[0], l[0].ttl)
			parts := strings.Split(s, ".")
			return resign(l[0], parts[0]+"."+base64.RawURLEncoding.EncodeToString([]byte("[1,2")))
		}, want: verdictUnparsable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := verifyToken([]byte(tt.raw()), l); got != tt.want {
				t.Errorf("verifyToken = %d, want %d", got, tt.want)
			}
		})
	}
}

// resign signs the signing input with g's secret.
func resign(g generation, input string) string {
	m := hmacSHA256(g.secret, input)
	return input + "." + base64.RawURLEncoding.EncodeToString(m)
}

func TestCheckerWindow(t *testing.T) {
	l := testGens(t, 5)
	var gs gens
	for _, g := range l {
		gs.add(g)
	}
	body := func(raw string) []byte { b, _ := json.Marshal(map[string]any{"token": raw, "ttl_hours": 6}); return b }
	tests := []struct {
		name   string
		g      int
		sent   time.Time
		status int
		check  func(c *checker) int64
	}{
		{name: "current generation", g: 4, sent: l[4].written.Add(time.Millisecond), status: 200, check: func(c *checker) int64 { return c.verified.Load() }},
		{name: "previous generation while reloading", g: 3, sent: l[4].written.Add(time.Millisecond), status: 200, check: func(c *checker) int64 { return c.verified.Load() }},
		{name: "two generations back is stale", g: 2, sent: l[4].written.Add(time.Millisecond), status: 200, check: func(c *checker) int64 { return c.stale.Load() }},
		{name: "non-200", g: 4, sent: l[4].written, status: 429, check: func(c *checker) int64 { return c.non200.Load() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &checker{gens: &gs, conns: make([]connCache, 1)}
			raw := mintFor(t, l[tt.g], l[tt.g].ttl)
			for range 3 { // the cached verdict counts like the first
				c.onResponse(0, tt.sent, tt.status, body(raw))
			}
			if got := tt.check(c); got != 3 {
				t.Errorf("counted %d, want 3 (verified %d stale %d foreign %d mixed %d unparsable %d non200 %d)", got,
					c.verified.Load(), c.stale.Load(), c.foreign.Load(), c.mixed.Load(), c.unparsable.Load(), c.non200.Load())
			}
		})
	}
	t.Run("no token in the body", func(t *testing.T) {
		c := &checker{gens: &gs, conns: make([]connCache, 1)}
		c.onResponse(0, time.Now(), 200, []byte(`{"error":"x"}`))
		if c.unparsable.Load() != 1 {
			t.Errorf("unparsable %d, want 1", c.unparsable.Load())
		}
	})
}

func TestRSSFigures(t *testing.T) {
	flat := []float64{5, 9, 18, 18, 18.2, 18.4, 18.1, 18.3, 18.2, 18.5, 18.4, 18.2, 18.3, 18.1, 18.2, 18.4, 18.3, 18.2, 18.4, 18.3, 18.2, 18.5, 18.6, 18.4, 18.3}
	growing := make([]float64, 30)
	for i := range growing {
		growing[i] = 18 + float64(i)*0.5
	}
	tests := []struct {
		name     string
		samples  []float64
		warmup   time.Duration
		wantFlat bool
		wantMin  float64
	}{
		{name: "flat after warm-up", samples: flat, warmup: 2 * time.Second, wantFlat: true, wantMin: 18},
		{name: "warm-up counted makes it grow", samples: flat, warmup: 0, wantFlat: false, wantMin: 5},
		{name: "steady growth", samples: growing, warmup: 5 * time.Second, wantFlat: false, wantMin: 20.5},
		{name: "fewer samples than warm-up: all judged", samples: []float64{10, 10.5}, warmup: 5 * time.Second, wantFlat: true, wantMin: 10},
		{name: "no samples", samples: nil, warmup: 5 * time.Second, wantFlat: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fig := &LoadFigures{RSSMB: tt.samples, WarmupS: tt.warmup.Seconds()}
			rssFigures(fig, time.Second)
			if fig.Flat != tt.wantFlat || fig.RSSMinMB != tt.wantMin {
				t.Errorf("flat %v min %.1f (growth %.1f%%), want %v %.1f", fig.Flat, fig.RSSMinMB, fig.GrowthPct, tt.wantFlat, tt.wantMin)
			}
		})
	}
}

func TestParseFuzzOutput(t *testing.T) {
	tests := []struct {
		name        string
		out         string
		wantExecs   int64
		wantFailing string
	}{
		{name: "pass", out: "fuzz: elapsed: 0s, gathering baseline coverage: 0/21 completed\nfuzz: elapsed: 3s, execs: 1000 (333/sec), new interesting: 2 (total: 23)\nfuzz: elapsed: 5s, execs: 55438 (8504/sec), new interesting: 18 (total: 21)\nPASS\n", wantExecs: 55438},
		{name: "no execs line", out: "PASS\nok  \tvoicetoken/x\t0.1s\n", wantExecs: -1},
		{name: "finding", out: "fuzz: elapsed: 2s, execs: 77 (38/sec), new interesting: 0 (total: 3)\n--- FAIL: FuzzX (2.01s)\n    Failing input written to testdata/fuzz/FuzzX/abc123\n    To re-run:\n", wantExecs: 77, wantFailing: "testdata/fuzz/FuzzX/abc123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			execs, failing := parseFuzzOutput([]byte(tt.out))
			if execs != tt.wantExecs || failing != tt.wantFailing {
				t.Errorf("got %d %q, want %d %q", execs, failing, tt.wantExecs, tt.wantFailing)
			}
		})
	}
}

func FuzzParseFuzzOutput(f *testing.F) {
	f.Add("fuzz: elapsed: 5s, execs: 55438 (8504/sec), new interesting: 18 (total: 21)\n")
	f.Add("Failing input written to testdata/fuzz/FuzzX/1\n")
	f.Fuzz(func(t *testing.T, out string) {
		if execs, _ := parseFuzzOutput([]byte(out)); execs < -1 {
			t.Fatalf("execs %d", execs)
		}
	})
}

func TestParseTestList(t *testing.T) {
	got := parseTestList([]byte("FuzzParse\nFuzzClaimsJSON\nok  \tvoicetoken/internal/token\t0.02s\n"))
	if strings.Join(got, ",") != "FuzzParse,FuzzClaimsJSON" {
		t.Errorf("got %v", got)
	}
}

func TestRedact(t *testing.T) {
	l := testGens(t, 1)
	raw := mintFor(t, l[0], time.Hour)
	tests := []struct {
		name    string
		in      string
		secrets []string
		gone    []string
	}{
		{name: "whole token", in: "got " + raw + " back", gone: []string{raw, raw[:20]}},
		{name: "header and payload only", in: "prefix " + raw[:strings.LastIndexByte(raw, '.')], gone: []string{raw[:20]}},
		{name: "secret", in: "secret is " + string(l[0].secret), secrets: []string{string(l[0].secret)}, gone: []string{string(l[0].secret)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := redact(tt.in, tt.secrets...)
			for _, g := range tt.gone {
				if strings.Contains(out, g) {
					t.Errorf("%q survived redaction: %q", g, out)
				}
			}
			if !strings.Contains(out, ":") {
				t.Errorf("no fingerprint in %q", out)
			}
		})
	}
}

func TestWriteTableRedacts(t *testing.T) {
	l := testGens(t, 1)
	raw := mintFor(t, l[0], time.Hour)
	rep := &Report{Mode: "short", Rows: []Row{
		{Scenario: "s", Tried: "t", Times: 1, Held: 1},
		{Scenario: "leaky", Tried: "t", Times: 1, Failed: 1, Detail: "token " + raw},
	}, Failures: 1}
	for _, asJSON := range []bool{false, true} {
		var b bytes.Buffer
		if asJSON {
			if err := writeJSON(&b, rep); err != nil {
				t.Fatal(err)
			}
		} else {
			writeTable(&b, rep)
		}
		if strings.Contains(b.String(), raw[:20]) {
			t.Errorf("json=%v: output holds the token", asJSON)
		}
		if !strings.Contains(b.String(), "jwt:"+token.Fingerprint(raw)) {
			t.Errorf("json=%v: no fingerprint in %s", asJSON, b.String())
		}
		if !asJSON && !strings.Contains(b.String(), "FAIL") {
			t.Errorf("failed row not marked: %s", b.String())
		}
	}
	if rep.Rows[1].Detail != "token "+raw {
		t.Error("writeJSON changed the report")
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    config
		wantErr bool
	}{
		{name: "long defaults", args: nil, want: config{fuzzTime: time.Minute, load: time.Minute, warmup: 5 * time.Second, conns: 32, kills: 200, scenarios: allScenarios}},
		{name: "short defaults", args: []string{"-short"}, want: config{short: true, fuzzTime: 3 * time.Second, load: 20 * time.Second, warmup: 5 * time.Second, conns: 32, kills: 50, scenarios: allScenarios}},
		{name: "explicit values win over -short", args: []string{"-short", "-fuzztime", "10s", "-kills", "7", "-scenarios", "rotate"}, want: config{short: true, fuzzTime: 10 * time.Second, load: 20 * time.Second, warmup: 5 * time.Second, conns: 32, kills: 7, scenarios: []string{"rotate"}}},
		{name: "unknown scenario", args: []string{"-scenarios", "load,nope"}, wantErr: true},
		{name: "stray argument", args: []string{"now"}, wantErr: true},
		{name: "no connections", args: []string{"-c", "0"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig(tt.args, &bytes.Buffer{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got.short != tt.want.short || got.fuzzTime != tt.want.fuzzTime || got.load != tt.want.load || got.warmup != tt.want.warmup ||
				got.conns != tt.want.conns || got.kills != tt.want.kills || strings.Join(got.scenarios, ",") != strings.Join(tt.want.scenarios, ",") {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

func TestLogWatch(t *testing.T) {
	l := testGens(t, 2)
	var gs gens
	for _, g := range l {
		gs.add(g)
	}
	raw := mintFor(t, l[1], time.Hour)
	log := strings.Join([]string{
		`{"level":"INFO","msg":"listening","event":"LISTENING","addr":"127.0.0.1:4242"}`,
		`{"level":"INFO","event":"TOKEN_ISSUED","token":"0b5d0ca5"}`,
		`{"level":"INFO","event":"RELOADED","fingerprint":"cbbafb38"}`,
		`{"level":"ERROR","event":"RELOAD_FAILED","error":"load API keys: line 1"}`,
		`{"level":"INFO","event":"TOKEN_ISSUED","token":"` + raw + `"}`,
		`{"level":"ERROR","msg":"oops ` + string(l[0].secret) + `"}`,
		`{"level":"INFO","event":"RELOADED","fingerprint":"cbbafb38"}`,
	}, "\n") + "\n"
	w := &logWatch{addr: make(chan string, 1), gens: &gs, done: make(chan struct{})}
	w.run(strings.NewReader(log))
	select {
	case a := <-w.addr:
		if a != "127.0.0.1:4242" {
			t.Errorf("addr %q", a)
		}
	default:
		t.Error("no LISTENING address")
	}
	if w.lines.Load() != 7 || w.reloaded.Load() != 2 || w.failed.Load() != 1 || w.leaks.Load() != 2 {
		t.Errorf("lines %d reloaded %d failed %d leaks %d, want 7 2 1 2", w.lines.Load(), w.reloaded.Load(), w.failed.Load(), w.leaks.Load())
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{name: "short", in: "abc", n: 10, want: "abc"},
		{name: "whitespace folded", in: "a\n\tb   c", n: 10, want: "a b c"},
		{name: "long", in: "abcdefghij", n: 5, want: "abcd…"},
		{name: "terminal escape", in: "a\x1b[2K\rVALID\a\x00", n: 40, want: "a?[2K VALID??"},
		{name: "invalid UTF-8", in: "a\xffb", n: 40, want: "a?b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clip(tt.in, tt.n); got != tt.want {
				t.Errorf("clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}
