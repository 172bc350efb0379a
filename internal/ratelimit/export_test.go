package ratelimit

import (
	"context"
	"time"

	"voicetoken/internal/policy"
)

// TakeN runs the script once for n decisions of key's bucket: how many
// it granted, and the wait for one more.
func (r *Redis) TakeN(ctx context.Context, key string, rate policy.Rate, n int) (int, time.Duration, error) {
	return r.decide(ctx, key, rate.Burst, emissionInterval(rate), n)
}

// Buckets counts the buckets with a call of the script in Redis.
func (r *Redis) Buckets() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buckets)
}
