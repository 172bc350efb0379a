package ratelimit

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"voicetoken/internal/policy"
)

// Leases of hot buckets (see the package doc).
const (
	// maxLease caps the tokens a call asks for beyond its decisions, to
	// keep as a lease: about one round trip's worth of a hot bucket's
	// decisions, so that the refill sent at half arrives before the
	// lease runs out.
	maxLease = 64
	// maxLeaseTTL is the longest a lease's tokens may be used; a lease
	// lives one interval of its rate, at most this and at least
	// minLeaseTTL (leaseTTL). Its tokens were taken in Redis when leased,
	// so a client never gets more than its budget over time however long
	// they are kept; but a token used later than it was taken makes room
	// for the next one early, so within a short window a client may get up
	// to rate x TTL (at most the lease) more than the strict curve: one
	// token at most for rates up to 1/minLeaseTTL. The expiry also bounds
	// the budget a replica sits on once its client slows down or moves to
	// another replica (the unused tokens are lost: the client is refused a
	// little early, never late).
	maxLeaseTTL = 100 * time.Millisecond
	// minLeaseTTL keeps a lease of a fast rate alive for a few refill
	// round trips (a lease that expired before its refill came back would
	// never be used).
	minLeaseTTL = 10 * time.Millisecond
	// sweepEvery is how many new buckets make the map forget the idle
	// ones whose leases have expired.
	sweepEvery = 1024
)

// bucketID names a bucket: a key and its rate.
type bucketID struct {
	key  string
	rate policy.Rate
}

// bucket is what a replica knows of a bucket: whether a call for it is
// in Redis, the call that gathers the decisions arriving meanwhile, and
// its lease. It is in the map while a call is in Redis or a lease is held.
type bucket struct {
	busy bool  // a call is in Redis
	next *call // gathers the decisions arriving while busy
	// lease is the tokens taken in Redis and not yet used, until expires
	// (UnixNano, in the callers' clock): leaseTTL after the last call's
	// first decision. Past it, the lease and the heat (size) are dropped.
	lease   int
	expires int64
	// size is the lease each call asks for (0: the bucket is not hot):
	// the decisions of the bucket during its last call, capped.
	size int
	// taken counts the decisions served from the lease since the last
	// call was answered.
	taken int
}

// call is one call of the script, for n decisions of a bucket and its
// lease: n counts the callers that joined it, less those that gave up
// before it was sent.
type call struct {
	n     int              // guarded by Redis.mu while the call gathers
	lease int              // tokens asked for beyond n, set when sent
	at    time.Time        // the first decision's time, for the lease's expiry
	fut   redis.AutoFuture // set when sent, read by its sender only
	// done is closed once answered; nil for a call nobody can join (sent
	// at once for one decision, or a refill of the lease).
	done chan struct{}
	// granted, wait and err are the answer, set before done is closed:
	// of the callers that joined the call, first to last, the first
	// granted are admitted and the others wait.
	granted int
	wait    time.Duration
	err     error
}

// take decides one token of key's bucket in Redis, together with the
// other decisions of that bucket under way. A hot bucket's decision takes
// a leased token if there is one, without waiting; when that leaves the
// lease at half or less, a refill is sent (by a goroutine of its own).
// With the bucket idle, the decision is sent at once as a call of its
// own, whose answer the caller waits for; otherwise it joins the call
// that gathers the decisions arriving while one is in Redis, and waits
// for that call's answer. Each caller waits until its own ctx's deadline
// only.
func (r *Redis) take(ctx context.Context, key string, rate policy.Rate, now time.Time) (bool, time.Duration, error) {
	id := bucketID{key: key, rate: rate}
	r.mu.Lock()
	b, known := r.buckets[id]
	if !known {
		r.sweep(now)
	}
	if now.UnixNano() >= b.expires {
		b.lease, b.size = 0, 0 // the bucket cooled down; an unused lease is lost
	}
	if b.lease > 0 {
		b.lease--
		b.taken++
		var refill *call
		if !b.busy && b.size > 0 && b.lease <= b.size/2 {
			b.busy = true
			refill = &call{lease: b.more(), at: now}
		}
		r.store(id, b)
		r.mu.Unlock()
		if refill != nil {
			refill.fut = r.send(id, refill)
			go r.drive(id, refill)
		}
		return true, 0, nil
	}
	if !b.busy {
		b.busy = true
		c := &call{n: 1, lease: b.more(), at: now}
		r.buckets[id] = b
		r.mu.Unlock()
		c.fut = r.send(id, c)
		return r.lead(ctx, id, c)
	}
	c := b.next
	if c == nil {
		c = &call{done: make(chan struct{}), at: now}
		b.next = c
		r.buckets[id] = b
	}
	place := c.n
	c.n++
	r.mu.Unlock()
	select {
	case <-c.done:
	case <-ctx.Done():
		r.mu.Lock()
		if r.buckets[id].next == c {
			c.n-- // not sent yet: its token is not asked for
		}
		r.mu.Unlock()
		return false, 0, ctx.Err()
	}
	return r.result(ctx, key, rate, c, place)
}

