package upstream_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// TestAuthFailureCurrent: a WebSocket opened with the old token and
// closed by the platform after a rotation is reported with current=false
// (the new token was not refused), a refusal of the token in use with
// current=true, in the event and in the counter's label.
func TestAuthFailureCurrent(t *testing.T) {
	now := time.Now()
	oldTok, newTok := tokenExp(t, now, time.Hour), tokenExp(t, now, 2*time.Hour)
	l := newLogs(t)
	l.Secret(oldTok, newTok)
	closeNow := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.Write(r.Context(), websocket.MessageText, []byte("joined"))
		<-closeNow
		c.Close(4001, "token revoked")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	src := newStatic(t, oldTok)
	px, reg := proxyFor(t, l, &fakeUpstream{Server: srv}, src, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, wsURL(px)+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "joined" {
		t.Fatalf("read %q %v", msg, err)
	}
	src.set(t, newTok) // the rotation
	close(closeNow)
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != 4001 {
		t.Fatalf("close %v, want 4001", err)
	}
	eventually(t, 5*time.Second, "the websocket AUTH_FAILURE", func() bool { return len(l.Events("AUTH_FAILURE")) == 1 })
	if code, _ := get(t, px+"/v1/rooms", nil); code != 401 {
		t.Fatalf("REST status %d, want 401", code)
	}
	eventually(t, 5*time.Second, "the REST AUTH_FAILURE", func() bool { return len(l.Events("AUTH_FAILURE")) == 2 })
	tests := []struct {
		name        string
		event       map[string]any
		fingerprint string
		current     bool
		source      string
		status      string
	}{
		{name: "websocket of the superseded token", event: l.Events("AUTH_FAILURE")[0], fingerprint: fp(oldTok), current: false, source: "websocket", status: "4001"},
		{name: "REST with the current token", event: l.Events("AUTH_FAILURE")[1], fingerprint: fp(newTok), current: true, source: "rest", status: "401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.event["fingerprint"] != tt.fingerprint || tt.event["current"] != tt.current {
				t.Errorf("AUTH_FAILURE %v, want fingerprint %s current %v", tt.event, tt.fingerprint, tt.current)
			}
			if got := labelledCounter(t, reg, map[string]string{"source": tt.source, "status": tt.status, "current": map[bool]string{true: "true", false: "false"}[tt.current]}); got != 1 {
				t.Errorf("voicetoken_auth_failures_total{source=%q,status=%q,current=\"%v\"} = %v, want 1", tt.source, tt.status, tt.current, got)
			}
		})
	}
}

// labelledCounter is voicetoken_auth_failures_total with exactly these labels.
func labelledCounter(t *testing.T, reg *prometheus.Registry, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "voicetoken_auth_failures_total" {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(want) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if want[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
