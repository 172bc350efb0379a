package upstream

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"voicetoken/internal/credential"
)

// DefaultAuthCloseCodes returns the WebSocket close codes taken as an
// authentication failure: 1008 (policy violation, what most servers send
// for a bad token) and the 4xxx application codes that mirror HTTP 401
// and 403 in the common conventions (4001/4003, 4401/4403).
func DefaultAuthCloseCodes() []int { return []int{1008, 4001, 4003, 4401, 4403} }

// AuthFailure is one AUTH_FAILURE event.
type AuthFailure struct {
	// Source is "rest" or "websocket".
	Source string
	// Status is the HTTP status: 401 or 403, or 101 for a WebSocket that
	// was upgraded and later closed.
	Status int
	// CloseCode is the WebSocket close code, 0 for none.
	CloseCode int
	// Reason is the close reason with anything token-like removed.
	Reason string
	// Upstream is the upstream host, Method and Path the request's.
	Upstream, Method, Path string
	// Fingerprint identifies the token the failing request carried.
	Fingerprint string
	// ExpiresIn is that token's remaining life when the failure happened.
	ExpiresIn time.Duration
	// Current is true when that token is still the source's current one;
	// false when it has been superseded (a WebSocket opened before a
	// rotation, closed by the upstream after it): the new token is not
	// the one refused, and alerts page only on current failures.
	Current bool
}

// Metrics are the Prometheus metrics of a Transport.
type Metrics struct {
	authFailures *prometheus.CounterVec
}

// NewMetrics registers voicetoken_auth_failures_total{source,status,current} and,
// when src is not nil, voicetoken_credential_expiry_seconds (the current
// token's remaining life at scrape time, negative once expired) on reg.
// Pass a private prometheus.Registry, not the global default.
func NewMetrics(reg prometheus.Registerer, src CredentialSource, now func() time.Time) (*Metrics, error) {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "voicetoken_auth_failures_total",
		Help: "Authentication failures reported by the upstream: HTTP 401/403 (status is the HTTP status) or a WebSocket closed with an auth-related code (status is the close code); current is false when the refused token had already been replaced by a newer one.",
	}, []string{"source", "status", "current"})}
	if err := reg.Register(m.authFailures); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if src != nil {
		g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "voicetoken_credential_expiry_seconds",
			Help: "Seconds until the current upstream credential expires (negative once expired).",
		}, func() float64 {
			c := src.Current()
			if c == nil || c.ExpiresAt().IsZero() {
				return 0
			}
			return c.ExpiresIn(now()).Seconds()
		})
		if err := reg.Register(g); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// report logs and counts one failure and calls the hook.
func (t *Transport) report(ctx context.Context, f AuthFailure) {
	if t.Source != nil {
		cur := t.Source.Current()
		f.Current = cur != nil && cur.Fingerprint() == f.Fingerprint
	}
	attrs := []slog.Attr{
		slog.String("event", "AUTH_FAILURE"),
		slog.String("source", f.Source),
		slog.Int("status", f.Status),
	}
	if f.CloseCode != 0 {
		attrs = append(attrs, slog.Int("close_code", f.CloseCode))
		if f.Reason != "" {
			attrs = append(attrs, slog.String("reason", f.Reason))
		}
	}
	attrs = append(attrs,
		slog.String("upstream", f.Upstream),
		slog.String("method", f.Method),
		slog.String("path", f.Path),
		slog.String("fingerprint", f.Fingerprint),
		slog.Int64("token_expires_in", int64(f.ExpiresIn/time.Second)),
		slog.Bool("current", f.Current),
	)
	t.logger().LogAttrs(ctx, slog.LevelError, "upstream refused the credential", attrs...)
	if t.Metrics != nil {
		status := f.Status
		if f.CloseCode != 0 {
			status = f.CloseCode
		}
		t.Metrics.authFailures.WithLabelValues(f.Source, strconv.Itoa(status), strconv.FormatBool(f.Current)).Inc()
	}
	if t.OnAuthFailure != nil {
		t.OnAuthFailure(f)
	}
}

// authClose reports whether a close code or reason means the token was
// refused.
func (t *Transport) authClose(code int, reason string) bool {
	codes := t.AuthCloseCodes
	if codes == nil {
		codes = DefaultAuthCloseCodes()
	}
	for _, c := range codes {
		if c == code {
			return true
		}
	}
	r := strings.ToLower(reason)
	for _, w := range []string{"auth", "token", "jwt", "credential", "forbidden", "expired", "permission denied"} {
		if strings.Contains(r, w) {
			return true
		}
	}
	return false
}

// redactReason removes the token and anything token-shaped (a run of 20
// or more base64/JWT characters) from a close reason, which an upstream
// may fill with the token it refused.
func redactReason(reason string, c *credential.Credential) string {
	if c != nil && c.Token() != "" {
		reason = strings.ReplaceAll(reason, c.Token(), "[redacted]")
	}
	var b strings.Builder
	run := 0
	flush := func(end int) {
		if run >= 20 {
			b.WriteString("[redacted]")
		} else {
			b.WriteString(reason[end-run : end])
		}
		run = 0
	}
	for i := 0; i < len(reason); i++ {
		ch := reason[i]
		switch {
		case ch >= 'A' && ch <= 'Z', ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', strings.IndexByte("-_.+/=", ch) >= 0:
			run++
			continue
		}
		flush(i)
		if ch < 0x20 || ch == 0x7f {
			ch = ' '
		}
		b.WriteByte(ch)
	}
	flush(len(reason))
	out := b.String()
	if len(out) > 123 {
		out = out[:123]
	}
	return out
}
