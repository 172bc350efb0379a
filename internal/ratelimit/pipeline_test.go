package ratelimit_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"voicetoken/internal/logscan"
	"voicetoken/internal/policy"
	"voicetoken/internal/ratelimit"
	"voicetoken/internal/ratelimit/redistest"
	"voicetoken/internal/server"
	"voicetoken/internal/testkit"
)

// newLimiter is one replica's Redis limiter, closed when the test ends.
func newLimiter(t *testing.T, url string, timeout time.Duration, logs *logscan.Logs) *ratelimit.Redis {
	t.Helper()
	rl, err := ratelimit.New(ratelimit.Config{URL: url, Local: server.NewMemoryLimiter(), Timeout: timeout,
		RetryEvery: 10 * time.Millisecond, Logger: logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Close() })
	if err := rl.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	return rl
}

// together runs fn(i) in n goroutines released at once, so that their
// decisions queue behind each other and share pipelines, and waits for
// them all.
func together(n int, fn func(i int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Go(func() {
			ready.Done()
			<-start
			fn(i)
		})
	}
	ready.Wait()
	close(start)
	done.Wait()
}

// redisStat is a counter of Redis's INFO: name is a line of INFO stats
// (total_reads_processed) or a field of INFO commandstats
// (cmdstat_evalsha:calls), 0 if absent.
func redisStat(t *testing.T, addr, name string) int {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(context.Background(), "stats", "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + name + `[:=](\d+)`).FindStringSubmatch(info)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestConcurrentCallersGetTheBudgetOnce: 64 callers asking at once for
// one key are admitted exactly the bucket's burst, and each refused one
// is told to wait for the next token (about one interval); and their
// decisions are coalesced: Redis runs the script far fewer times than
// there are decisions (one call per round trip for all the decisions
// that arrived meanwhile, not one per decision). The bucket is forgotten
// once the last call is answered.
func TestConcurrentCallersGetTheBudgetOnce(t *testing.T) {
	rs := redistest.Start(t)
	logs := logscan.New(t)
	rl := newLimiter(t, rs.URL(), time.Second, logs)
	const callers, each, burst = 64, 20, 100
	rate := policy.Rate{Rate: 0.001, Burst: burst}
	interval := time.Duration(float64(time.Second) / rate.Rate)
	evals0 := redisStat(t, rs.Addr(), "cmdstat_evalsha:calls")
	start := time.Now()
	var allowed atomic.Int64
	waits := make([][]time.Duration, callers)
	together(callers, func(i int) {
		for range each {
			ok, wait := rl.Allow("one-key", rate, time.Now())
			if ok {
				allowed.Add(1)
			} else {
				waits[i] = append(waits[i], wait)
			}
		}
	})
	bound := burst + int(time.Since(start).Seconds()*rate.Rate) + 1
	if got := int(allowed.Load()); got < burst || got > bound {
		t.Errorf("%d callers x %d: %d admitted, want %d..%d", callers, each, got, burst, bound)
	}
	for i, ws := range waits {
		for _, w := range ws {
			if w > interval || w < interval-10*time.Second {
				t.Errorf("caller %d refused with Retry-After %s, want about the interval %s", i, w, interval)
			}
		}
	}
	if rl.Degraded() {
		t.Fatal("fell back to local limits with Redis up")
	}
	evals := redisStat(t, rs.Addr(), "cmdstat_evalsha:calls") - evals0
	t.Logf("%d decisions in %d script calls", callers*each, evals)
	if evals > callers*each/4 {
		t.Errorf("%d script calls for %d decisions on one key, want at most a quarter as many (coalesced)", evals, callers*each)
	}
	testkit.Eventually(t, 20*time.Second, "the bucket forgotten", func() bool { return rl.Buckets() == 0 })
}

// TestScriptTakesAtMostN: one call of the script for n decisions grants
// what go-redis/redis_rate's AllowAtMost(n) grants on the same bucket
// (n single decisions at one instant), leaves the bucket as redis_rate
// reads it (AllowAtMost then finds the rest), and when it grants fewer
// than n, its wait is the one redis_rate's Allow gives for the next
// token. The buckets are so slow to refill (one token in 1000 s) that
// the test's own duration adds no whole token.
func TestScriptTakesAtMostN(t *testing.T) {
	rs := redistest.Start(t)
	rl := newLimiter(t, rs.URL(), time.Second, logscan.New(t))
	client := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer client.Close()
	oracle := redis_rate.NewLimiter(client)
	ctx := context.Background()
	tests := []struct {
		name        string
		burst       int
		spent       int // tokens redis_rate takes first, one at a time
		n           int // then asked in one call
		wantGranted int
	}{
		{name: "one of a full bucket", burst: 5, spent: 0, n: 1, wantGranted: 1},
		{name: "all of a full bucket", burst: 10, spent: 0, n: 10, wantGranted: 10},
		{name: "fewer than left", burst: 10, spent: 2, n: 5, wantGranted: 5},
		{name: "more than left", burst: 10, spent: 4, n: 10, wantGranted: 6},
		{name: "empty bucket", burst: 3, spent: 3, n: 4, wantGranted: 0},
		{name: "burst of one", burst: 1, spent: 0, n: 64, wantGranted: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rate := policy.Rate{Rate: 0.001, Burst: tc.burst}
			interval := time.Duration(float64(time.Second) / rate.Rate)
			limit := redis_rate.Limit{Rate: 1, Burst: tc.burst, Period: interval}
			ours, theirs := "atmost:ours:"+tc.name, "atmost:theirs:"+tc.name
			for range tc.spent {
				for _, key := range []string{ours, theirs} {
					if res, err := oracle.Allow(ctx, ratelimit.DefaultPrefix+key, limit); err != nil || res.Allowed != 1 {
						t.Fatalf("redis_rate spending a token: %v %+v", err, res)
					}
				}
			}
			granted, wait, err := rl.TakeN(ctx, ours, rate, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			res, err := oracle.AllowAtMost(ctx, ratelimit.DefaultPrefix+theirs, limit, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if granted != tc.wantGranted || res.Allowed != tc.wantGranted {
				t.Errorf("%d of %d asked: ours granted %d, redis_rate's AllowAtMost %d, want %d", tc.n, tc.burst-tc.spent, granted, res.Allowed, tc.wantGranted)
			}
			if granted == tc.n {
				if wait != 0 {
					t.Errorf("all granted, and a wait of %s", wait)
				}
			} else {
				next, err := oracle.Allow(ctx, ratelimit.DefaultPrefix+ours, limit)
				if err != nil {
					t.Fatal(err)
				}
				if d := next.RetryAfter - wait; next.Allowed != 0 || d > time.Second || d < -time.Second || wait > interval || wait < interval-10*time.Second {
					t.Errorf("refused: ours says wait %s, redis_rate then admits %d and says %s (interval %s)", wait, next.Allowed, next.RetryAfter, interval)
				}
			}
			rest, err := oracle.AllowAtMost(ctx, ratelimit.DefaultPrefix+ours, limit, tc.burst)
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.burst - tc.spent - granted; rest.Allowed != want {
				t.Errorf("redis_rate found %d tokens left after ours, want %d", rest.Allowed, want)
			}
		})
	}
}

// TestEachCallerGetsItsOwnAnswer: decisions for keys with different
// rates and bursts, asked at once and so pipelined together, each reach
// their own caller: key i admits its own burst, and its refusals wait
// its own emission interval. The calls for distinct keys share Redis's
// reads (pipelined).
func TestEachCallerGetsItsOwnAnswer(t *testing.T) {
	rs := redistest.Start(t)
	rl := newLimiter(t, rs.URL(), time.Second, logscan.New(t))
	const keys, extra = 40, 3
	type answer struct {
		admitted   int
		retryAfter []time.Duration
	}
	answers := make([]answer, keys)
	reads0, evals0 := redisStat(t, rs.Addr(), "total_reads_processed"), redisStat(t, rs.Addr(), "cmdstat_evalsha:calls")
	together(keys, func(i int) {
		// Key i: burst 1..5, one token every 100*(i+1) s.
		burst, interval := i%5+1, time.Duration(i+1)*100*time.Second
		rate := policy.Rate{Rate: 1 / interval.Seconds(), Burst: burst}
		for range burst + extra {
			ok, wait := rl.Allow(fmt.Sprintf("key-%d", i), rate, time.Now())
			if ok {
				answers[i].admitted++
			} else {
				answers[i].retryAfter = append(answers[i].retryAfter, wait)
			}
		}
	})
	for i, a := range answers {
		burst, interval := i%5+1, time.Duration(i+1)*100*time.Second
		if a.admitted != burst || len(a.retryAfter) != extra {
			t.Errorf("key %d: admitted %d, refused %d, want %d and %d", i, a.admitted, len(a.retryAfter), burst, extra)
		}
		for _, w := range a.retryAfter {
			if w > interval || w < interval-10*time.Second {
				t.Errorf("key %d: Retry-After %s, want about its interval %s", i, w, interval)
			}
		}
	}
	if rl.Degraded() {
		t.Fatal("fell back to local limits with Redis up")
	}
	// (The INFO calls are a read each.)
	reads := redisStat(t, rs.Addr(), "total_reads_processed") - reads0 - 2
	evals := redisStat(t, rs.Addr(), "cmdstat_evalsha:calls") - evals0
	t.Logf("%d script calls in %d reads", evals, reads)
	if reads > evals/2 {
		t.Errorf("Redis read %d times for %d script calls of distinct keys, want at most half as many (pipelined)", reads, evals)
	}
}

// TestStalledRedisEveryCallerWithinTheTimeout: with Redis accepting but
// never answering (SIGSTOP), 64 callers asking at once, their decisions
// queued behind each other, each get the local limiter's answer within
// the timeout (plus a margin for a busy machine), not go-redis's 3 s
// read timeout, and RATE_LIMIT_DEGRADED is logged once; the decisions
// given up on before they were sent spend nothing once Redis is back.
func TestStalledRedisEveryCallerWithinTheTimeout(t *testing.T) {
	rs := redistest.Start(t)
	logs := logscan.New(t)
	const timeout = 50 * time.Millisecond
	rl := newLimiter(t, rs.URL(), timeout, logs)
	rs.Pause()
	defer rs.Resume()
	const callers = 64
	rate := policy.Rate{Rate: 0.001, Burst: callers}
	waited := make([]time.Duration, callers)
	admitted := make([]bool, callers)
	together(callers, func(i int) {
		start := time.Now()
		admitted[i], _ = rl.Allow("stalled", rate, start)
		waited[i] = time.Since(start)
	})
	for i := range callers {
		if waited[i] > timeout+time.Second {
			t.Errorf("caller %d waited %s with Redis stopped, want about %s", i, waited[i], timeout)
		}
		if !admitted[i] {
			t.Errorf("caller %d refused, want the local bucket's admission", i)
		}
	}
	if !rl.Degraded() {
		t.Error("not degraded with Redis stopped")
	}
	if n := len(logs.Events("RATE_LIMIT_DEGRADED")); n != 1 {
		t.Errorf("%d RATE_LIMIT_DEGRADED lines, want 1", n)
	}
	// Redis back, the call in flight (one decision) is answered; the
	// decisions gathered behind it, all given up, are not sent: their
	// tokens stay in the bucket.
	rs.Resume()
	testkit.Eventually(t, 20*time.Second, "the call in flight answered", func() bool { return rl.Buckets() == 0 })
	left, _, err := rl.TakeN(context.Background(), "stalled", rate, callers)
	if err != nil {
		t.Fatal(err)
	}
	if left != callers-1 {
		t.Errorf("%d tokens left in Redis after the stall, want %d (only the call in flight spent one)", left, callers-1)
	}
}

// TestRedisKilledUnderLoad: callers asking without pause while Redis is
// killed (pipelines in flight) are all answered, by the local limiter
// from then on, with one RATE_LIMIT_DEGRADED; Redis back, one
// RATE_LIMIT_RECOVERED and the decisions are Redis's again.
func TestRedisKilledUnderLoad(t *testing.T) {
	rs := redistest.Start(t)
	logs := logscan.New(t)
	rl := newLimiter(t, rs.URL(), time.Second, logs)
	rate := policy.Rate{Rate: 1e6, Burst: 1e6}
	var stop atomic.Bool
	var decided, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			for !stop.Load() {
				if ok, _ := rl.Allow(fmt.Sprintf("load-%d", i), rate, time.Now()); !ok {
					refused.Add(1)
				}
				decided.Add(1)
			}
		})
	}
	defer func() { stop.Store(true); wg.Wait() }()
	atLeast := func(n int64) func() bool { m := decided.Load() + n; return func() bool { return decided.Load() >= m } }

	testkit.Eventually(t, 20*time.Second, "1000 decisions with Redis up", atLeast(1000))
	rs.Stop()
	testkit.Eventually(t, 20*time.Second, "the limiter to degrade", rl.Degraded)
	testkit.Eventually(t, 20*time.Second, "1000 decisions with Redis down", atLeast(1000))
	rs.Restart()
	testkit.Eventually(t, 20*time.Second, "the limiter to recover", func() bool { return !rl.Degraded() })
	testkit.Eventually(t, 20*time.Second, "1000 decisions with Redis back", atLeast(1000))
	stop.Store(true)
	wg.Wait()

	if n := refused.Load(); n != 0 {
		t.Errorf("%d refusals with a budget that never runs out", n)
	}
	if rl.Degraded() {
		t.Error("degraded again with Redis back")
	}
	if ev := logs.Events("RATE_LIMIT_DEGRADED"); len(ev) != 1 {
		t.Errorf("%d RATE_LIMIT_DEGRADED lines, want 1: %v", len(ev), ev)
	}
	if n := len(logs.Events("RATE_LIMIT_RECOVERED")); n != 1 {
		t.Errorf("%d RATE_LIMIT_RECOVERED lines, want 1", n)
	}
	if n := redisStat(t, rs.Addr(), "cmdstat_evalsha:calls"); n < 1000 {
		t.Errorf("the restarted Redis ran %d EVALSHA, want the decisions (>= 1000)", n)
	}
}

