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
// shields Redis from a flood. The limits stay exact: nothing is leased
// to a replica ahead of use. A decision whose caller gives up (its
// deadline) before its call is sent is taken out of it, so a stalled
// Redis does not, once back, spend the tokens of every request that
// fell back meanwhile.
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
