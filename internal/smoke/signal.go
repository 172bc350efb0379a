package smoke

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"

	"github.com/coder/websocket"

	"voicetoken/internal/check"
)

// Protocol is the LiveKit signal protocol version we speak: the one of
// LiveKit's Go SDK v2.13.0, whose flow (two peer connections, subscriber
// primary, data over "_reliable") this client follows.
const Protocol = 16

// maxSignalMessage bounds one message from LiveKit. A JoinResponse lists
// every participant of the room; 1 MiB is hundreds of them.
const maxSignalMessage = 1 << 20

// Errors a join can end with; errors.Is finds them under the context.
var (
	// ErrUnreachable means nothing answered at the LiveKit URL.
	ErrUnreachable = errors.New("LiveKit is not reachable")
	// ErrRefused means LiveKit answered the WebSocket handshake with an
	// HTTP error (401 for a bad token) instead of upgrading.
	ErrRefused = errors.New("LiveKit refused the join")
	// ErrProtocol means LiveKit said something the protocol does not
	// allow at that point (no JoinResponse first, a leave, a bad SDP).
	ErrProtocol = errors.New("unexpected answer from LiveKit")
)

// endpoint is a LiveKit server as a client sees it: the ws(s) URL of its
// signal endpoint and the http(s) URL of its HTTP API, same host.
type endpoint struct {
	ws, http string // without a trailing slash
	loopback bool   // the host is a loopback address
}

// parseEndpoint accepts a LiveKit URL as clients and check take it:
// ws://, wss://, http:// or https://, host and optional path prefix.
func parseEndpoint(raw string) (endpoint, error) {
	h, err := check.HTTPURL(raw)
	if err != nil {
		return endpoint{}, err
	}
	u, err := url.Parse(h)
	if err != nil { // HTTPURL has parsed it already
		return endpoint{}, fmt.Errorf("%w: %q does not parse", check.ErrBadURL, raw)
	}
	ws := "ws" + strings.TrimPrefix(h, "http")
	return endpoint{ws: ws, http: h, loopback: isLoopbackHost(u.Hostname())}, nil
}

// isLoopbackHost reports whether host names this machine only.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// query is what the signal endpoint is told about us, as LiveKit's Go
// SDK sends it. The access token is not in it: it travels in the
// Authorization header, so no URL we build or print can carry it.
func query(version string, subscribe bool) url.Values {
	auto := "0" // no media: data channels need no subscription
	if subscribe {
		auto = "1" // the participant that hears the agent
	}
	return url.Values{
		"protocol":       {strconv.Itoa(Protocol)},
		"auto_subscribe": {auto},
		"sdk":            {"go"},
		"version":        {version},
		"os":             {runtime.GOOS},
	}
}

// newSignalClient returns the HTTP client for the WebSocket handshake and
// /rtc/validate: HTTP/1.1 only (a WebSocket upgrade cannot ride on
// HTTP/2), no proxy (LiveKit is the operator's own service, as for
// check), each call bounded by its context.
func newSignalClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	return &http.Client{Transport: tr}
}

// dialSignal opens the signal WebSocket with tok as a bearer token. On
// an HTTP error it asks /rtc/validate for LiveKit's own reason, as
// LiveKit's JS client does, because the upgrade's answer is cut short.
func dialSignal(ctx context.Context, client *http.Client, ep endpoint, tok, version string, subscribe bool) (*websocket.Conn, error) {
	q := query(version, subscribe).Encode()
	hdr := http.Header{"Authorization": {"Bearer " + tok}}
	ws, resp, err := websocket.Dial(ctx, ep.ws+"/rtc?"+q, &websocket.DialOptions{HTTPClient: client, HTTPHeader: hdr})
	if err == nil {
		ws.SetReadLimit(maxSignalMessage)
		return ws, nil
	}
	if resp == nil || resp.StatusCode == http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, ep.http, check.DescribeNetErr(ctx, err))
	}
	var upgradeBody []byte
	if resp.Body != nil {
		upgradeBody, _ = io.ReadAll(io.LimitReader(resp.Body, 1024))
	}
	reason := validate(ctx, client, ep, hdr, q)
	if reason == "" {
		reason = firstLine(upgradeBody)
	}
	if reason == "" {
		reason = http.StatusText(resp.StatusCode)
	}
	// The reason is LiveKit's text: it can echo the token ("invalid
	// token: eyJ..., error: ..."), so it is redacted here and again by
	// the runner.
	return nil, fmt.Errorf("%w (%d): %s", ErrRefused, resp.StatusCode, check.Redact(reason))
}

// validate asks GET /rtc/validate why a join is refused; "" if it cannot
// tell.
func validate(ctx context.Context, client *http.Client, ep endpoint, hdr http.Header, q string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.http+"/rtc/validate?"+q, nil)
	if err != nil {
		return ""
	}
	req.Header = hdr.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusOK {
		return "" // valid now: the refusal was something else
	}
	return firstLine(body)
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(line)
}
