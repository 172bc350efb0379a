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

// call is one call of the script, for n decisions of a bucket: n counts
// the callers that joined it, less those that gave up before it was sent.
type call struct {
	n   int              // guarded by Redis.mu while the call gathers
	fut redis.AutoFuture // set when sent, read by its sender only
	// done is closed once answered; nil for a call sent at once for one
	// decision, which nobody can join.
	done chan struct{}
	// granted, wait and err are the answer, set before done is closed:
	// of the callers that joined the call, first to last, the first
	// granted are admitted and the others wait.
	granted int
	wait    time.Duration
	err     error
}

// take decides one token of key's bucket in Redis, together with the
// other decisions of that bucket under way. With the bucket idle, the
// decision is sent at once as a call of its own, whose answer the caller
// waits for; otherwise it joins the call that gathers the decisions
// arriving while one is in Redis, and waits for that call's answer. Each
// caller waits until its own ctx's deadline only.
func (r *Redis) take(ctx context.Context, key string, rate policy.Rate) (bool, time.Duration, error) {
	id := bucketID{key: key, rate: rate}
	r.mu.Lock()
	c, busy := r.buckets[id]
	if !busy {
		r.buckets[id] = nil
		r.mu.Unlock()
		return r.lead(ctx, id, &call{n: 1, fut: r.send(id, 1)})
	}
	if c == nil {
		c = &call{done: make(chan struct{})}
		r.buckets[id] = c
	}
	place := c.n
	c.n++
	r.mu.Unlock()
	select {
	case <-c.done:
	case <-ctx.Done():
		r.mu.Lock()
		if r.buckets[id] == c {
			c.n-- // not sent yet: its token is not asked for
		}
		r.mu.Unlock()
		return false, 0, ctx.Err()
	}
	return r.result(ctx, key, rate, c, place)
}

// lead waits for the answer to c, the call it sent for its own decision
// alone, then sends the call gathered meanwhile, if any, and hands it to
// a goroutine (drive), as it does c if ctx ends first: whoever waits for
// a call's answer sends the next one.
func (r *Redis) lead(ctx context.Context, id bucketID, c *call) (bool, time.Duration, error) {
	if err := c.fut.WaitContext(ctx); err != nil && ctx.Err() != nil {
		go r.drive(id, c)
		return false, 0, err
	}
	if next := r.answered(id, c); next != nil {
		go r.drive(id, next)
	}
	return r.result(ctx, id.key, id.rate, c, 0)
}

// drive waits for the answers to c and to the calls that follow it
// until the bucket is idle. A call ends however Redis fares: the
// autopipeliner bounds it by the connection's read timeout, and Close
// ends it.
func (r *Redis) drive(id bucketID, c *call) {
	for c != nil {
		_ = c.fut.Wait()
		c = r.answered(id, c)
	}
}

// send sends a call for n decisions of bucket id.
func (r *Redis) send(id bucketID, n int) redis.AutoFuture {
	return r.call(id.key, id.rate.Burst, emissionInterval(id.rate), n)
}

// answered reads the answer to c, wakes its callers and sends the
// bucket's next call, which it returns; or, none gathered, forgets the
// bucket.
func (r *Redis) answered(id bucketID, c *call) *call {
	c.granted, c.wait, c.err = answer(c.fut.Cmd())
	if c.done != nil {
		close(c.done)
	}
	r.mu.Lock()
	next := r.buckets[id]
	if next == nil || next.n == 0 {
		delete(r.buckets, id)
	} else {
		r.buckets[id] = nil // (next, out of the map, gains no callers)
	}
	r.mu.Unlock()
	switch {
	case next == nil:
		return nil
	case next.n == 0: // every caller gave up waiting
		close(next.done)
		return nil
	}
	next.fut = r.send(id, next.n)
	return next
}

// result is the decision of the caller at place in answered call c.
func (r *Redis) result(ctx context.Context, key string, rate policy.Rate, c *call, place int) (bool, time.Duration, error) {
	granted, wait, err := c.granted, c.wait, c.err
	if isNoScript(err) {
		// Redis lost the script: each decision loads it again (EVAL),
		// for itself.
		granted, wait, err = r.decide(ctx, key, rate.Burst, emissionInterval(rate), 1)
		place = 0
	}
	if err != nil {
		return false, 0, err
	}
	// (A caller that gave up before c was sent left a place below the
	// later ones unfilled: c asked for one token fewer, and they are all
	// admitted if it got them all.)
	if place < granted || granted == c.n {
		return true, 0, nil
	}
	return false, wait, nil
}
