package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"voicetoken/bench/loadgen"
)

// growthThreshold is the RSS growth, last 10 s against the first 10 s
// after warm-up, above which memory is not called flat.
const growthThreshold = 10.0 // percent

// reloadEvery is how often the key file and the policy are replaced.
const reloadEvery = time.Second

// LoadFigures are the load + reload scenario's measurements.
type LoadFigures struct {
	Seconds     float64   `json:"seconds"`
	Conns       int       `json:"connections"`
	Requests    int64     `json:"requests_200"`
	Errors      int64     `json:"errors"`
	Non200      int64     `json:"non_200"`
	ReqPerSec   float64   `json:"req_per_sec"`
	P50ms       float64   `json:"p50_ms"`
	P99ms       float64   `json:"p99_ms"`
	Verified    int64     `json:"tokens_verified"`
	Foreign     int64     `json:"tokens_no_secret_matches"`
	Stale       int64     `json:"tokens_stale_secret"`
	Mixed       int64     `json:"tokens_mixed_generation"`
	Unparsable  int64     `json:"tokens_unparsable"`
	Reloads     int       `json:"reloads_sent"`
	Reloaded    int       `json:"reloads_applied"`
	ReloadFail  int       `json:"reloads_failed"`
	GensSeen    int       `json:"generations_seen_in_tokens"`
	LogLines    int64     `json:"server_log_lines"`
	LogLeaks    int64     `json:"server_log_leaks"`
	RSSMB       []float64 `json:"rss_mb_per_second"`
	WarmupS     float64   `json:"warmup_s"`
	RSSMinMB    float64   `json:"rss_min_mb"`
	RSSMaxMB    float64   `json:"rss_max_mb"`
	RSSFirstMB  float64   `json:"rss_first10_mean_mb"`
	RSSLastMB   float64   `json:"rss_last10_mean_mb"`
	GrowthPct   float64   `json:"rss_growth_pct"`
	Flat        bool      `json:"rss_flat"`
	ThresholdPc float64   `json:"rss_flat_threshold_pct"`
	ExitErr     string    `json:"server_exit_error,omitempty"`
}

// generation is one version of the key file and the policy. Each has a
// fresh secret; the key id and the default ttl alternate, so a token
// tells which generation's key signed it and which policy set its ttl.
type generation struct {
	keyID   string
	secret  []byte
	ttl     time.Duration
	written time.Time // just before its files were renamed into place
}

func newGeneration(n int) (generation, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return generation{}, err
	}
	g := generation{keyID: "adv-a", secret: []byte(base64.RawURLEncoding.EncodeToString(b)), ttl: 6 * time.Hour}
	if n%2 == 1 {
		g.keyID, g.ttl = "adv-b", 5*time.Hour
	}
	return g, nil
}

func (g generation) keyFile() []byte {
	return []byte("# voicetoken adversarial suite: a new secret every reload\n" + g.keyID + ": " + string(g.secret) + "\n")
}

func (g generation) policyFile(n int) []byte {
	return fmt.Appendf(nil, `# voicetoken adversarial suite, generation %d
default_room: test-room
rooms:
  - name: test-room
    description: generation %d
allow_rooms: ["demo-*"]
default_ttl: %s
max_ttl: 24h
rate_limit:
  per_address: {rate: 0}
`, n, n, g.ttl)
}

// writeAtomic replaces path with data: temporary file in the same
// directory, then rename, so a reader sees the old file or the new one.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// gens is the append-only list of generations, readable without locks by
// the load's connections.
type gens struct {
	mu   sync.Mutex
	list atomic.Pointer[[]generation]
}

func (gs *gens) add(g generation) int {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	var l []generation
	if p := gs.list.Load(); p != nil {
		l = slices.Clone(*p)
	}
	l = append(l, g)
	gs.list.Store(&l)
	return len(l) - 1
}

func (gs *gens) all() []generation {
	if p := gs.list.Load(); p != nil {
		return *p
	}
	return nil
}

// at returns the newest generation written at or before t, -1 if none.
func at(l []generation, t time.Time) int {
	for i := len(l) - 1; i >= 0; i-- {
		if !l[i].written.After(t) {
			return i
		}
	}
	return -1
}

// Token verdicts from verifyToken.
const (
	verdictForeign    = -1 // no generation's secret signs it: a half-loaded or unknown key
	verdictMixed      = -2 // signed by generation g, but iss or ttl from another
	verdictUnparsable = -3
)

