package server

import (
	"hash/maphash"
	"math"
	"sync"
	"time"

	"voicetoken/internal/policy"
)

// Limiter is a set of token buckets, keyed by client (an address, an
// IPv6 network, "key:<name>"). Allow takes one token from key's bucket of
// rate r at now; when the bucket is empty it returns false and how long
// until a token is available. The server's own is in memory (one
// process); a limiter shared by several servers (Redis) implements the
// same method and may use its own clock.
type Limiter interface {
	Allow(key string, r policy.Rate, now time.Time) (ok bool, retryAfter time.Duration)
}

var _ Limiter = (*limiter)(nil)

// NewMemoryLimiter is the server's own in-memory Limiter, for one
// process; a shared limiter falls back on it when its store is away.
func NewMemoryLimiter() Limiter { return newLimiter() }

// limiter is the in-memory Limiter: token buckets keyed by client. It is sharded so that two cores rarely wait on one lock, and it
// forgets buckets that have refilled completely, so memory is bounded by
// the number of clients active within a refill period.
type limiter struct {
	seed   maphash.Seed
	shards [16]limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBucketsPerShard triggers an early sweep, so a flood of distinct
// addresses cannot grow the map without bound.
const maxBucketsPerShard = 4096

func newLimiter() *limiter {
	l := &limiter{seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets = map[string]*bucket{}
	}
	return l
}

// Allow implements Limiter. A rate of 0 is no limit.
func (l *limiter) Allow(key string, r policy.Rate, now time.Time) (bool, time.Duration) {
	if r.Rate <= 0 {
		return true, 0
	}
	s := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[key]
	if b == nil {
		switch {
		case len(s.buckets) >= maxBucketsPerShard:
			if now.Sub(s.swept) > time.Second {
				s.sweep(r, now)
			}
			// Still full (a flood of fresh addresses): forget a random
			// one rather than grow; that client merely gets a new bucket.
			for k := range s.buckets {
				if len(s.buckets) < maxBucketsPerShard {
					break
				}
				delete(s.buckets, k)
			}
		case now.Sub(s.swept) > time.Minute:
			s.sweep(r, now)
		}
		b = &bucket{tokens: float64(r.Burst), last: now}
		s.buckets[key] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(float64(r.Burst), b.tokens+el.Seconds()*r.Rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, seconds((1 - b.tokens) / r.Rate)
}

// seconds converts s to a Duration, saturating where a conversion would
// overflow: a policy may set a rate as small as it likes (1e-12 is a token
// every 30,000 years), and an overflowed wait would be negative, turning
// Retry-After into 1 and a bucket into one that is swept as if full.
func seconds(s float64) time.Duration {
	if s >= float64(math.MaxInt64)/float64(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(s * float64(time.Second))
}

// sweep drops buckets that would be full by now: forgetting them changes
// nothing for their clients.
func (s *limiterShard) sweep(r policy.Rate, now time.Time) {
	s.swept = now
	full := seconds(float64(r.Burst) / r.Rate)
	for k, b := range s.buckets {
		if now.Sub(b.last) >= full {
			delete(s.buckets, k)
		}
	}
}
