package upstream_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
)

// fakeUpstream is the platform: it accepts the tokens in valid and
// answers 401 (or 403 for a token in forbidden) to anything else. /ws is
// a WebSocket echo that closes with 4001 for a bad token; /ws-reject
// refuses the handshake with 401 instead.
type fakeUpstream struct {
	*httptest.Server
	mu        sync.Mutex
	valid     map[string]bool
	forbidden map[string]bool
	seen      []string // the Authorization (or ?token=) values received
	onRequest func(r *http.Request, tok string)
}

func newFakeUpstream(t *testing.T, valid ...string) *fakeUpstream {
	f := &fakeUpstream{valid: map[string]bool{}, forbidden: map[string]bool{}}
	for _, v := range valid {
		f.valid[v] = true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		ok := f.check(r) == http.StatusOK
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		if !ok {
			c.Close(4001, "invalid token")
			return
		}
		ctx := r.Context()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/ws-reject", func(w http.ResponseWriter, r *http.Request) {
		if code := f.check(r); code != http.StatusOK {
			http.Error(w, "unauthorized", code)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err == nil {
			c.Close(websocket.StatusNormalClosure, "")
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if code := f.check(r); code != http.StatusOK {
			http.Error(w, `{"error":"unauthorized"}`, code)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true,"path":"` + r.URL.Path + `"}`))
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeUpstream) check(r *http.Request) int {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if q := r.URL.Query().Get("token"); q != "" {
		tok = q
	}
	f.mu.Lock()
	f.seen = append(f.seen, tok)
	valid, forbidden, hook := f.valid[tok], f.forbidden[tok], f.onRequest
	f.mu.Unlock()
	if hook != nil {
		hook(r, tok)
	}
	switch {
	case valid:
		return http.StatusOK
	case forbidden:
		return http.StatusForbidden
	}
	return http.StatusUnauthorized
}

func (f *fakeUpstream) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) == 0 {
		return ""
	}
	return f.seen[len(f.seen)-1]
}

func wsURL(base string) string { return "ws" + strings.TrimPrefix(base, "http") }