// verifyToken finds the generation whose secret signed raw, and checks
// that the token's key id (iss) and ttl (exp - iat) are that generation's
// too. It returns the generation's index or a verdict below zero.
func verifyToken(raw []byte, l []generation) int {
	dot := bytes.LastIndexByte(raw, '.')
	first := bytes.IndexByte(raw, '.')
	if dot < 0 || first == dot {
		return verdictUnparsable
	}
	sig := make([]byte, base64.RawURLEncoding.DecodedLen(len(raw)-dot-1))
	n, err := base64.RawURLEncoding.Decode(sig, raw[dot+1:])
	if err != nil || n != sha256.Size {
		return verdictUnparsable
	}
	g := -1
	for i := len(l) - 1; i >= 0; i-- {
		m := hmac.New(sha256.New, l[i].secret)
		m.Write(raw[:dot])
		if hmac.Equal(m.Sum(nil), sig[:n]) {
			g = i
			break
		}
	}
	if g < 0 {
		return verdictForeign
	}
	payload, err := base64.RawURLEncoding.DecodeString(string(raw[first+1 : dot]))
	if err != nil {
		return verdictUnparsable
	}
	var c struct {
		Iss string `json:"iss"`
		Exp int64  `json:"exp"`
		Iat int64  `json:"iat"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return verdictUnparsable
	}
	if c.Iss != l[g].keyID || time.Duration(c.Exp-c.Iat)*time.Second != l[g].ttl {
		return verdictMixed
	}
	return g
}

// tokenOf extracts the "token" string of the server's JSON answer.
func tokenOf(body []byte) []byte {
	const key = `"token":"`
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return nil
	}
	rest := body[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return nil
	}
	return rest[:j]
}

// checker verifies every answer of the load. Each connection caches its
// last token's verdict: tokens change once a second (iat), so HMACs run
// once per connection per second, not per request.
type checker struct {
	gens                                                *gens
	conns                                               []connCache
	non200, verified, foreign, stale, mixed, unparsable atomic.Int64
	seen                                                sync.Map // generation index -> true, for GensSeen
}

type connCache struct {
	tok     string
	verdict int
	_       [40]byte // keep connections' caches on separate cache lines
}

func (c *checker) onResponse(conn int, sent time.Time, status int, body []byte) {
	if status != 200 {
		c.non200.Add(1)
		return
	}
	raw := tokenOf(body)
	if raw == nil {
		c.unparsable.Add(1)
		return
	}
	l := c.gens.all()
	cc := &c.conns[conn]
	if string(raw) != cc.tok {
		cc.tok, cc.verdict = string(raw), verifyToken(raw, l)
		if cc.verdict >= 0 {
			c.seen.Store(cc.verdict, true)
		}
	}
	switch v := cc.verdict; {
	case v == verdictForeign:
		c.foreign.Add(1)
	case v == verdictMixed:
		c.mixed.Add(1)
	case v == verdictUnparsable:
		c.unparsable.Add(1)
	default:
		// The server may still be on the previous generation for the
		// moment between our rename and its reload; never an older one,
		// never one written after the answer came back.
		lo, hi := at(l, sent)-1, at(l, time.Now())
		if v < lo || v > hi {
			c.stale.Add(1)
		} else {
			c.verified.Add(1)
		}
	}
}

// logWatch reads the server's log: it finds the listening address,
// counts reloads, and scans every line for any JWT and for the current
// secrets.
type logWatch struct {
	addr                           chan string
	reloaded, failed, lines, leaks atomic.Int64
	gens                           *gens
	done                           chan struct{}
}

