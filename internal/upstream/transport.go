package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"voicetoken/internal/credential"
)

// CredentialSource is what a Transport reads the token from;
// *credential.Source implements it.
type CredentialSource interface {
	Current() *credential.Credential
}

var _ CredentialSource = (*credential.Source)(nil)

// ErrHostNotAllowed means a request for a host other than Transport.Host:
// the token is for one platform and is never sent anywhere else (a
// redirect to another host, a mistyped URL).
var ErrHostNotAllowed = errors.New("upstream: host not allowed to receive the credential")

// ErrTimeout means the upstream sent no response headers within
// Transport.ResponseHeaderTimeout.
var ErrTimeout = errors.New("upstream: no answer in time")

// DefaultResponseHeaderTimeout bounds the wait for an upstream's response
// headers (a WebSocket handshake included; the stream after it is not
// bounded). Without it a hung upstream hangs every agent request that
// has no deadline of its own.
const DefaultResponseHeaderTimeout = 30 * time.Second

// Transport is an http.RoundTripper that adds the current credential to
// each request and reports AUTH_FAILURE. Fields other than Source are
// optional. It is safe for concurrent use once configured.
type Transport struct {
	// Source supplies the token, read once per request.
	Source CredentialSource
	// Base sends the request; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Host, when set (host or host:port), is the only host the token is
	// sent to; other requests fail with ErrHostNotAllowed. Set it.
	Host string
	// Header is the header that carries the token; "" means
	// Authorization.
	Header string
	// Scheme prefixes the token in Header; "" means "Bearer". Set NoScheme
	// to send the bare token.
	Scheme   string
	NoScheme bool
	// Query, when set, sends the token as this query parameter instead of
	// a header (some WebSocket APIs take ?token=). Prefer a header: URLs
	// end up in access logs.
	Query string
	// AuthCloseCodes are the WebSocket close codes reported as
	// AUTH_FAILURE when the upstream closes first; nil means
	// DefaultAuthCloseCodes(). The reason's words never count: the
	// upstream's code says what it decided.
	AuthCloseCodes []int
	// AuthStatuses are the HTTP statuses reported as AUTH_FAILURE; nil
	// means DefaultAuthStatuses() (401 and 403). Narrow it to 401 for a
	// platform whose 403 means "forbidden resource", not "bad token".
	AuthStatuses []int
	// Logger receives AUTH_FAILURE; nil discards.
	Logger *slog.Logger
	// Metrics, when set, counts failures.
	Metrics *Metrics
	// Now is the clock for token_expires_in; nil means time.Now.
	Now func() time.Time
	// OnAuthFailure, when set, is called after each failure is reported
	// (`voicetoken proxy` re-reads the credential source then).
	OnAuthFailure func(AuthFailure)
	// ResponseHeaderTimeout bounds the wait for the upstream's response
	// headers; the request then fails with ErrTimeout. Zero means
	// DefaultResponseHeaderTimeout; negative means no bound.
	ResponseHeaderTimeout time.Duration
}

var _ http.RoundTripper = (*Transport)(nil)

func (t *Transport) logger() *slog.Logger {
	if t.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return t.Logger
}

// headerTimeout is ResponseHeaderTimeout with its default applied
// (negative: no bound).
func (t *Transport) headerTimeout() time.Duration {
	if t.ResponseHeaderTimeout == 0 {
		return DefaultResponseHeaderTimeout
	}
	return t.ResponseHeaderTimeout
}

func (t *Transport) now() time.Time {
	if t.Now == nil {
		return time.Now()
	}
	return t.Now()
}

// RoundTrip sends req with the current token. It does not modify req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.roundTrip(req, false)
}

// ownedRequests is t for a caller that hands over each request it sends
// (NewProxy: httputil.ReverseProxy's outgoing request is a copy made for
// it), so the token is set on it in place instead of on another copy.
type ownedRequests struct{ t *Transport }

func (o ownedRequests) RoundTrip(req *http.Request) (*http.Response, error) {
	return o.t.roundTrip(req, true)
}

// roundTrip sends req with the current token: on req itself when owned,
// else on a copy.
func (t *Transport) roundTrip(req *http.Request, owned bool) (*http.Response, error) {
	c, err := t.credentialFor(req)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.send(t.withToken(req, c, owned), c)
	if err != nil {
		return nil, err
	}
	t.inspect(req, c, resp)
	return resp, nil
}

// credentialFor returns the credential to send req with, refusing a host
// other than t.Host.
func (t *Transport) credentialFor(req *http.Request) (*credential.Credential, error) {
	if t.Host != "" && !strings.EqualFold(req.URL.Host, t.Host) {
		return nil, fmt.Errorf("%w: %q (only %q)", ErrHostNotAllowed, req.URL.Host, t.Host)
	}
	c := t.Source.Current()
	if c == nil {
		return nil, errors.New("upstream: no credential loaded")
	}
	return c, nil
}

