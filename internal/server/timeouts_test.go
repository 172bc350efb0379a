package server

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// TestTimeoutCounterPhases drives a connection through net/http's
// ConnState hooks and lets a deadline pass: each timeout is counted once,
// under the phase the connection was in, and a read deadline passing
// while a request is active (net/http ending its background read) is not
// counted.
func TestTimeoutCounterPhases(t *testing.T) {
	tests := []struct {
		name   string
		states []http.ConnState
		byte   bool // a byte of the next request arrives first
		write  bool // the deadline passes on a write, not a read
		want   [phaseCount]int
	}{
		{name: "first header", want: [phaseCount]int{phaseHeader: 1}},
		{name: "idle", states: []http.ConnState{http.StateActive, http.StateIdle}, want: [phaseCount]int{phaseIdle: 1}},
		{name: "next header", states: []http.ConnState{http.StateActive, http.StateIdle}, byte: true, want: [phaseCount]int{phaseHeader: 1}},
		{name: "answer not read", states: []http.ConnState{http.StateActive}, write: true, want: [phaseCount]int{phaseActive: 1}},
		{name: "background read ended", states: []http.ConnState{http.StateActive}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [phaseCount]int
			tc := &timeoutCounter{}
			for p := range tc.counted {
				tc.counted[p] = func() { got[p]++ }
			}
			c, peer := countedPipe(t, tc)
			for _, cs := range tt.states {
				tc.connState(c, cs)
			}
			if tt.byte {
				go peer.Write([]byte("G"))
				if _, err := c.Read(make([]byte, 1)); err != nil {
					t.Fatal(err)
				}
			}
			c.SetDeadline(time.Unix(1, 0))
			for range 2 { // counted once
				var err error
				if tt.write {
					_, err = c.Write([]byte("x"))
				} else {
					_, err = c.Read(make([]byte, 1))
				}
				if err == nil {
					t.Fatal("no error after the deadline")
				}
			}
			if got != tt.want {
				t.Errorf("counted %v (header, active, idle), want %v", got, tt.want)
			}
		})
	}
}

// countedPipe accepts one end of a pipe through tc's listener.
func countedPipe(t *testing.T, tc *timeoutCounter) (*countedConn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	nc, err := tc.listener(&oneConnListener{c: a}).Accept()
	if err != nil {
		t.Fatal(err)
	}
	return nc.(*countedConn), b
}

type oneConnListener struct {
	net.Listener
	c net.Conn
}

func (l *oneConnListener) Accept() (net.Conn, error) { return l.c, nil }