func (w *logWatch) run(r io.Reader) {
	defer close(w.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	sent := false
	for sc.Scan() {
		b := sc.Bytes()
		w.lines.Add(1)
		if !sent && bytes.Contains(b, []byte(`"event":"LISTENING"`)) {
			var ev struct{ Addr string }
			if json.Unmarshal(b, &ev) == nil && ev.Addr != "" {
				w.addr <- ev.Addr
				sent = true
			}
		}
		if bytes.Contains(b, []byte(`"event":"RELOADED"`)) {
			w.reloaded.Add(1)
		}
		if bytes.Contains(b, []byte(`"event":"RELOAD_FAILED"`)) {
			w.failed.Add(1)
		}
		leak := jwtLike.Match(b)
		l := w.gens.all()
		for i := max(0, len(l)-3); i < len(l) && !leak; i++ {
			leak = bytes.Contains(b, l[i].secret)
		}
		if leak {
			w.leaks.Add(1)
		}
	}
	io.Copy(io.Discard, r)
}

// runLoad is the load + reload scenario.
func runLoad(ctx context.Context, r *runner, cfg config) ([]Row, *LoadFigures) {
	fail := func(err error) ([]Row, *LoadFigures) {
		return []Row{{Scenario: "load + reload", Tried: "start voicetoken serve", Times: 1, Failed: 1, Fail: true, Detail: err.Error()}}, nil
	}
	bin, dir, err := r.prepare(ctx, "load")
	if err != nil {
		return fail(err)
	}
	keyPath, polPath := filepath.Join(dir, "keys.yaml"), filepath.Join(dir, "policy.yaml")
	var gs gens
	next := func() error {
		n := len(gs.all())
		g, err := newGeneration(n)
		if err != nil {
			return err
		}
		g.written = time.Now()
		gs.add(g) // before the files: a token of it may come back at once
		if err := writeAtomic(keyPath, g.keyFile()); err != nil {
			return err
		}
		pol := g.policyFile(n)
		if cfg.redis != "" {
			// A limit that never refuses but is spent, in Redis, on
			// every request: rate 0 would skip the limiter.
			pol = bytes.Replace(pol, []byte("{rate: 0}"), []byte("{rate: 1000000, burst: 1000000}"), 1)
		}
		return writeAtomic(polPath, pol)
	}
	if err := next(); err != nil {
		return fail(err)
	}

	args := []string{"serve", "--addr", "127.0.0.1:0", "--key-file", keyPath, "--policy", polPath}
	if cfg.redis != "" {
		// 100ms, not serve's 5ms: at saturation on a busy machine the
		// round trip queues behind the load, and 5ms would measure the
		// local fallback instead of Redis.
		args = append(args, "--redis", cfg.redis, "--redis-timeout", "100ms")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "LIVEKIT_API_KEY=", "LIVEKIT_API_SECRET=", "LIVEKIT_KEYS=", "VOICETOKEN_KEY_FILE=", "VOICETOKEN_POLICY=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fail(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	w := &logWatch{addr: make(chan string, 1), gens: &gs, done: make(chan struct{})}
	go w.run(stderr)
	stopped := false
	stopServer := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		errc := make(chan error, 1)
		go func() { <-w.done; errc <- cmd.Wait() }()
		select {
		case err := <-errc:
			return err
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-errc
			return errors.New("did not stop within 15s of SIGTERM")
		}
	}
	defer stopServer()
	var addr string
	select {
	case addr = <-w.addr:
	case <-w.done:
		return fail(errors.New("voicetoken serve exited before listening"))
	case <-time.After(30 * time.Second):
		return fail(errors.New("voicetoken serve did not log LISTENING within 30s"))
	}
	pid := cmd.Process.Pid

	r.progress("load + reload: %d connections for %s against %s, reload every %s", cfg.conns, cfg.load, addr, reloadEvery)
	ck := &checker{gens: &gs, conns: make([]connCache, cfg.conns)}
	req := loadgen.Request(addr, "/api/token?room=test-room&identity=u1")
	resc := make(chan loadgen.Result, 1)
	t0 := time.Now()
	go func() {
		resc <- loadgen.Run(addr, req, loadgen.Options{Conns: cfg.conns, Duration: cfg.load, OnResponse: ck.onResponse})
	}()
	fig := &LoadFigures{Conns: cfg.conns, WarmupS: cfg.warmup.Seconds(), ThresholdPc: growthThreshold}
	var res loadgen.Result
	var writeErr error
	tick := time.NewTicker(reloadEvery)
loop:
	for {
		select {
		case res = <-resc:
			break loop
		case <-tick.C:
			fig.RSSMB = append(fig.RSSMB, loadgen.RSSMB(pid))
			if time.Since(t0) > cfg.load-reloadEvery/2 || ctx.Err() != nil {
				continue // no reload the load cannot see
			}
			if err := next(); err != nil {
				writeErr = err
				continue
			}
			if err := cmd.Process.Signal(syscall.SIGHUP); err == nil {
				fig.Reloads++
			}
		}
	}
	tick.Stop()
	// Let the server log the last reload before counting.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if int(w.reloaded.Load()+w.failed.Load()) >= fig.Reloads {
			break
		}
	}
	if err := stopServer(); err != nil {
		fig.ExitErr = err.Error()
	}

	lat := res.Latencies
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))]) / float64(time.Millisecond)
	}
	fig.Seconds = res.Elapsed.Seconds()
	fig.Requests, fig.Errors, fig.Non200 = res.Requests, res.Errors, ck.non200.Load()
	fig.ReqPerSec = float64(res.Requests) / res.Elapsed.Seconds()
	fig.P50ms, fig.P99ms = pct(0.5), pct(0.99)
	fig.Verified, fig.Foreign, fig.Stale, fig.Mixed, fig.Unparsable = ck.verified.Load(), ck.foreign.Load(), ck.stale.Load(), ck.mixed.Load(), ck.unparsable.Load()
	ck.seen.Range(func(any, any) bool { fig.GensSeen++; return true })
	fig.Reloaded, fig.ReloadFail = int(w.reloaded.Load()), int(w.failed.Load())
	fig.LogLines, fig.LogLeaks = w.lines.Load(), w.leaks.Load()
	rssFigures(fig, reloadEvery)

	bad := fig.Foreign + fig.Stale + fig.Mixed + fig.Unparsable
	main := Row{
		Scenario: "load + reload: GET /api/token",
		Tried:    fmt.Sprintf("%d conns at max rate for %s; new key+policy+SIGHUP every 1s%s", cfg.conns, cfg.load, withRedis(cfg)),
		Times:    fig.Requests + fig.Errors,
		Held:     fig.Verified,
		Failed:   fig.Errors + bad,
		Detail: fmt.Sprintf("%.0f req/s, p99 %.2f ms; %d non-200, %d conn errors; tokens: %d verified, %d foreign-signed, %d stale, %d mixed, %d unparsable",
			fig.ReqPerSec, fig.P99ms, fig.Non200, fig.Errors-fig.Non200, fig.Verified, fig.Foreign, fig.Stale, fig.Mixed, fig.Unparsable),
	}
	if fig.Requests == 0 {
		main.Fail = true
	}
	if fig.ExitErr != "" {
		main.Fail, main.Detail = true, main.Detail+"; server exit: "+fig.ExitErr
	}
	if writeErr != nil {
		main.Fail, main.Detail = true, main.Detail+"; rewriting the files: "+writeErr.Error()
	}
	reload := Row{
		Scenario: "load + reload: SIGHUP reloads",
		Tried:    "replace key file (new secret) + policy, then SIGHUP",
		Times:    int64(fig.Reloads),
		Held:     int64(min(fig.Reloaded, fig.Reloads)),
		Failed:   int64(fig.ReloadFail),
		Detail:   fmt.Sprintf("%d RELOADED, %d RELOAD_FAILED; tokens seen from %d of %d generations", fig.Reloaded, fig.ReloadFail, fig.GensSeen, len(gs.all())),
	}
	// serve also reloads on its own when the files change (a watch): at
	// least one RELOADED per SIGHUP.
	if fig.Reloaded < fig.Reloads || fig.Reloads == 0 {
		reload.Fail = true
	}
	mem := Row{
		Scenario: "load + reload: memory",
		Tried:    fmt.Sprintf("VmRSS every 1s, %s warm-up excluded", cfg.warmup),
		Times:    1,
		Detail: fmt.Sprintf("%.1f-%.1f MB after warm-up; last 10s mean %.1f MB vs first 10s %.1f MB: %+.1f%% (flat: < %.0f%%)",
			fig.RSSMinMB, fig.RSSMaxMB, fig.RSSLastMB, fig.RSSFirstMB, fig.GrowthPct, growthThreshold),
	}
	if fig.Flat {
		mem.Held = 1
	} else {
		mem.Failed = 1
	}
	leak := Row{
		Scenario: "load + reload: server log",
		Tried:    "scan every log line for a JWT or a current secret",
		Times:    fig.LogLines,
		Held:     fig.LogLines - fig.LogLeaks,
		Failed:   fig.LogLeaks,
	}
	return []Row{main, reload, mem, leak}, fig
}