// withToken returns the request to send, carrying c's token in the query
// or the header. Unless owned it is a shallow copy with its own Header
// (and URL when the query changes): req stays as the caller made it, at a
// fraction of req.Clone's cost (it deep-copies everything, on every
// request).
func (t *Transport) withToken(req *http.Request, c *credential.Credential, owned bool) *http.Request {
	out := req
	if !owned {
		out = new(http.Request)
		*out = *req
		out.Header = req.Header.Clone()
		if out.Header == nil {
			out.Header = make(http.Header)
		}
		if t.Query != "" {
			u := *req.URL
			out.URL = &u
		}
	}
	if t.Query != "" {
		out.URL.RawQuery = withQueryToken(out.URL.RawQuery, t.Query, c.Token())
		return out
	}
	out.Header.Set(t.headerName(), t.headerValue(c.Token()))
	return out
}

// headerName is Header with its default applied.
func (t *Transport) headerName() string {
	if t.Header == "" {
		return "Authorization"
	}
	return t.Header
}

// headerValue is token prefixed with Scheme (default "Bearer") unless
// NoScheme is set.
func (t *Transport) headerValue(token string) string {
	if t.NoScheme {
		return token
	}
	s := t.Scheme
	if s == "" {
		s = "Bearer"
	}
	return s + " " + token
}

// send passes out to the base transport; with no response headers within
// the header timeout it fails with ErrTimeout. Errors never hold c's
// token.
func (t *Transport) send(out *http.Request, c *credential.Credential) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	timeout := t.headerTimeout()
	// base bounds the wait itself (NewBaseTransport).
	baseTimes := false
	if bt, ok := base.(*http.Transport); ok && bt.ResponseHeaderTimeout > 0 && bt.ResponseHeaderTimeout <= timeout {
		baseTimes = true
	}
	if timeout > 0 && !baseTimes {
		return sendTimed(base, out, c, timeout)
	}
	resp, err := base.RoundTrip(out)
	if err == nil {
		return resp, nil
	}
	var ne net.Error
	if baseTimes && errors.As(err, &ne) && ne.Timeout() && out.Context().Err() == nil {
		return nil, fmt.Errorf("%w: no response headers within %s", ErrTimeout, timeout)
	}
	return nil, redactErr(err, c)
}

// sendTimed sends out under a context that a timer cancels with
// ErrTimeout; a response's body releases the context when it is closed.
func sendTimed(base http.RoundTripper, out *http.Request, c *credential.Credential, timeout time.Duration) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(out.Context())
	out = out.WithContext(ctx)
	timer := time.AfterFunc(timeout, func() { cancel(ErrTimeout) })
	defer timer.Stop()
	resp, err := base.RoundTrip(out)
	if err != nil {
		timedOut := errors.Is(context.Cause(ctx), ErrTimeout)
		cancel(nil)
		if timedOut {
			return nil, fmt.Errorf("%w: no response headers within %s", ErrTimeout, timeout)
		}
		return nil, redactErr(err, c)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// The body is read after RoundTrip returns. (An upgraded
		// connection outlives the request and is released with its
		// parent context.)
		resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	}
	return resp, nil
}

// inspect counts resp and reports an authentication failure: a refused
// status at once, an upgraded WebSocket's close frames as they pass.
func (t *Transport) inspect(req *http.Request, c *credential.Credential, resp *http.Response) {
	t.Metrics.response(resp.StatusCode)
	source := "rest"
	if isWebSocket(req.Header) {
		source = "websocket"
	}
	switch {
	case resp.StatusCode == http.StatusSwitchingProtocols:
		if rwc, ok := resp.Body.(io.ReadWriteCloser); ok && source == "websocket" {
			resp.Body = t.observe(req, c, rwc)
		}
	case t.authStatus(resp.StatusCode):
		f := t.failure(req, c, source, resp.StatusCode)
		f.AuthError = authError(resp.Header.Get("WWW-Authenticate"))
		t.report(req.Context(), f)
	}
}

func (t *Transport) failure(req *http.Request, c *credential.Credential, source string, status int) AuthFailure {
	// Current is decided now, not when the request left: a WebSocket
	// opened before a rotation and closed after it carried the old token.
	cur := t.Source.Current()
	return AuthFailure{
		Source: source, Status: status, Upstream: req.URL.Host, Method: req.Method, Path: req.URL.Path,
		Fingerprint: c.Fingerprint(), ExpiresIn: c.ExpiresIn(t.now()),
		Current: cur == nil || cur == c || cur.Fingerprint() == c.Fingerprint(),
	}
}

// observe wraps an upgraded connection so that close frames are seen on
// their way: the client's (written to the upstream) and the upstream's
// (read from it). Only a close the upstream sends first is its decision;
// one that follows the client's is an echo, whatever its code.
func (t *Transport) observe(req *http.Request, c *credential.Credential, rwc io.ReadWriteCloser) io.ReadWriteCloser {
	o := &observedConn{rwc: rwc}
	o.sent.onClose = func(int, string) { o.clientClosed.Store(true) }
	// The request's context ends when the handshake returns; the
	// connection lives on, so the report uses a fresh one.
	o.scan.onClose = func(code int, reason string) {
		if o.clientClosed.Load() || !t.authClose(code) {
			return
		}
		f := t.failure(req, c, "websocket", http.StatusSwitchingProtocols)
		f.CloseCode, f.Reason = code, redactReason(reason, c)
		t.report(context.WithoutCancel(req.Context()), f)
	}
	return o
}

