package ratelimit_test

import (
	"context"
	"regexp"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"voicetoken/internal/policy"
	"voicetoken/internal/ratelimit"
	"voicetoken/internal/ratelimit/redistest"
	"voicetoken/internal/server"
)

// BenchmarkAllow is one decision in Redis from 32 concurrent callers (the
// load driver's connections) with a budget that never runs out, against
// a real redis-server: all on one key (bench/run.sh's vt+redis, whose
// driver is one client address), each caller on a key of its own, and
// each decision on one of 10,000 keys (a spread of clients). Besides
// ns/op it reports the CPU per decision of this process (client-us/op)
// and of redis-server (redis-us/op), and how many decisions each script
// call carried (decisions/call, INFO commandstats). For pprof:
//
//	go test -run '^$' -bench Allow -cpuprofile cpu.out ./internal/ratelimit/
func BenchmarkAllow(b *testing.B) {
	tests := []struct {
		name string
		// key is caller c's key for its i-th decision.
		key func(c, i int64) string
	}{
		{name: "one key", key: func(int64, int64) string { return "bench" }},
		{name: "a key per caller", key: func(c, _ int64) string { return "bench:" + strconv.FormatInt(c, 10) }},
		{name: "10000 keys", key: func(c, i int64) string { return "bench:" + strconv.FormatInt((c*7919+i)%10000, 10) }},
	}
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) { benchmarkAllow(b, tc.key) })
	}
}

func benchmarkAllow(b *testing.B, key func(c, i int64) string) {
	rs := redistest.Start(b)
	rl, err := ratelimit.New(ratelimit.Config{URL: rs.URL(), Local: server.NewMemoryLimiter(), Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer rl.Close()
	if err := rl.Warm(context.Background()); err != nil {
		b.Fatal(err)
	}
	admin := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer admin.Close()
	admin.ConfigResetStat(context.Background())
	redis0, self0 := redisCPU(b, admin), selfCPU()

	rate := policy.Rate{Rate: 1e6, Burst: 1e6}
	var next atomic.Int64
	b.SetParallelism(16) // with GOMAXPROCS 2: 32 callers
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := next.Add(1)
		for i := int64(0); pb.Next(); i++ {
			if ok, _ := rl.Allow(key(c, i), rate, time.Now()); !ok {
				b.Error("refused")
				return
			}
		}
	})
	b.StopTimer()
	if rl.Degraded() {
		b.Error("fell back to the local limiter")
	}
	n := float64(b.N)
	b.ReportMetric(float64((selfCPU()-self0).Microseconds())/n, "client-us/op")
	b.ReportMetric(float64((redisCPU(b, admin)-redis0).Microseconds())/n, "redis-us/op")
	stats := admin.Info(context.Background(), "commandstats").Val()
	if m := regexp.MustCompile(`cmdstat_evalsha:calls=(\d+),`).FindStringSubmatch(stats); m != nil {
		calls, _ := strconv.ParseFloat(m[1], 64)
		b.ReportMetric(n/calls, "decisions/call")
	}
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is redis-server's user+system CPU time (INFO cpu).
func redisCPU(b *testing.B, c *redis.Client) time.Duration {
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, f := range []string{"used_cpu_sys", "used_cpu_user"} {
		m := regexp.MustCompile(f + `:([0-9.]+)`).FindStringSubmatch(info)
		if m == nil {
			b.Fatalf("INFO cpu has no %s", f)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		total += v
	}
	return time.Duration(total * float64(time.Second))
}
