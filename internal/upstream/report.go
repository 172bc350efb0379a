package upstream

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"voicetoken/internal/credential"
)

// DefaultAuthStatuses returns the HTTP statuses taken as an
// authentication failure, as the SOP says: 401 and 403.
func DefaultAuthStatuses() []int { return []int{http.StatusUnauthorized, http.StatusForbidden} }

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
	// Current is false when that token was no longer the source's when
	// the failure was seen: a connection opened before a rotation, closed
	// with the superseded token. An alert on a failing current token
	// ignores those.
	Current bool
	// AuthError is the error parameter of the upstream's
	// WWW-Authenticate header (RFC 6750: invalid_token,
	// insufficient_scope...), "" when absent.
	AuthError string
	// ExpiresIn is that token's remaining life when the failure happened.
	ExpiresIn time.Duration
}

// Metrics are the Prometheus metrics of a Transport.
type Metrics struct {
	authFailures    *prometheus.CounterVec
	refused         *prometheus.CounterVec
	lastAuthFailure prometheus.Gauge
	responses       *prometheus.CounterVec
	reloads         *prometheus.CounterVec
}

// NewMetrics registers voicetoken_auth_failures_total{source,status,current}
// (current is "false" for a failure of a superseded token),
// voicetoken_auth_failure_last_timestamp_seconds (when the last one
// happened), voicetoken_upstream_responses_total{code} (the upstream's
// answers by status class: 1xx..5xx), voicetoken_reloads_total{component,
// result} (component "proxy": Metrics.Reload's count of credential
// reloads, result "ok" or "error"),
// voicetoken_proxy_refused_total{reason} (a Guard's refusals) and,
// when src is not nil, voicetoken_credential_expiry_seconds (the current
// token's remaining life at scrape time, negative once expired) on reg.
// Pass a private prometheus.Registry, not the global default.
func NewMetrics(reg prometheus.Registerer, src CredentialSource, now func() time.Time) (*Metrics, error) {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "voicetoken_auth_failures_total",
		Help: "Authentication failures reported by the upstream: HTTP 401/403 (status is the HTTP status) or a WebSocket closed with an auth-related code (status is the close code).",
	}, []string{"source", "status", "current"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "voicetoken_proxy_refused_total",
			Help: "Requests the proxy refused before the upstream (reason: host_not_allowed, browser_origin, browser_fetch_headers, method_not_allowed, path_escapes_base, path_encoded_dots, path_not_absolute).",
		}, []string{"reason"}),
		lastAuthFailure: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "voicetoken_auth_failure_last_timestamp_seconds",
			Help: "Unix time of the last AUTH_FAILURE (0: none since the start).",
		}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "voicetoken_upstream_responses_total",
			Help: "The upstream's answers through the proxy, by status class (code: 1xx, 2xx, 3xx, 4xx, 5xx).",
		}, []string{"code"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "voicetoken_reloads_total",
			Help: "Reloads by component (serve: keys and policy, on SIGHUP or a change of their files; proxy: the credential, on SIGHUP) and result (ok, error).",
		}, []string{"component", "result"}),
	}
	for _, r := range []string{"ok", "error"} {
		m.reloads.WithLabelValues("proxy", r) // present at 0 from the start
	}
	for _, c := range []prometheus.Collector{m.authFailures, m.refused, m.lastAuthFailure, m.responses, m.reloads} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
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
		slog.Bool("current", f.Current),
		slog.Int64("token_expires_in", int64(f.ExpiresIn/time.Second)),
	)
	if f.AuthError != "" {
		attrs = append(attrs, slog.String("www_authenticate_error", f.AuthError))
	}
	t.logger().LogAttrs(ctx, slog.LevelError, "upstream refused the credential", attrs...)
	if t.Metrics != nil {
		status := f.Status
		if f.CloseCode != 0 {
			status = f.CloseCode
		}
		t.Metrics.authFailures.WithLabelValues(f.Source, strconv.Itoa(status), strconv.FormatBool(f.Current)).Inc()
		t.Metrics.lastAuthFailure.Set(float64(t.now().UnixNano()) / 1e9)
	}
	if t.OnAuthFailure != nil {
		t.OnAuthFailure(f)
	}
}

// authClose reports whether a close code the upstream sent first means
// the token was refused. The reason is not read: words in it ("token
// expired" in a normal close) are the upstream's prose, not its decision.
func (t *Transport) authClose(code int) bool {
	codes := t.AuthCloseCodes
	if codes == nil {
		codes = DefaultAuthCloseCodes()
	}
	return slices.Contains(codes, code)
}

// authStatus reports whether an HTTP status is an auth failure.
func (t *Transport) authStatus(status int) bool {
	if status != http.StatusUnauthorized && status != http.StatusForbidden && t.AuthStatuses == nil {
		return false // the common case, decided without a slice
	}
	codes := t.AuthStatuses
	if codes == nil {
		codes = DefaultAuthStatuses()
	}
	return slices.Contains(codes, status)
}

// authError returns the error parameter of a WWW-Authenticate header
// (`Bearer realm="x", error="invalid_token", ...`), limited to the
// characters RFC 6750 allows in it and to 64 bytes: the upstream's words,
// not ours, so they are bounded before a log line holds them.
func authError(h string) string {
	if h == "" {
		return ""
	}
	i := -1
	for k := 0; k+len("error=") <= len(h); k++ {
		// The parameter itself, not "error_description=" or "xerror=".
		if strings.EqualFold(h[k:k+len("error=")], "error=") && (k == 0 || h[k-1] == ' ' || h[k-1] == ',') {
			i = k
			break
		}
	}
	if i < 0 {
		return ""
	}
	v := strings.TrimPrefix(h[i+len("error="):], `"`)
	end := 0
	for end < len(v) && end < 64 {
		ch := v[end]
		if ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\' || ch == ',' || ch == ' ' {
			break
		}
		end++
	}
	return v[:end]
}

// redactReason removes the token and anything token-shaped (a run of 20
// or more base64/JWT characters) from a close reason, which an upstream
// may fill with the token it refused.
func redactReason(reason string, c *credential.Credential) string {
	if c != nil && c.Token() != "" {
		reason = strings.ReplaceAll(reason, c.Token(), "[redacted]")
	}
	var b strings.Builder
	for rest := reason; rest != ""; {
		n := tokenRun(rest)
		if n >= 20 {
			b.WriteString("[redacted]")
		} else {
			b.WriteString(rest[:n])
		}
		if n < len(rest) {
			b.WriteByte(printable(rest[n]))
			n++
		}
		rest = rest[n:]
	}
	out := b.String()
	if len(out) > 123 {
		out = out[:123]
	}
	return out
}

// printable is ch with a control character replaced by a space.
func printable(ch byte) byte {
	if ch < 0x20 || ch == 0x7f {
		return ' '
	}
	return ch
}

// tokenRun is the length of s's leading run of base64/JWT characters.
func tokenRun(s string) int {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || strings.IndexByte("-_.+/=", ch) >= 0) {
			return i
		}
	}
	return len(s)
}

// Reload counts one reload of the proxy's credential (on SIGHUP): ok
// when err is nil, else error.
func (m *Metrics) Reload(err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.reloads.WithLabelValues("proxy", result).Inc()
}

// response counts one answer of the upstream by its status class, so
// the label has at most five values whatever the upstream sends.
func (m *Metrics) response(status int) {
	if m == nil || status < 100 || status > 599 {
		return
	}
	m.responses.WithLabelValues(strconv.Itoa(status/100) + "xx").Inc()
}
