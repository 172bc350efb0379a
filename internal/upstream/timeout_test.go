package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/upstream"
)

// hangingBase answers no request: it returns when the request's context
// ends, as a transport does.
type hangingBase struct{}

func (hangingBase) RoundTrip(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// TestResponseHeaderTimeout: an upstream that sends no headers fails with
// ErrTimeout naming the bound, whether the Transport's timer or its base
// (NewBaseTransport) bounds the wait; the caller's own cancellation is
// not a timeout.
func TestResponseHeaderTimeout(t *testing.T) {
	l := newLogs(t)
	hang := httptest.NewServer(l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })))
	defer hang.Close()
	tok := tokenExp(t, time.Now(), time.Hour)
	l.Secret(tok)
	tests := []struct {
		name        string
		base        http.RoundTripper
		timeout     time.Duration
		callerEnds  bool
		wantTimeout bool
		wantMsg     string
	}{
		{name: "timer", base: hangingBase{}, timeout: 50 * time.Millisecond, wantTimeout: true, wantMsg: "no response headers within 50ms"},
		{name: "base bounds the wait", base: upstream.NewBaseTransport(50 * time.Millisecond), timeout: time.Minute, wantTimeout: true, wantMsg: "no response headers within 1m0s"},
		{name: "caller cancels, timer", base: hangingBase{}, timeout: time.Minute, callerEnds: true},
		{name: "caller cancels, base", base: upstream.NewBaseTransport(time.Minute), timeout: time.Minute, callerEnds: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &upstream.Transport{Source: newStatic(t, tok), Base: tt.base, ResponseHeaderTimeout: tt.timeout}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.callerEnds {
				cancel()
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, hang.URL+"/x", nil)
			resp, err := tr.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
				t.Fatal("no error")
			}
			if got := errors.Is(err, upstream.ErrTimeout); got != tt.wantTimeout {
				t.Fatalf("errors.Is(%v, ErrTimeout) = %v, want %v", err, got, tt.wantTimeout)
			}
			l.NoSecret(err)
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q, want it to say %q", err, tt.wantMsg)
			}
		})
	}
}
