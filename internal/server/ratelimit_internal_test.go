package server

import (
	"voicetoken/internal/policy"

	"math"
	"testing"
	"time"
)

// TestLimiterWait: the wait for the next token, including rates so small
// that the wait does not fit a Duration, which must saturate, never turn
// negative; and a bucket is swept only when it would be full.
func TestLimiterWait(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name     string
		rate     policy.Rate
		wantWait time.Duration
	}{
		{"one a second", policy.Rate{Rate: 1, Burst: 1}, time.Second},
		{"ten a second", policy.Rate{Rate: 10, Burst: 1}, 100 * time.Millisecond},
		{"one a day", policy.Rate{Rate: 1.0 / 86400, Burst: 1}, 24 * time.Hour},
		{"one in 30,000 years", policy.Rate{Rate: 1e-12, Burst: 1}, math.MaxInt64},
		{"smallest float", policy.Rate{Rate: math.SmallestNonzeroFloat64, Burst: 3}, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter()
			for i := range tt.rate.Burst {
				if ok, _ := l.Allow("k", tt.rate, t0); !ok {
					t.Fatalf("request %d of the burst refused", i+1)
				}
			}
			ok, wait := l.Allow("k", tt.rate, t0)
			if ok || wait != tt.wantWait {
				t.Errorf("after the burst: allowed %v, wait %v; want refused, wait %v", ok, wait, tt.wantWait)
			}
			// A sweep long after, but before the bucket would be full,
			// keeps it: forgetting it would hand out a fresh burst.
			for i := range l.shards {
				l.shards[i].sweep(tt.rate, t0.Add(time.Hour))
			}
			if ok, _ := l.Allow("k", tt.rate, t0); ok && tt.wantWait > time.Hour {
				t.Errorf("the bucket was swept while empty")
			}
		})
	}
}

func TestSeconds(t *testing.T) {
	tests := []struct {
		in   float64
		want time.Duration
	}{
		{0, 0},
		{1.5, 1500 * time.Millisecond},
		{9e9, 9e9 * time.Second},
		{1e10, math.MaxInt64},
		{math.Inf(1), math.MaxInt64},
	}
	for _, tt := range tests {
		if got := seconds(tt.in); got != tt.want {
			t.Errorf("seconds(%g) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
