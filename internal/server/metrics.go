package server

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics live in a registry private to one Server, so two servers in one
// process (tests) never share or collide. The process-wide Go and process
// collectors are client_golang's own, built by its init in the default
// registry: /metrics gathers both (gatherer), so they are not built
// twice. Children of the vectors the request path touches are resolved
// once here: an Inc or Observe on the hot path is an atomic add, no label
// hashing, no allocation.
type metrics struct {
	gatherer prometheus.Gatherer // the private registry, then the default one

	issued, denied prometheus.Counter
	// authFailures counts requests with a wrong or malformed API key.
	authFailures prometheus.Counter
	// reloadOK and reloadError count Reload's outcomes
	// (voicetoken_reloads_total{component="serve"}).
	reloadOK, reloadError prometheus.Counter
	denials               map[string]prometheus.Counter
	denialOther           prometheus.Counter

	tokenGet, tokenPost, other prometheus.Observer

	keyInfo *prometheus.GaugeVec

	// timeouts[p] counts connections closed for staying too long in
	// phase p (timeoutCounter).
	timeouts [phaseCount]func()
}

// Route labels of the latency histogram.
const (
	routeTokenGet  = "token_get"
	routeTokenPost = "token_post"
	routeOther     = "other"
)

// newMetrics builds the registry; extra collectors (a shared rate
// limiter's) join it.
func newMetrics(version string, extra ...prometheus.Collector) *metrics {
	reg := prometheus.NewRegistry()
	tokens := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "voicetoken_tokens_issued_total",
		Help: "Token requests by outcome: issued or denied.",
	}, []string{"outcome"})
	denials := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "voicetoken_token_denials_total",
		Help: "Refused token requests by reason (the JSON error code).",
	}, []string{"reason"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "voicetoken_http_request_duration_seconds",
		Help:    "HTTP request latency by route, as measured by the handler.",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	}, []string{"route"})
	keyInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "voicetoken_key_info",
		Help: "1 for each loaded LiveKit API key; fingerprint is the first 8 hex of the secret's SHA-256.",
	}, []string{"key", "fingerprint", "primary"})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "voicetoken_build_info",
		Help: "1, labelled with the build's version and Go version.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)
	timeouts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "voicetoken_http_timeouts_total",
		Help: "Connections closed for exceeding a timeout, by phase: header (ReadHeaderTimeout), active (WriteTimeout), idle (IdleTimeout).",
	}, []string{"phase"})
	authFailures := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "voicetoken_api_key_failures_total",
		Help: "Token requests with a wrong or malformed API key; each spends from its address's rate limit.",
	})
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "voicetoken_reloads_total",
		Help: "Reloads by component (serve: keys and policy, on SIGHUP or a change of their files; proxy: the credential, on SIGHUP) and result (ok, error).",
	}, []string{"component", "result"})
	reg.MustRegister(tokens, denials, dur, keyInfo, build, timeouts, authFailures, reloads)
	reg.MustRegister(extra...)

	m := &metrics{
		gatherer:     prometheus.Gatherers{reg, prometheus.DefaultGatherer},
		issued:       tokens.WithLabelValues("issued"),
		authFailures: authFailures,
		reloadOK:     reloads.WithLabelValues("serve", "ok"),
		reloadError:  reloads.WithLabelValues("serve", "error"),
		denied:       tokens.WithLabelValues("denied"),
		denials:      map[string]prometheus.Counter{},
		denialOther:  denials.WithLabelValues("other"),
		tokenGet:     dur.WithLabelValues(routeTokenGet),
		tokenPost:    dur.WithLabelValues(routeTokenPost),
		other:        dur.WithLabelValues(routeOther),
		keyInfo:      keyInfo,
	}
	for p := range phaseCount {
		m.timeouts[p] = timeouts.WithLabelValues(p.String()).Inc
	}
	for _, c := range denialCodes() {
		m.denials[c] = denials.WithLabelValues(c)
	}
	return m
}

// deny counts one refusal. The map is read-only after newMetrics.
func (m *metrics) deny(code string) {
	m.denied.Inc()
	if c, ok := m.denials[code]; ok {
		c.Inc()
		return
	}
	m.denialOther.Inc()
}

// setKeys publishes the loaded keys' fingerprints, replacing the old set.
func (m *metrics) setKeys(st *state) {
	m.keyInfo.Reset()
	for _, k := range st.keys.Keys() {
		primary := "false"
		if k == st.key {
			primary = "true"
		}
		m.keyInfo.WithLabelValues(k.ID, k.SecretFingerprint(), primary).Set(1)
	}
}