// TestCloseAnswersEveryCaller: Close while callers are asking answers
// every one of them (from Redis, or locally once closed), whether their
// decisions wait on each other's calls (one key) or not (a key each), and
// leaves nothing behind: no goroutine (the pipeline's flusher, the
// connections) and no bucket.
func TestCloseAnswersEveryCaller(t *testing.T) {
	tests := []struct {
		name string
		key  func(caller int) string
	}{
		{name: "a key each", key: func(i int) string { return fmt.Sprintf("close-%d", i) }},
		{name: "one key", key: func(int) string { return "close" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := redistest.Start(t)
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			rl, err := ratelimit.New(ratelimit.Config{URL: rs.URL(), Local: server.NewMemoryLimiter(), Timeout: time.Second,
				Logger: logscan.New(t).Logger()})
			if err != nil {
				t.Fatal(err)
			}
			if err := rl.Warm(context.Background()); err != nil {
				t.Fatal(err)
			}
			rate := policy.Rate{Rate: 1e6, Burst: 1e6}
			var asked sync.WaitGroup
			var answered atomic.Int64
			const callers = 64
			for i := range callers {
				asked.Go(func() {
					for range 50 {
						if ok, _ := rl.Allow(tc.key(i), rate, time.Now()); ok {
							answered.Add(1)
						}
					}
				})
			}
			testkit.Eventually(t, 20*time.Second, "decisions under way", func() bool { return answered.Load() >= 200 })
			if err := rl.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			asked.Wait()
			if n := answered.Load(); n != callers*50 {
				t.Errorf("%d of %d decisions admitted", n, callers*50)
			}
			testkit.Eventually(t, 20*time.Second, "every bucket forgotten", func() bool { return rl.Buckets() == 0 })
		})
	}
}

