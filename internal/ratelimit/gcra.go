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

// gcraScript is go-redis/redis_rate v10's allowN (BSD-2-Clause, after
// Pavel Pravosud's redis-gcra) for a cost of one token: the same key,
// the same stored value (the theoretical arrival time, in seconds since
// 2017 by Redis's clock) and the same expiry, so that the two agree on
// every bucket, and the same decision. It leaves out what voicetoken
// does not read (the remaining count and the reset time, as strings)
// and redis.replicate_commands(), which Redis 5 made the default; each
// costs a few microseconds of Redis's time per decision, about a
// quarter of the script (bench/README.md).
//
// KEYS[1] is the bucket; ARGV[1] the burst; ARGV[2] the emission
// interval in seconds (one token per interval). It returns {1, 0} when
// the token is taken, {0, µs} when it is not, µs being how long until
// it would be (rounded up).
var gcraScript = redis.NewScript(`
local burst = tonumber(ARGV[1])
local emission_interval = tonumber(ARGV[2])
local t = redis.call("TIME")
local now = (t[1] - 1483228800) + (t[2] / 1000000)
local tat = redis.call("GET", KEYS[1])
if not tat then
  tat = now
else
  tat = math.max(tonumber(tat), now)
end
local new_tat = tat + emission_interval
local diff = now - (new_tat - emission_interval * burst)
if diff < 0 then
  return {0, math.ceil(-diff * 1000000)}
end
local reset_after = new_tat - now
if reset_after > 0 then
  redis.call("SET", KEYS[1], new_tat, "EX", math.ceil(reset_after))
end
return {1, 0}
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

// decide runs the script for key through the autopipeliner: the
// decisions of concurrent requests that queue while a pipeline is in
// flight leave together as the next one (one write and one read for all
// of them, on both sides), with no added wait, and each is still its own
// EVALSHA, atomic in Redis. The autopipeliner runs a batch on its own
// context (bounded by the connection's read timeout), so the caller
// waits for its answer only until ctx's deadline; a decision given up on
// may still run in Redis later, spending a token that was not used (the
// shared limit errs towards refusing, never towards admitting). After a
// NOSCRIPT (a restarted or flushed Redis), EVAL loads the script, in a
// plain round trip on ctx.
func (r *Redis) decide(ctx context.Context, key string, burst int, interval float64) (bool, time.Duration, error) {
	cmd := redis.NewCmd(ctx, "evalsha", gcraScript.Hash(), 1, r.keyPrefix+key, burst, interval)
	err := r.ap.Submit(ctx, cmd).WaitContext(ctx)
	if err != nil && ctx.Err() == nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		cmd = gcraScript.Eval(ctx, r.client, []string{r.keyPrefix + key}, burst, interval)
		err = cmd.Err()
	}
	if err != nil {
		return false, 0, err // (cmd may still be written by the pipeline: not read)
	}
	v, err := cmd.Int64Slice()
	if err != nil || len(v) != 2 {
		return false, 0, errReply
	}
	return v[0] == 1, time.Duration(v[1]) * time.Microsecond, nil
}
