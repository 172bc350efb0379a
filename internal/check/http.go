package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
)

// maxBody bounds every response body a check reads.
const maxBody = 1 << 20

// NewHTTPClient returns the client checks use: no proxy (every target is
// an operator's own service, usually on loopback), no client-wide timeout
// (each check's context bounds it), and no redirects followed silently
// beyond a few.
func NewHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConnsPerHost = 4
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("more than 3 redirects")
			}
			return nil
		},
	}
}

// ErrBadURL means a URL is not one a check can use.
var ErrBadURL = errors.New("bad URL")

// HTTPURL turns a LiveKit URL as clients use it (ws://, wss://) into the
// URL of its HTTP API (http://, https://), without a trailing slash.
// http and https are accepted as they are.
func HTTPURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("%w: %q does not parse", ErrBadURL, raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
		u.Scheme = "http"
	case "wss", "https":
		u.Scheme = "https"
	default:
		return "", fmt.Errorf("%w: %q: scheme must be ws, wss, http or https", ErrBadURL, raw)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: %q: want scheme://host[:port][/path]", ErrBadURL, raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	out := u.String()
	// url.Parse accepts hosts its own String cannot give back ("ws://::").
	if again, err := url.Parse(out); err != nil || again.Host != u.Host {
		return "", fmt.Errorf("%w: %q: bad host", ErrBadURL, raw)
	}
	return out, nil
}

// fetch does one request and returns status and body (at most maxBody).
func fetch(ctx context.Context, client *http.Client, method, target, bearer string, body io.Reader) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("User-Agent", "voicetoken-check")
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, DescribeNetErr(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp, nil, DescribeNetErr(ctx, err)
	}
	return resp, data, nil
}

// DescribeNetErr turns a client error into the short reason an operator
// needs: "connection refused", "no answer within 5s", "cannot resolve
// host". The URL is not repeated: the check's detail names it.
func DescribeNetErr(ctx context.Context, err error) error {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("connection refused (nothing listening)")
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return errors.New("no answer before the check's timeout")
	case errors.Is(err, context.Canceled):
		return errors.New("cancelled")
	case errors.As(err, &dnsErr):
		return fmt.Errorf("cannot resolve host %q", dnsErr.Name)
	case errors.Is(err, syscall.ECONNRESET):
		return errors.New("connection reset")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