// TestScriptAgreesWithRedisRate: the script is go-redis/redis_rate's
// GCRA for one token, so replicas running either (an earlier voicetoken
// ran redis_rate) share each bucket: tokens taken by one are missing for
// the other, and both give the same wait when it is empty.
func TestScriptAgreesWithRedisRate(t *testing.T) {
	rs := redistest.Start(t)
	rl := newLimiter(t, rs.URL(), time.Second, logscan.New(t))
	client := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer client.Close()
	oracle := redis_rate.NewLimiter(client)
	tests := []struct {
		name     string
		rate     policy.Rate
		ours     int // tokens our limiter takes first
		theirs   int // then redis_rate
		wantOurs int // then ours again until refused: how many admitted
	}{
		{name: "ours first", rate: policy.Rate{Rate: 0.001, Burst: 10}, ours: 4, theirs: 3, wantOurs: 3},
		{name: "theirs empty the bucket", rate: policy.Rate{Rate: 0.01, Burst: 5}, ours: 0, theirs: 5, wantOurs: 0},
		{name: "burst of one", rate: policy.Rate{Rate: 1.0 / 3600, Burst: 1}, ours: 1, theirs: 0, wantOurs: 0},
		{name: "fractional rate", rate: policy.Rate{Rate: 1.0 / 7, Burst: 50}, ours: 20, theirs: 20, wantOurs: 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "agree:" + tc.name
			interval := time.Duration(float64(time.Second) / tc.rate.Rate)
			limit := redis_rate.Limit{Rate: 1, Burst: tc.rate.Burst, Period: interval}
			for i := range tc.ours {
				if ok, _ := rl.Allow(key, tc.rate, time.Now()); !ok {
					t.Fatalf("ours: token %d refused", i+1)
				}
			}
			for i := range tc.theirs {
				res, err := oracle.Allow(context.Background(), ratelimit.DefaultPrefix+key, limit)
				if err != nil {
					t.Fatal(err)
				}
				// Remaining is what is left after this token, as
				// redis_rate reads the bucket our script wrote.
				if want := tc.rate.Burst - tc.ours - i - 1; res.Allowed != 1 || res.Remaining != want {
					t.Fatalf("redis_rate: token %d: allowed %d, remaining %d, want 1 and %d", tc.ours+i+1, res.Allowed, res.Remaining, want)
				}
			}
			admitted := 0
			var wait time.Duration
			for {
				ok, w := rl.Allow(key, tc.rate, time.Now())
				if !ok {
					wait = w
					break
				}
				admitted++
			}
			if admitted != tc.wantOurs {
				t.Errorf("ours admitted %d more, want %d", admitted, tc.wantOurs)
			}
			res, err := oracle.Allow(context.Background(), ratelimit.DefaultPrefix+key, limit)
			if err != nil {
				t.Fatal(err)
			}
			if res.Allowed != 0 {
				t.Fatalf("redis_rate admitted from a bucket ours found empty")
			}
			if d := res.RetryAfter - wait; d > time.Second || d < -time.Second || wait <= 0 || wait > interval {
				t.Errorf("empty bucket: ours says wait %s, redis_rate %s (interval %s)", wait, res.RetryAfter, interval)
			}
		})
	}
	if rl.Degraded() {
		t.Fatal("fell back to local limits with Redis up")
	}
}