// observedConn passes bytes through unchanged, scanning both directions
// for a close frame. It deliberately has no WriteTo or ReadFrom, so
// io.Copy cannot bypass Read and Write.
type observedConn struct {
	rwc  io.ReadWriteCloser
	mu   sync.Mutex // guards scan should a caller read concurrently
	scan closeScanner
	// sent scans what the client writes; clientClosed is set once it
	// has sent a close frame, before that frame reaches the upstream.
	wmu          sync.Mutex
	sent         closeScanner
	clientClosed atomic.Bool
}

func (o *observedConn) Read(p []byte) (int, error) {
	n, err := o.rwc.Read(p)
	if n > 0 {
		o.mu.Lock()
		o.scan.feed(p[:n])
		o.mu.Unlock()
	}
	return n, err
}

func (o *observedConn) Write(p []byte) (int, error) {
	o.wmu.Lock()
	o.sent.feed(p)
	o.wmu.Unlock()
	return o.rwc.Write(p)
}
func (o *observedConn) Close() error { return o.rwc.Close() }

// CloseWrite forwards a half-close when the connection supports it, as
// httputil.ReverseProxy expects of the backend.
func (o *observedConn) CloseWrite() error {
	if cw, ok := o.rwc.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// cancelOnClose releases a request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

// withQueryToken returns raw with every pair named name removed (a token
// the client sent, also one after a ";", which some servers read as a
// separator) and name=token appended. The other bytes are kept as they
// are, in order: url.Values would drop "a=1;b=2" and re-encode the rest.
func withQueryToken(raw, name, token string) string {
	var b strings.Builder
	b.Grow(len(raw) + len(name) + len(token) + 2)
	for rest := raw; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		kept, ok := withoutNamed(pair, name)
		if !ok {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(kept)
	}
	if b.Len() > 0 {
		b.WriteByte('&')
	}
	b.WriteString(url.QueryEscape(name))
	b.WriteByte('=')
	b.WriteString(url.QueryEscape(token))
	return b.String()
}

// withoutNamed returns a query pair without its parts named name (split at
// ";", which some servers read as a separator); false when nothing is
// left.
func withoutNamed(pair, name string) (string, bool) {
	if strings.IndexByte(pair, ';') < 0 {
		return pair, !pairNamed(pair, name)
	}
	var kept []string
	for _, sub := range strings.Split(pair, ";") {
		if !pairNamed(sub, name) {
			kept = append(kept, sub)
		}
	}
	return strings.Join(kept, ";"), len(kept) > 0
}

// pairNamed reports whether a query pair's key, decoded, is name.
func pairNamed(pair, name string) bool {
	key, _, _ := strings.Cut(pair, "=")
	if key == name {
		return true
	}
	k, err := url.QueryUnescape(key)
	return err == nil && k == name
}

func isWebSocket(h http.Header) bool {
	return strings.EqualFold(h.Get("Upgrade"), "websocket")
}

// redactErr removes the token from an error: a *url.Error's URL holds it
// in query mode, and some errors quote the request.
func redactErr(err error, c *credential.Credential) error {
	tok := c.Token()
	var ue *url.Error
	if errors.As(err, &ue) && strings.Contains(ue.URL, tok) {
		err = &url.Error{Op: ue.Op, URL: strings.ReplaceAll(ue.URL, tok, "REDACTED"), Err: ue.Err}
	}
	if strings.Contains(err.Error(), tok) {
		return &redactedError{msg: strings.ReplaceAll(err.Error(), tok, "REDACTED"), err: err}
	}
	return err
}

// redactedError keeps errors.Is working on the cause while printing a
// message without the token.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Is(target error) bool {
	return errors.Is(e.err, target)
}

// Client returns an http.Client that sends through t. It follows no
// redirect to another host with the token: Host (when set) refuses it.
func (t *Transport) Client() *http.Client { return &http.Client{Transport: t} }

// DialWebSocket dials a WebSocket with the current token, reporting a
// 401/403 handshake and auth-related close frames from the upstream as
// AUTH_FAILURE. opts may be nil; its HTTPClient's transport, if any, is
// used as Base.
func (t *Transport) DialWebSocket(ctx context.Context, u string, opts *websocket.DialOptions) (*websocket.Conn, *http.Response, error) {
	var o websocket.DialOptions
	if opts != nil {
		o = *opts
	}
	tt := *t
	if o.HTTPClient != nil && o.HTTPClient.Transport != nil {
		tt.Base = o.HTTPClient.Transport
	}
	o.HTTPClient = &http.Client{Transport: &tt}
	conn, resp, err := websocket.Dial(ctx, u, &o)
	if err != nil {
		if c := t.Source.Current(); c != nil {
			err = redactErr(err, c)
		}
	}
	return conn, resp, err
}
