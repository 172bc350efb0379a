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
	n := 0
	for _, b := range r.buckets {
		if b.busy {
			n++
		}
	}
	return n
}

// Leased is the tokens key's bucket of rate holds as a lease.
func (r *Redis) Leased(key string, rate policy.Rate) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buckets[bucketID{key: key, rate: rate}].lease
}

// LeaseTTL is how long a lease of a bucket of rate lives.
func LeaseTTL(rate policy.Rate) time.Duration { return leaseTTL(rate) }