// leaseTTL is how long the tokens leased for a bucket of rate may be
// used: one interval, within minLeaseTTL..maxLeaseTTL.
func leaseTTL(rate policy.Rate) time.Duration {
	return min(maxLeaseTTL, max(minLeaseTTL, time.Duration(emissionInterval(rate)*float64(time.Second))))
}

// more is the lease a call of b asks for: its size, less what it still
// holds, so that a lease never exceeds maxLease.
func (b *bucket) more() int { return max(0, min(b.size, maxLease-b.lease)) }

// store keeps b as bucket id's state, or forgets the bucket if it is
// idle, holds no lease and is not hot. Called with r.mu held.
func (r *Redis) store(id bucketID, b bucket) {
	if !b.busy && b.lease == 0 && b.size == 0 {
		delete(r.buckets, id)
		return
	}
	r.buckets[id] = b
}

// sweep forgets, every sweepEvery new buckets, the idle buckets whose
// leases (and heat) have expired. Called with r.mu held.
func (r *Redis) sweep(now time.Time) {
	if r.added++; r.added%sweepEvery != 0 {
		return
	}
	for id, b := range r.buckets {
		if !b.busy && now.UnixNano() >= b.expires {
			delete(r.buckets, id)
		}
	}
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

// send sends c, for its n decisions and its lease, of bucket id.
func (r *Redis) send(id bucketID, c *call) redis.AutoFuture {
	return r.call(id.key, id.rate.Burst, emissionInterval(id.rate), c.n+c.lease)
}

// answered reads the answer to c, keeps what it granted beyond its
// decisions as the bucket's lease, wakes its callers and sends the
// bucket's next call, which it returns; or, none gathered, marks the
// bucket idle (and forgets it unless it holds a lease or is hot).
func (r *Redis) answered(id bucketID, c *call) *call {
	c.granted, c.wait, c.err = answer(c.fut.Cmd())
	if c.done != nil {
		close(c.done)
	}
	r.mu.Lock()
	b := r.buckets[id]
	if extra := c.granted - c.n; c.err == nil && extra > 0 {
		b.lease += extra
	}
	// Hot: more than one decision since the last call was answered
	// (joined or leased); a bucket cooling down leases half as much each
	// call.
	if demand := c.n + b.taken; demand > 1 {
		b.size = min(demand, maxLease)
	} else {
		b.size /= 2
	}
	b.expires = c.at.Add(leaseTTL(id.rate)).UnixNano()
	next := b.next
	b.next = nil // (next, out of the bucket, gains no callers)
	b.busy = next != nil && next.n > 0
	b.taken = 0
	if b.busy {
		next.lease = b.more()
	}
	r.store(id, b)
	r.mu.Unlock()
	switch {
	case next == nil:
		return nil
	case next.n == 0: // every caller gave up waiting
		close(next.done)
		return nil
	}
	next.fut = r.send(id, next)
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
	if place < granted || granted >= c.n {
		return true, 0, nil
	}
	return false, wait, nil
}