// withRedis says, in the load row, that serve's limits were in Redis.
func withRedis(cfg config) string {
	if cfg.redis == "" {
		return ""
	}
	return "; serve --redis (rate limits in Redis)"
}

// rssFigures judges the RSS samples (one per every): those in the
// warm-up are dropped; min and max of the rest; growth is the mean of
// the last 10 s against the mean of the first 10 s after warm-up (they
// overlap in runs shorter than warm-up + 20 s).
func rssFigures(fig *LoadFigures, every time.Duration) {
	skip := int(fig.WarmupS / every.Seconds())
	if skip >= len(fig.RSSMB) {
		skip = 0
	}
	post := fig.RSSMB[skip:]
	if len(post) == 0 {
		return
	}
	win := max(1, int(10*time.Second/every))
	mean := func(s []float64) float64 {
		var t float64
		for _, v := range s {
			t += v
		}
		return t / float64(len(s))
	}
	fig.RSSMinMB, fig.RSSMaxMB = slices.Min(post), slices.Max(post)
	fig.RSSFirstMB = mean(post[:min(win, len(post))])
	fig.RSSLastMB = mean(post[max(0, len(post)-win):])
	if fig.RSSFirstMB > 0 {
		fig.GrowthPct = (fig.RSSLastMB - fig.RSSFirstMB) / fig.RSSFirstMB * 100
	}
	fig.Flat = fig.RSSFirstMB > 0 && fig.GrowthPct < growthThreshold
}
