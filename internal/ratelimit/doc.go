// Package ratelimit shares serve's rate limits among replicas through
// Redis, the store LiveKit itself uses for its multi-node state.
//
// Minting is stateless, so serve scales by running more replicas behind a
// load balancer; but a limit kept in each process gives a client one
// budget per replica. Redis holds one bucket per client for all of them:
// each decision runs a GCRA script (EVALSHA), with Redis's own clock, so
// replicas whose clocks disagree still agree on the bucket. The script is
// go-redis/redis_rate's for one token, with the same keys and stored
// values (a replica of an earlier voicetoken, which ran redis_rate,
// shares the buckets), less the results nobody reads.
//
// Concurrent decisions for one bucket are coalesced: at most one call of
// the script per bucket (key and rate) is in Redis at a time, and the
// decisions that arrive meanwhile are sent together, as soon as it is
// answered, as ONE call asking for n tokens. The script grants
// k = min(n, whole tokens in the bucket), exactly what n decisions of one
// token at that instant would grant; the first k callers to arrive are
// admitted, the others get the wait for the next token. A hot bucket (a
// flood from one address, a NAT, a benchmark's single client) then costs
// Redis one call per round trip instead of one per request, which also
// shields Redis from a flood. A decision whose caller gives up (its
// deadline) before its call is sent is taken out of it, so a stalled
// Redis does not, once back, spend the tokens of every request that
// fell back meanwhile.
//
// A hot bucket (more than one decision since its last call was answered)
// also leases tokens: each of its calls asks Redis for up to 64 more than
// its decisions (about the decisions of the last round trip), and the
// replica keeps what the script grants beyond them as a lease, for one
// interval of the bucket's rate after the call, at least 10 and at most
// 100 ms. A decision of that bucket takes a leased token
// without waiting for Redis; when the lease is down to half, one refill
// call is sent beside the requests (still at most one call per bucket in
// Redis). Every admission is backed by a token taken in Redis, so a
// client never gets more than its budget however many replicas serve
// it (a token used up to its lease's expiry after it was taken lets
// the next one come that much earlier: within a short window, up to
// rate x expiry more, at most one token for rates up to 100/s). The
// price is in the safe direction: the tokens of a lease that
// expires unused (its client went quiet, or moved to another replica)
// are lost, so a client may be refused up to 64 tokens per replica early,
// until its bucket refills. A nearly empty bucket leases what is left
// (the script grants min(n, available)), and a bucket that cools down
// leases half as much each call, and nothing once a lease expires.
//
// The calls of distinct buckets share round trips: they go through
// go-redis's autopipeliner, which sends whatever queued while the
// previous pipeline was in flight as the next one (at most about
// MaxBatch), with no added wait. Each call is still its own script,
// atomic in Redis; only the write and the read (and their system calls,
// on both sides) are shared. A lone request is one round trip, as before.
//
// Redis is a dependency that can fail, and a rate limit must not become
// an outage: when Redis errs or does not answer within Config.Timeout (a
// few milliseconds), the request is decided by the process's own
// in-memory limiter (fail-open to local limits, never to no limit), the
// voicetoken_ratelimit_degraded gauge says so and one RATE_LIMIT_DEGRADED
// line is logged. Each request waits for its own answer until its own
// deadline, however long the call it joined or the pipeline it rides
// takes. While degraded, a request at most every Config.RetryEvery
// starts a probe beside it (with a second to dial and load the script,
// which a few milliseconds may not allow on a busy machine); when the
// probe succeeds the limits are shared again and RATE_LIMIT_RECOVERED
// is logged. No request waits on
// Redis longer than the timeout. A late answer or error (from before the
// last switch) switches nothing, so each transition is logged once.
package ratelimit
