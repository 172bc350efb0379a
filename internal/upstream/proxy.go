package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ParseUpstream parses the upstream base URL: http, https, or ws/wss
// (mapped to http/https, the scheme of the WebSocket handshake). It must
// have a host and no user info, query or fragment.
func ParseUpstream(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("upstream URL: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "ws":
		u.Scheme = "http"
	case "https", "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("upstream URL: scheme %q, want https (or http, ws, wss)", u.Scheme)
	}
	switch {
	case u.Host == "":
		return nil, errors.New("upstream URL: no host")
	case u.User != nil:
		return nil, errors.New("upstream URL: user info is not allowed; the credential source supplies the token")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("upstream URL: no query or fragment allowed")
	}
	return u, nil
}

// NewProxy returns a reverse proxy to upstream whose requests go through
// t (t.Host is set to upstream's host when empty). REST and WebSocket
// both work: httputil.ReverseProxy relays the upgraded connection and t
// watches its close frames. Failures to reach the upstream are answered
// 502 with a JSON error and logged as UPSTREAM_ERROR, without the token.
func NewProxy(upstream *url.URL, t *Transport) http.Handler {
	if t.Host == "" {
		t.Host = upstream.Host
	}
	if t.Base == nil {
		t.Base = NewBaseTransport(t.headerTimeout())
	}
	log := t.logger()
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			// ReverseProxy drops the pairs url.ParseQuery cannot read
			// ("a=1;b=2"); the upstream gets the query as the agent sent
			// it (ParseUpstream allows the base URL no query of its own).
			pr.Out.URL.RawQuery = pr.In.URL.RawQuery
			// An Authorization the agent sends (a stale hardcoded token)
			// is not forwarded: t sets ours.
			pr.Out.Header.Del("Authorization")
		},
		Transport:  ownedRequests{t},
		BufferPool: &bufferPool{},
		ErrorLog:   slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			level := slog.LevelWarn
			if errors.Is(err, context.Canceled) {
				level = slog.LevelDebug // the agent went away
			}
			status, code, msg := classify(err)
			log.LogAttrs(r.Context(), level, "upstream request failed",
				slog.String("event", "UPSTREAM_ERROR"), slog.String("upstream", upstream.Host),
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.String("code", code), slog.String("error", err.Error()))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(`{"error":"` + msg + `","code":"` + code + `"}` + "\n"))
		},
	}
}

// bufferPool lends ReverseProxy its copy buffers: without one it
// allocates 32 KiB per answer, most of the proxy's garbage (issue 25).
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32*1024)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

// NewBaseTransport returns the http.Transport the proxy sends through
// when Transport.Base is not set. http.DefaultTransport keeps 2 idle
// connections per host: with more agent connections than that, most
// requests would open (and close) a new upstream connection, which
// halved the proxy's throughput (issue 25). This one keeps up to 256,
// and bounds the wait for response headers itself (headerTimeout, when
// positive), which spares Transport a timer and a context per request.
func NewBaseTransport(headerTimeout time.Duration) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 256
	if headerTimeout > 0 {
		t.ResponseHeaderTimeout = headerTimeout
	}
	return t
}

// classify turns a failure to reach the upstream into the answer the
// agent gets: a status, a stable code and a message that says which of
// the usual faults it was (never the error text itself, which may name
// internal addresses).
func classify(err error) (status int, code, msg string) {
	var ne net.Error
	switch {
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout, "upstream_timeout", "upstream unreachable: no answer in time"
	case errors.Is(err, syscall.ECONNREFUSED):
		return http.StatusBadGateway, "upstream_refused", "upstream unreachable: connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadGateway, "upstream_closed", "upstream unreachable: it closed the connection without answering"
	case errors.Is(err, ErrHostNotAllowed):
		return http.StatusBadGateway, "host_not_allowed", "upstream host not allowed to receive the credential"
	}
	return http.StatusBadGateway, "upstream_unreachable", "upstream unreachable"
}
