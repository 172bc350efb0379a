// Package probe asks the upstream platform, with one request, whether it
// accepts a token before that token replaces the one in use: SOP step
// 4.1, "validate the new token against the platform". A JWT's shape, exp,
// iss and aud say nothing of a revoked token or one for another account;
// only the platform knows.
//
// The request is a GET of the URL with the token where the agent sends
// it (a header, by default "Authorization: Bearer ...", or a query
// parameter); for ws:// and wss:// URLs it is a WebSocket handshake
// (coder/websocket), closed at once. A 2xx answer (101 for a WebSocket)
// accepts the token; 401 or 403 refuses it (ErrRefused) with the
// upstream's status; anything else, or no answer, is ErrInconclusive,
// which callers treat as a refusal too: a token that could not be shown
// to work does not replace one that does. Errors never hold the token,
// even when it travels in the query.
package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// DefaultTimeout bounds one probe: a platform that hangs must not hang a
// rotation.
const DefaultTimeout = 10 * time.Second

var (
	// ErrRefused means the upstream answered 401 or 403 to the token.
	ErrRefused = errors.New("the upstream refused the token")
	// ErrInconclusive means the upstream gave no answer that says
	// whether it accepts the token (another status, a network error).
	ErrInconclusive = errors.New("the probe could not tell whether the upstream accepts the token")
	// ErrURL means a probe URL that is not http(s):// or ws(s)://.
	ErrURL = errors.New("invalid probe URL")
)

// Prober sends one request with a token. The zero value of every field
// but URL is usable.
type Prober struct {
	// URL is what is requested: an endpoint any valid token may GET
	// (e.g. https://api.podium.example/v1/me), or a ws(s):// URL.
	URL *url.URL
	// Header carries the token ("Authorization" when empty), after Scheme
	// and a space ("Bearer" when empty; NoScheme sends the bare token).
	Header, Scheme string
	NoScheme       bool
	// Query, when set, sends the token as this query parameter instead.
	Query string
	// Client sends REST probes; nil means a client with Timeout.
	Client *http.Client
	// Timeout bounds the probe; zero means DefaultTimeout.
	Timeout time.Duration
}

// Parse checks raw and returns a Prober for it with the defaults.
func Parse(raw string) (*Prober, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrURL, err)
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	default:
		return nil, fmt.Errorf("%w: %q: want http(s):// or ws(s)://", ErrURL, u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: %q has no host", ErrURL, u.Redacted())
	}
	return &Prober{URL: u}, nil
}

// Result is what the upstream answered to an accepted token.
type Result struct {
	Status  int
	Elapsed time.Duration
}

// Probe sends the request with tok. It returns the upstream's status when
// the token is accepted; otherwise an error wrapping ErrRefused or
// ErrInconclusive that names the URL (without its query) and the status.
func (p *Prober) Probe(ctx context.Context, tok string) (Result, error) {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u, h := p.request(tok)
	start := time.Now()
	var status int
	var err error
	if p.URL.Scheme == "ws" || p.URL.Scheme == "wss" {
		status, err = p.websocket(ctx, u, h)
	} else {
		status, err = p.rest(ctx, u, h)
	}
	res := Result{Status: status, Elapsed: time.Since(start)}
	where := p.where()
	switch {
	case err != nil:
		return res, fmt.Errorf("%w: %s: %s", ErrInconclusive, where, clean(err, tok))
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return res, fmt.Errorf("%w: %s answered %d %s", ErrRefused, where, status, http.StatusText(status))
	case status >= 200 && status < 300, status == http.StatusSwitchingProtocols:
		return res, nil
	}
	return res, fmt.Errorf("%w: %s answered %d %s", ErrInconclusive, where, status, http.StatusText(status))
}

// where names the URL without its query or user info, for messages.
func (p *Prober) where() string {
	u := *p.URL
	u.RawQuery, u.User, u.Fragment = "", nil, ""
	return "GET " + u.String()
}

// request returns the URL and header that carry tok.
func (p *Prober) request(tok string) (string, http.Header) {
	u := *p.URL
	h := http.Header{}
	if p.Query != "" {
		q := u.Query()
		q.Set(p.Query, tok)
		u.RawQuery = q.Encode()
		return u.String(), h
	}
	name, scheme := p.Header, p.Scheme
	if name == "" {
		name = "Authorization"
	}
	if scheme == "" && !p.NoScheme {
		scheme = "Bearer"
	}
	if scheme != "" {
		tok = scheme + " " + tok
	}
	h.Set(name, tok)
	return u.String(), h
}

func (p *Prober) rest(ctx context.Context, u string, h http.Header) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header = h
	c := p.Client
	if c == nil {
		c = &http.Client{}
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	return resp.StatusCode, nil
}

func (p *Prober) websocket(ctx context.Context, u string, h http.Header) (int, error) {
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: h, HTTPClient: p.Client})
	if err != nil {
		if resp != nil && resp.StatusCode != 0 {
			return resp.StatusCode, nil // refused in the handshake: the status says why
		}
		return 0, err
	}
	conn.Close(websocket.StatusNormalClosure, "voicetoken probe")
	return http.StatusSwitchingProtocols, nil
}

// clean describes err without the URL (which may carry the token in its
// query) and without tok itself.
func clean(err error, tok string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return strings.ReplaceAll(err.Error(), tok, "<token>")
}
