package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"voicetoken/internal/policy"
)

// Limiter is the server's rate limiter (server.Limiter): Allow takes one
// token from key's bucket of rate r, or says how long until one is there.
type Limiter interface {
	Allow(key string, r policy.Rate, now time.Time) (ok bool, retryAfter time.Duration)
}

// ErrConfig wraps every problem New finds in a Config.
var ErrConfig = errors.New("invalid redis rate limit config")

// Defaults for Config's zero fields.
const (
	// DefaultTimeout bounds one decision's round trip. A Redis next to
	// serve answers in well under a millisecond; past a few, the local
	// limiter decides rather than let a slow Redis slow every token.
	DefaultTimeout = 5 * time.Millisecond
	// DefaultRetryEvery is how often, while degraded, one request tries
	// Redis again.
	DefaultRetryEvery = time.Second
	// probeTimeout bounds a probe of Redis while degraded. A probe runs
	// beside the requests, never on one, so it may wait long enough to
	// dial, authenticate and load the script on a busy machine.
	probeTimeout = time.Second
	// DefaultPrefix starts every key this package writes, so a Redis
	// shared with LiveKit keeps our keys apart.
	DefaultPrefix = "voicetoken:"
	// MaxBatch is how many calls of the script (each for the decisions
	// of one bucket) one pipeline aims to carry; more go in the next one.
	MaxBatch = 128
)

// Config says where Redis is and what decides when it is away.
type Config struct {
	// URL is redis://[user:password@]host:port/db or rediss:// for TLS,
	// with go-redis's query options (?pool_size=, ?dial_timeout=...).
	// Required. Its password is never logged (see Redact).
	URL string
	// Local decides while Redis is down or slow. Required: failing open
	// to no limit at all would let a Redis outage lift every limit.
	Local Limiter
	// Timeout bounds each decision's round trip. Default DefaultTimeout.
	Timeout time.Duration
	// RetryEvery spaces retries of Redis while degraded. Default
	// DefaultRetryEvery.
	RetryEvery time.Duration
	// Prefix starts every key. Default DefaultPrefix.
	Prefix string
	// Logger gets RATE_LIMIT_DEGRADED and RATE_LIMIT_RECOVERED. Default:
	// discard.
	Logger *slog.Logger
}

// Redis is a Limiter whose buckets live in Redis, shared by every server
// that uses the same Redis and prefix. It is a prometheus.Collector.
type Redis struct {
	cfg      Config
	redacted string
	client   *redis.Client
	// ap carries the decisions (call); client the rest.
	ap        *redis.AutoPipeliner
	keyPrefix string

	// mu guards buckets: a bucket is there from the moment a call of the
	// script for it is sent until the last call of the busy period is
	// answered, and while it holds a lease (coalesce.go). added counts
	// the buckets added, for sweep.
	mu      sync.Mutex
	buckets map[bucketID]bucket
	added   int

	// state counts the switches between Redis and the local limiter:
	// even while Redis decides, odd while degraded. An attempt switches
	// only from the state it started in (a CAS), so an answer or error
	// that arrives late, after another attempt switched, changes nothing:
	// one event per real transition.
	state atomic.Int64
	// retryAt is when (UnixNano, in the callers' clock) Redis may next be
	// probed while degraded; a CAS elects the request that starts the
	// probe.
	retryAt atomic.Int64
	probes  sync.WaitGroup

	degradedGauge prometheus.GaugeFunc
	decisions     *prometheus.CounterVec
	byRedis       prometheus.Counter
	byLocal       prometheus.Counter
	errs          prometheus.Counter
}

var (
	_ Limiter              = (*Redis)(nil)
	_ prometheus.Collector = (*Redis)(nil)
)

// New checks cfg and builds the limiter. It does not connect: the first
// decision does, and until Redis answers the local limiter decides.
func New(cfg Config) (*Redis, error) {
	var errs []error
	if cfg.Local == nil {
		errs = append(errs, fmt.Errorf("%w: no local limiter to fall back on", ErrConfig))
	}
	if cfg.Timeout < 0 || cfg.RetryEvery < 0 {
		errs = append(errs, fmt.Errorf("%w: timeouts must not be negative", ErrConfig))
	}
	opts, err := parseURL(cfg.URL)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.RetryEvery == 0 {
		cfg.RetryEvery = DefaultRetryEvery
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// One round trip per decision: no retries (the local limiter is the
	// retry), and the context's deadline bounds dial, pool wait, write
	// and read alike.
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	opts.ContextTimeoutEnabled = true
	client := redis.NewClient(opts)
	ap, err := client.AsyncAutoPipelineWithOptions(&redis.AutoPipelineOptions{MaxBatchSize: MaxBatch})
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redis pipeline: %w", err)
	}
	r := &Redis{
		cfg:       cfg,
		redacted:  Redact(cfg.URL),
		client:    client,
		ap:        ap,
		keyPrefix: keyPrefix + cfg.Prefix,
		buckets:   make(map[bucketID]bucket),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "voicetoken_ratelimit_decisions_total",
			Help: "Rate limit decisions by store: redis (shared by the replicas) or local (Redis down or slow).",
		}, []string{"store"}),
		errs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "voicetoken_ratelimit_redis_errors_total",
			Help: "Redis rate limit round trips that failed or exceeded the timeout.",
		}),
	}
	r.degradedGauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "voicetoken_ratelimit_degraded",
		Help: "1 while Redis is down or slow and each replica's own rate limiter decides; 0 while the limits are shared.",
	}, func() float64 { return float64(r.state.Load() & 1) })
	r.byRedis = r.decisions.WithLabelValues("redis")
	r.byLocal = r.decisions.WithLabelValues("local")
	return r, nil
}

