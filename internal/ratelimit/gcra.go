package ratelimit

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"voicetoken/internal/policy"
)

// keyPrefix starts the key of every bucket, before Config.Prefix: it is
// go-redis/redis_rate's, so a replica of an earlier voicetoken (which ran
// redis_rate) and this one share the buckets during a rolling update.
const keyPrefix = "rate:"

// gcraScript is go-redis/redis_rate v10's GCRA (BSD-2-Clause, after
// Pavel Pravosud's redis-gcra) taking up to n tokens at once: the same
// key, the same stored value (the theoretical arrival time, in seconds
// since 2017 by Redis's clock) and the same expiry, so that the two agree
// on every bucket. It grants k = min(n, whole tokens in the bucket), as n
// decisions of one token (redis_rate's Allow) at the same instant would,
// and moves the arrival time by k intervals; redis_rate's AllowAtMost
// gives the same k but, when the bucket holds fewer than n tokens, also
// spends the fraction of the next one, which n single decisions would
// not. It leaves out what voicetoken does not read (the remaining count
// and the reset time, as strings) and redis.replicate_commands(), which
// Redis 5 made the default; each costs a few microseconds of Redis's time
// per call (bench/README.md).
//
// KEYS[1] is the bucket; ARGV[1] the burst; ARGV[2] the emission
// interval in seconds (one token per interval); ARGV[3] n, the tokens
// asked for. It returns {k, 0} when all n are granted, and {k, µs} when
// some are not, µs being how long until one more would be (rounded up).
var gcraScript = redis.NewScript(`
local burst = tonumber(ARGV[1])
local emission_interval = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call("TIME")
local now = (t[1] - 1483228800) + (t[2] / 1000000)
local tat = redis.call("GET", KEYS[1])
if not tat then
  tat = now
else
  tat = math.max(tonumber(tat), now)
end
local diff = now - (tat - emission_interval * burst)
local granted = math.max(0, math.min(n, math.floor(diff / emission_interval)))
if granted > 0 then
  local new_tat = tat + emission_interval * granted
  local reset_after = new_tat - now
  if reset_after > 0 then
    redis.call("SET", KEYS[1], new_tat, "EX", math.ceil(reset_after))
  end
end
if granted == n then
  return {n, 0}
end
return {granted, math.ceil((emission_interval * (granted + 1) - diff) * 1000000)}
`)

// emissionInterval is rate's seconds per token as redis_rate computes
// them (a time.Duration's worth of seconds), saturating for rates so
// small the interval overflows.
func emissionInterval(r policy.Rate) float64 {
	period := time.Duration(math.MaxInt64)
	if s := 1 / r.Rate; s < float64(math.MaxInt64)/float64(time.Second) {
		period = time.Duration(s * float64(time.Second))
	}
	return max(period, 1).Seconds()
}

// errReply is a reply of the script that is not its two integers.
var errReply = errors.New("unexpected reply from the rate limit script")

// call sends the script for n decisions of key's bucket through the
// autopipeliner without waiting: the calls of other buckets that queue
// while a pipeline is in flight leave together as the next one (one write
// and one read for all of them, on both sides), with no added wait, and
// each is still its own EVALSHA, atomic in Redis. The autopipeliner runs
// a pipeline on its own context (bounded by the connection's read
// timeout), so its callers wait for the answer only until their own
// deadlines (WaitContext); a call given up on may still run in Redis
// later, spending tokens that were not used (the shared limit errs
// towards refusing, never towards admitting).
func (r *Redis) call(key string, burst int, interval float64, n int) redis.AutoFuture {
	cmd := redis.NewCmd(context.Background(), "evalsha", gcraScript.Hash(), 1, r.keyPrefix+key, burst, interval, n)
	return r.ap.Submit(context.Background(), cmd)
}

// decide runs the script for n decisions of key's bucket and waits for
// its answer until ctx's deadline: granted of the n, and the wait for one
// more. After a NOSCRIPT (a restarted or flushed Redis), EVAL loads the
// script, in a plain round trip on ctx.
func (r *Redis) decide(ctx context.Context, key string, burst int, interval float64, n int) (int, time.Duration, error) {
	f := r.call(key, burst, interval, n)
	if err := f.WaitContext(ctx); err != nil && ctx.Err() != nil {
		return 0, 0, err // (the call may still be written by the pipeline: not read)
	}
	granted, wait, err := answer(f.Cmd())
	if isNoScript(err) {
		granted, wait, err = answer(gcraScript.Eval(ctx, r.client, []string{r.keyPrefix + key}, burst, interval, n))
	}
	return granted, wait, err
}

// isNoScript is whether err says that Redis does not have the script.
func isNoScript(err error) bool { return err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") }

// answer reads a finished call of the script: how many tokens it
// granted, and the wait for one more.
func answer(c redis.Cmder) (int, time.Duration, error) {
	cmd, ok := c.(*redis.Cmd)
	if !ok {
		return 0, 0, errReply
	}
	if err := cmd.Err(); err != nil {
		return 0, 0, err
	}
	v, err := cmd.Int64Slice()
	if err != nil || len(v) != 2 {
		return 0, 0, errReply
	}
	return int(v[0]), time.Duration(v[1]) * time.Microsecond, nil
}