// TestScriptFlushed: a Redis that lost its scripts (restarted, or
// SCRIPT FLUSH) gets the script again with the next decision (EVAL
// after the NOSCRIPT), which Redis decides: no fallback to local limits.
func TestScriptFlushed(t *testing.T) {
	rs := redistest.Start(t)
	logs := logscan.New(t)
	rl := newLimiter(t, rs.URL(), time.Second, logs)
	client := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer client.Close()
	rate := policy.Rate{Rate: 0.001, Burst: 2}
	evals0 := redisStat(t, rs.Addr(), "cmdstat_eval:calls") // Warm's, on a new Redis
	for i, want := range []bool{true, true, false} {
		if err := client.ScriptFlush(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		if ok, _ := rl.Allow("flushed", rate, time.Now()); ok != want {
			t.Errorf("decision %d after SCRIPT FLUSH: %v, want %v", i+1, ok, want)
		}
	}
	if rl.Degraded() || len(logs.Events("RATE_LIMIT_DEGRADED")) != 0 {
		t.Error("fell back to local limits after SCRIPT FLUSH")
	}
	if n := redisStat(t, rs.Addr(), "cmdstat_eval:calls") - evals0; n != 3 {
		t.Errorf("%d EVAL, want 3 (one after each NOSCRIPT)", n)
	}
}