// parseURL is redis.ParseURL with errors that never echo the URL (it
// may hold a password).
func parseURL(raw string) (*redis.Options, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: no Redis URL: want redis://[user:password@]host:port[/db] or rediss:// for TLS", ErrConfig)
	}
	if _, err := url.Parse(raw); err != nil {
		return nil, fmt.Errorf("%w: the Redis URL is not a URL: want redis://[user:password@]host:port[/db]", ErrConfig)
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: Redis URL %s: %w", ErrConfig, Redact(raw), err)
	}
	return opts, nil
}

// Redact is u with its password replaced by "xxxxx", for logs. A string
// that is not an absolute URL with an authority gives "(invalid URL)":
// a mistyped one ("redis:pw@host", "pw-secret") could hold a password
// where no parser would find it.
func Redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" || p.Opaque != "" {
		return "(invalid URL)"
	}
	return p.Redacted()
}

// Allow implements Limiter. A rate of 0 is no limit, as in the local one.
func (r *Redis) Allow(key string, rate policy.Rate, now time.Time) (bool, time.Duration) {
	if rate.Rate <= 0 {
		return true, 0
	}
	state := r.state.Load()
	if state&1 == 1 {
		if r.retryDue(now) {
			r.probes.Go(func() { _ = r.Warm(context.Background()) })
		}
		r.byLocal.Inc()
		return r.cfg.Local.Allow(key, rate, now)
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	ok, wait, err := r.take(ctx, key, rate, now)
	cancel()
	if err != nil {
		r.errs.Inc()
		r.degrade(state, now, err)
		r.byLocal.Inc()
		return r.cfg.Local.Allow(key, rate, now)
	}
	r.byRedis.Inc()
	return ok, wait
}

// Warm checks that Redis answers within a second, dialling a connection
// and loading the script so that the first decisions need one round
// trip: it spends from a bucket of its own, through the pipeline the
// decisions use. On failure the limiter is degraded (and logs it, if it
// was not); on success, it decides in Redis again (and logs that, if it
// was degraded). While degraded, a request at most every RetryEvery
// starts a Warm beside it.
func (r *Redis) Warm(ctx context.Context) error {
	state := r.state.Load()
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	_, _, err := r.decide(ctx, "probe", 1, time.Nanosecond.Seconds(), 1)
	if err != nil {
		r.errs.Inc()
		err = fmt.Errorf("redis %s: %w", r.redacted, err)
		r.degrade(state, time.Now(), err)
		return err
	}
	r.recover(state)
	return nil
}

// retryDue elects at most one caller per RetryEvery to try Redis.
func (r *Redis) retryDue(now time.Time) bool {
	at := r.retryAt.Load()
	return now.UnixNano() >= at && r.retryAt.CompareAndSwap(at, now.Add(r.cfg.RetryEvery).UnixNano())
}

// degrade switches to the local limiter after an attempt that started
// in state failed, unless another attempt switched meanwhile.
func (r *Redis) degrade(state int64, now time.Time, err error) {
	r.retryAt.Store(now.Add(r.cfg.RetryEvery).UnixNano())
	if state&1 == 1 || !r.state.CompareAndSwap(state, state+1) {
		return
	}
	r.cfg.Logger.LogAttrs(context.Background(), slog.LevelWarn, "Redis is down or slow: each replica limits on its own until it answers",
		slog.String("event", "RATE_LIMIT_DEGRADED"), slog.String("redis", r.redacted),
		slog.Duration("timeout", r.cfg.Timeout), slog.String("error", err.Error()))
}

// recover switches back to Redis after an attempt that started in state
// succeeded, unless another attempt switched meanwhile.
func (r *Redis) recover(state int64) {
	if state&1 == 0 || !r.state.CompareAndSwap(state, state+1) {
		return
	}
	r.cfg.Logger.LogAttrs(context.Background(), slog.LevelInfo, "Redis answers again: rate limits are shared",
		slog.String("event", "RATE_LIMIT_RECOVERED"), slog.String("redis", r.redacted))
}

// Degraded reports whether the local limiter is deciding.
func (r *Redis) Degraded() bool { return r.state.Load()&1 == 1 }

// Close sends the decisions still queued, waits for the pipeline in
// flight (at most the connection's read timeout) and closes the
// connections to Redis. Decisions asked for after Close are local.
func (r *Redis) Close() error {
	r.probes.Wait()
	return r.client.Close()
}

// Describe implements prometheus.Collector.
func (r *Redis) Describe(ch chan<- *prometheus.Desc) {
	r.degradedGauge.Describe(ch)
	r.decisions.Describe(ch)
	r.errs.Describe(ch)
}

// Collect implements prometheus.Collector.
func (r *Redis) Collect(ch chan<- prometheus.Metric) {
	r.degradedGauge.Collect(ch)
	r.decisions.Collect(ch)
	r.errs.Collect(ch)
}
