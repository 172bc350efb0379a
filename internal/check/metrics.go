package check

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics exports check results as Prometheus gauges:
//
//	voicetoken_check_status{check}            1 ok, 0.5 warn, 0 fail
//	voicetoken_check_duration_seconds{check}  how long the check took
//	voicetoken_check_last_run_timestamp_seconds
//	voicetoken_check_rounds_total
//
// A skipped check has no series for that round: a stale "ok" would lie.
// Labels are check names, which never hold a token or a secret.
type Metrics struct {
	status   *prometheus.GaugeVec
	duration *prometheus.GaugeVec
	lastRun  prometheus.Gauge
	rounds   prometheus.Counter
}

// NewMetrics registers the gauges on reg (use a private registry).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		status: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "voicetoken_check_status",
			Help: "Result of the last run of each check: 1 ok, 0.5 warn, 0 fail.",
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
	}
	for _, c := range []prometheus.Collector{m.status, m.duration, m.lastRun, m.rounds} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Observe records one round of results finished at at.
func (m *Metrics) Observe(results []Result, at time.Time) {
	for _, r := range results {
		if r.Status == Skipped {
			m.status.DeleteLabelValues(r.Name)
			m.duration.DeleteLabelValues(r.Name)
			continue
		}
		m.status.WithLabelValues(r.Name).Set(r.Status.Value())
		m.duration.WithLabelValues(r.Name).Set(r.Duration.Seconds())
	}
	m.lastRun.Set(float64(at.UnixNano()) / 1e9)
	m.rounds.Inc()
}

// Watch calls round at once and then every interval until ctx ends, and
// passes each round's results to observe. It returns ctx's error.
func Watch(ctx context.Context, interval time.Duration, round func(context.Context) []Result, observe func([]Result)) error {
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
