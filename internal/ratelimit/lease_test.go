package ratelimit_test

import (
	"sync/atomic"
	"testing"
	"time"

	"voicetoken/internal/logscan"
	"voicetoken/internal/policy"
	"voicetoken/internal/ratelimit"
	"voicetoken/internal/ratelimit/redistest"
	"voicetoken/internal/testkit"
)

// maxLease is coalesce.go's cap on a replica's lease.
const maxLease = 64

// TestLeasesNeverExceedTheBurst: many callers on one key, on one replica
// or three sharing a Redis, leasing tokens ahead of their decisions, are
// admitted at most the burst in total (every admission is a token taken
// in Redis), and at least the burst less what each replica's lease may
// leave unused.
func TestLeasesNeverExceedTheBurst(t *testing.T) {
	tests := []struct {
		name              string
		replicas, callers int
		each, burst       int
	}{
		{name: "one replica", replicas: 1, callers: 64, each: 40, burst: 1000},
		{name: "three replicas", replicas: 3, callers: 32, each: 40, burst: 2000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := redistest.Start(t)
			logs := logscan.New(t)
			rls := make([]*ratelimit.Redis, tc.replicas)
			for i := range rls {
				rls[i] = newLimiter(t, rs.URL(), time.Second, logs)
			}
			rate := policy.Rate{Rate: 0.001, Burst: tc.burst}
			evals0 := redisStat(t, rs.Addr(), "cmdstat_evalsha:calls")
			start := time.Now()
			var allowed atomic.Int64
			together(tc.replicas*tc.callers, func(i int) {
				for range tc.each {
					if ok, _ := rls[i%tc.replicas].Allow("one-key", rate, time.Now()); ok {
						allowed.Add(1)
					}
				}
			})
			bound := tc.burst + int(time.Since(start).Seconds()*rate.Rate) + 1
			lowest := tc.burst - tc.replicas*maxLease
			if got := int(allowed.Load()); got < lowest || got > bound {
				t.Errorf("%d replicas, %d callers x %d: %d admitted, want %d..%d", tc.replicas, tc.callers, tc.each, got, lowest, bound)
			}
			for i, rl := range rls {
				if rl.Degraded() {
					t.Fatalf("replica %d fell back to local limits with Redis up", i)
				}
			}
			t.Logf("%d admitted of %d, %d script calls for %d decisions", allowed.Load(), tc.burst,
				redisStat(t, rs.Addr(), "cmdstat_evalsha:calls")-evals0, tc.replicas*tc.callers*tc.each)
		})
	}
}

// TestHotBucketSkipsRedis: once a bucket is hot (a call carried more
// than one decision), its decisions mostly take leased tokens: a caller
// asking one after the other, which coalescing alone would send one
// call each, costs Redis a fraction of a call per decision.
func TestHotBucketSkipsRedis(t *testing.T) {
	rs := redistest.Start(t)
	rl := newLimiter(t, rs.URL(), time.Second, logscan.New(t))
	rate := policy.Rate{Rate: 1e6, Burst: 1e6}
	together(32, func(int) {
		for range 10 {
			rl.Allow("hot", rate, time.Now())
		}
	})
	evals0 := redisStat(t, rs.Addr(), "cmdstat_evalsha:calls")
	const decisions = 2000
	for i := range decisions {
		if ok, _ := rl.Allow("hot", rate, time.Now()); !ok {
			t.Fatalf("decision %d refused with a budget that never runs out", i)
		}
	}
	evals := redisStat(t, rs.Addr(), "cmdstat_evalsha:calls") - evals0
	t.Logf("%d decisions one after the other in %d script calls", decisions, evals)
	if evals > decisions/4 {
		t.Errorf("%d script calls for %d decisions of a hot bucket, want at most a quarter (leased)", evals, decisions)
	}
	if rl.Degraded() {
		t.Fatal("fell back to local limits with Redis up")
	}
}

// TestExpiredLeaseNotUsed: a lease older than its expiry is dropped,
// and the decision goes to Redis; the bucket, no longer hot, leases
// nothing more.
func TestExpiredLeaseNotUsed(t *testing.T) {
	rs := redistest.Start(t)
	rl := newLimiter(t, rs.URL(), time.Second, logscan.New(t))
	const burst = 1000
	rate := policy.Rate{Rate: 0.001, Burst: burst}
	var allowed atomic.Int64
	for round := 0; rl.Leased("cool", rate) == 0; round++ {
		if round == 20 {
			t.Fatal("no lease after 20 rounds of 32 callers at once")
		}
		together(32, func(int) {
			if ok, _ := rl.Allow("cool", rate, time.Now()); ok {
				allowed.Add(1)
			}
		})
	}
	testkitIdle(t, rl)
	leased := rl.Leased("cool", rate)
	if leased > maxLease {
		t.Errorf("%d tokens leased, want at most %d", leased, maxLease)
	}
	evals0 := redisStat(t, rs.Addr(), "cmdstat_evalsha:calls")
	later := time.Now().Add(time.Second)
	if ok, _ := rl.Allow("cool", rate, later); !ok {
		t.Fatal("refused with tokens left in Redis")
	}
	if evals := redisStat(t, rs.Addr(), "cmdstat_evalsha:calls") - evals0; evals != 1 {
		t.Errorf("%d script calls for a decision past the lease's expiry, want 1 (the lease not used)", evals)
	}
	if n := rl.Leased("cool", rate); n != 0 {
		t.Errorf("%d tokens leased after the expiry, want 0 (not hot any more)", n)
	}
	// The expired lease's tokens are lost: Redis holds the burst less
	// the decisions and the lease.
	left, _, err := rl.TakeN(t.Context(), "cool", rate, burst)
	if err != nil {
		t.Fatal(err)
	}
	if want := burst - int(allowed.Load()) - 1 - leased; left != want {
		t.Errorf("%d tokens left in Redis, want %d (burst %d less %d admitted, the last decision and a lease of %d)",
			left, want, burst, allowed.Load(), leased)
	}
}

// testkitIdle waits until no call of rl's is in Redis.
func testkitIdle(t *testing.T, rl *ratelimit.Redis) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, "no call in Redis", func() bool { return rl.Buckets() == 0 })
}

// TestLeaseTTL: a lease lives one interval of its rate, so a token used
// late lets at most one more through early, within 10..100 ms.
func TestLeaseTTL(t *testing.T) {
	tests := []struct {
		name string
		rate float64
		want time.Duration
	}{
		{name: "slow, capped", rate: 0.001, want: 100 * time.Millisecond},
		{name: "per address (5/s)", rate: 5, want: 100 * time.Millisecond},
		{name: "per key (50/s): one interval", rate: 50, want: 20 * time.Millisecond},
		{name: "fast, floor", rate: 1e6, want: 10 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ratelimit.LeaseTTL(policy.Rate{Rate: tc.rate, Burst: 10}); got != tc.want {
				t.Errorf("LeaseTTL(%g/s) = %s, want %s", tc.rate, got, tc.want)
			}
		})
	}
}
