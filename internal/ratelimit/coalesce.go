package ratelimit

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"voicetoken/internal/policy"
)

// bucketID names a bucket: a key and its rate.
type bucketID struct {
	key  string
	rate policy.Rate
}

// bucket gathers the concurrent decisions of one bucket so that at most
// one call of the script for it is in Redis at a time. Its fields are
// guarded by Redis.mu.
type bucket struct {
	// flight is the call sent last: in Redis, or answered and not yet
	// followed by next. Nil when the bucket is idle.
	flight *call
	// next gathers the decisions that arrive while flight is in Redis;
	// it is sent, for all of them at once, as soon as flight is answered.
	next *call
	// users counts the callers holding the bucket; at 0 it leaves the map.
	users int
}

// call is one call of the script, for n decisions of a bucket.
type call struct {
	n   int
	fut redis.AutoFuture // set when sent
	// answered, granted, wait and err are the script's answer, read once
	// by the first caller to see the call finish: the callers that joined
	// it first to last, the first granted are admitted, the others wait.
	answered bool
	granted  int
	wait     time.Duration
	err      error
}

// take decides one token of key's bucket in Redis, together with the
// other decisions of that bucket in flight: the decision joins the call
// that gathers them (or, the bucket idle, is sent at once as a call of
// its own), waits for the call ahead of it to be answered, then for its
// own call, each time until ctx's deadline only.
func (r *Redis) take(ctx context.Context, key string, rate policy.Rate) (bool, time.Duration, error) {
	id := bucketID{key: key, rate: rate}
	r.mu.Lock()
	b := r.buckets[id]
	if b == nil {
		b = &bucket{}
		r.buckets[id] = b
	}
	b.users++
	ahead := b.flight
	c := &call{}
	if ahead == nil {
		b.flight = c
	} else {
		if b.next == nil {
			b.next = c
		}
		c = b.next
	}
	place := c.n
	c.n++
	if ahead == nil {
		c.fut = r.send(id, c.n)
	}
	r.mu.Unlock()

	if ahead != nil {
		if err := r.wait(ctx, id, b, ahead); err != nil {
			return false, 0, err
		}
	}
	if err := r.wait(ctx, id, b, c); err != nil {
		return false, 0, err
	}
	r.mu.Lock()
	granted, wait, err := c.granted, c.wait, c.err
	r.leave(id, b)
	r.mu.Unlock()
	if isNoScript(err) {
		// Redis lost the script: each decision loads it again (EVAL),
		// for itself.
		granted, wait, err = r.decide(ctx, key, rate.Burst, emissionInterval(rate), 1)
		place = 0
	}
	if err != nil {
		return false, 0, err
	}
	if place < granted {
		return true, 0, nil
	}
	return false, wait, nil
}

// send sends a call for n decisions of bucket id.
func (r *Redis) send(id bucketID, n int) redis.AutoFuture {
	return r.call(id.key, id.rate.Burst, emissionInterval(id.rate), n)
}

// wait waits until c, a call of bucket b, is answered or ctx is done. The
// first caller to see c answered reads the answer and sends the bucket's
// next call. On ctx's error, the caller lets go of the bucket.
func (r *Redis) wait(ctx context.Context, id bucketID, b *bucket, c *call) error {
	r.mu.Lock()
	f := c.fut // (set by the caller that sent c, before this one could wait for it)
	r.mu.Unlock()
	err := f.WaitContext(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil && ctx.Err() != nil {
		r.leave(id, b)
		return err
	}
	if !c.answered {
		c.answered = true
		c.granted, c.wait, c.err = answer(f.Cmd())
	}
	if b.flight == c {
		b.flight, b.next = b.next, nil
		if b.flight != nil {
			b.flight.fut = r.send(id, b.flight.n)
		}
	}
	return nil
}

// leave lets go of bucket b; the last caller to leave it removes it.
// r.mu is held.
func (r *Redis) leave(id bucketID, b *bucket) {
	b.users--
	if b.users == 0 {
		delete(r.buckets, id)
	}
}
