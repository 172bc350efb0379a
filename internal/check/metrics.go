package check

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics exports check results as Prometheus gauges:
//
//	voicetoken_check_status{check}              1 ok, 0.5 warn, 0 fail, -1 skipped
//	voicetoken_check_duration_seconds{check}    how long the check took
//	voicetoken_check_token_expiry_seconds{check} seconds left on the token
//	                                            a check read, at scrape time
//	voicetoken_check_warn_seconds               the --warn window
//	voicetoken_check_last_run_timestamp_seconds
//	voicetoken_check_rounds_total
//
// A skipped check keeps its series with the value -1 (StatusSkipped): a
// stale "ok" would lie, and a series that vanishes silences the alert on
// it. The expiry series of a check whose last run read no token (it
// failed to read it, or was skipped) is dropped: its age would lie too.
// Labels are check names, which never hold a token or a secret.
type Metrics struct {
	status   *prometheus.GaugeVec
	duration *prometheus.GaugeVec
	lastRun  prometheus.Gauge
	rounds   prometheus.Counter
	warn     prometheus.Gauge
	expiry   *expiryCollector
}

// StatusSkipped is voicetoken_check_status for a skipped check: neither
// good nor bad, below every real result so that "== 0" still means fail.
const StatusSkipped = -1

// MetricsOptions configure NewMetrics; the zero value is ready to use.
type MetricsOptions struct {
	// Warn is the window within which a token's expiry is a warning
	// (check's --warn), exported so alert rules can compare with it.
	Warn time.Duration
	// Now is the clock the expiry gauge counts from; nil means time.Now.
	Now func() time.Time
}

// NewMetrics registers the gauges on reg (use a private registry).
func NewMetrics(reg prometheus.Registerer, opts ...MetricsOptions) (*Metrics, error) {
	var o MetricsOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Metrics{
		status: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "voicetoken_check_status",
			Help: "Result of the last run of each check: 1 ok, 0.5 warn, 0 fail, -1 skipped.",
		}, []string{"check"}),
		duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "voicetoken_check_duration_seconds",
			Help: "How long the last run of each check took.",
		}, []string{"check"}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "voicetoken_check_last_run_timestamp_seconds",
			Help: "When the last round of checks finished, as a Unix time.",
		}),
		rounds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "voicetoken_check_rounds_total",
			Help: "Rounds of checks run.",
		}),
		warn: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "voicetoken_check_warn_seconds",
			Help: "The warn window (--warn): a token expiring within it is a warning.",
		}),
		expiry: &expiryCollector{now: o.Now, exp: map[string]time.Time{}},
	}
	m.warn.Set(o.Warn.Seconds())
	for _, c := range []prometheus.Collector{m.status, m.duration, m.lastRun, m.rounds, m.warn, m.expiry} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Observe records one round of results finished at at.
func (m *Metrics) Observe(results []Result, at time.Time) {
	expiries := map[string]time.Time{}
	for _, r := range results {
		v := r.Status.Value()
		if r.Status == Skipped {
			v = StatusSkipped
		}
		m.status.WithLabelValues(r.Name).Set(v)
		m.duration.WithLabelValues(r.Name).Set(r.Duration.Seconds())
		if !r.Expires.IsZero() {
			expiries[r.Name] = r.Expires
		}
	}
	m.expiry.set(expiries)
	m.lastRun.Set(float64(at.UnixNano()) / 1e9)
	m.rounds.Inc()
}

// expiryCollector exports voicetoken_check_token_expiry_seconds{check}
// counted from the scrape, as the proxy's credential gauge is, so that an
// alert sees the time left now, not at the last round.
type expiryCollector struct {
	now func() time.Time
	mu  sync.Mutex
	exp map[string]time.Time
}

var expiryDesc = prometheus.NewDesc("voicetoken_check_token_expiry_seconds",
	"Seconds until the token a check read expires (the earliest, for a page with several; negative once expired).",
	[]string{"check"}, nil)

func (c *expiryCollector) set(exp map[string]time.Time) {
	c.mu.Lock()
	c.exp = exp
	c.mu.Unlock()
}

func (c *expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- expiryDesc }

func (c *expiryCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for name, at := range c.exp {
		ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue, at.Sub(now).Seconds(), name)
	}
}

// Watch calls round at once, then every interval and whenever kick
// receives (SIGHUP in `check --watch`; nil never does), until ctx ends,
// and passes each round's results to observe. It returns ctx's error.
func Watch(ctx context.Context, interval time.Duration, kick <-chan struct{}, round func(context.Context) []Result, observe func([]Result)) error {
	if interval <= 0 {
		return errors.New("watch: interval must be positive")
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res := round(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		observe(res)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-kick:
			t.Reset(interval)
		}
	}
}

// ServeMetrics serves g's metrics at /metrics on ln until ctx ends, then
// shuts down within five seconds. It returns nil after a clean shutdown.
func ServeMetrics(ctx context.Context, ln net.Listener, g prometheus.Gatherer, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if log != nil {
		log.Info("metrics server stopped", slog.String("event", "check_metrics_stopped"))
	}
	return err
}
