package server

import (
	"net"
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestConnWatchLimits drives the sweep tick by tick: a connection is closed
// at the first tick where it is certainly over its phase's limit, never
// before, and each close is counted under its phase.
func TestConnWatchLimits(t *testing.T) {
	const tick = 10 * time.Millisecond
	// Limits of 80, 160 and 400 ms: the tick is the shortest over 8.
	header, active, idle := 8*tick, 16*tick, 40*tick
	tests := []struct {
		name  string
		phase connPhase
		limit time.Duration
	}{
		{"header", phaseHeader, header},
		{"active", phaseActive, active},
		{"idle", phaseIdle, idle},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var closed [phaseCount]int
			var onClose [phaseCount]func()
			for p := range onClose {
				onClose[p] = func() { closed[p]++ }
			}
			w := newConnWatch(header, active, idle, onClose)
			if w.tick != tick {
				t.Fatalf("tick %s, want %s", w.tick, tick)
			}
			c, peer := watchedPipe(t, w)
			w.clock.Store(100)
			c.state.Store(w.stamp(tc.phase))
			// Stamped somewhere inside tick 100: at tick n it is at least
			// n-101 ticks old. The first tick where that reaches the limit:
			first := int64(100 + 1 + tc.limit/tick)
			for now := int64(100); now < first; now++ {
				w.sweep(now)
				if closed[tc.phase] != 0 || w.watching() != 1 {
					t.Fatalf("closed at tick %d, %s after its stamp at most: early (limit %s)", now, time.Duration(now-100)*tick, tc.limit)
				}
			}
			if min := time.Duration(first-101) * tick; min < tc.limit {
				t.Fatalf("test bug: first close at tick %d is only %s certain", first, min)
			}
			w.sweep(first)
			want := [phaseCount]int{}
			want[tc.phase] = 1
			if closed != want {
				t.Fatalf("at tick %d: closes by phase %v, want one in %s", first, closed, tc.name)
			}
			if w.watching() != 0 {
				t.Fatal("a closed connection is still watched")
			}
			peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := peer.Read(make([]byte, 1)); err == nil {
				t.Fatal("the peer can still read: the connection was not closed")
			}
		})
	}
}

// TestConnWatchPhases follows one connection through net/http's hooks: a
// byte of the next request moves it from idle to header, the hooks move it
// to active and idle, and a close or hijack forgets it.
func TestConnWatchPhases(t *testing.T) {
	w := newConnWatch(time.Second, time.Second, time.Second, [phaseCount]func(){})
	c, peer := watchedPipe(t, w)
	phase := func() connPhase { _, p := unpack(c.state.Load()); return p }
	if phase() != phaseHeader {
		t.Fatalf("accepted in phase %d, want header", phase())
	}
	w.connState(c, http.StateActive)
	if phase() != phaseActive {
		t.Fatalf("after StateActive: %d", phase())
	}
	w.connState(c, http.StateIdle)
	w.clock.Store(7)
	go peer.Write([]byte("G"))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if since, p := unpack(c.state.Load()); p != phaseHeader || since != 7 {
		t.Fatalf("after a byte while idle: phase %d since %d, want header since 7", p, since)
	}
	w.connState(c, http.StateActive)
	go peer.Write([]byte("E")) // a pipelined byte read by net/http's background read
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if phase() != phaseActive {
		t.Fatalf("a byte while active changed the phase to %d", phase())
	}
	for _, cs := range []http.ConnState{http.StateClosed, http.StateHijacked} {
		c2, _ := watchedPipe(t, w)
		w.connState(c2, cs)
	}
	w.connState(c, http.StateClosed)
	if n := w.watching(); n != 0 {
		t.Fatalf("%d connections still watched after close and hijack", n)
	}
}

func TestConnWatchTick(t *testing.T) {
	for _, tc := range []struct {
		header, active, idle, want time.Duration
	}{
		{5 * time.Second, 10 * time.Second, 60 * time.Second, 625 * time.Millisecond},
		{time.Minute, time.Minute, time.Minute, time.Second},
		{time.Millisecond, time.Second, time.Second, 5 * time.Millisecond},
	} {
		if got := newConnWatch(tc.header, tc.active, tc.idle, [phaseCount]func(){}).tick; got != tc.want {
			t.Errorf("limits %s/%s/%s: tick %s, want %s", tc.header, tc.active, tc.idle, got, tc.want)
		}
	}
}

// watching reports how many connections w watches.
func (w *connWatch) watching() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.conns)
}

// watchedPipe accepts one end of a pipe through w's listener.
func watchedPipe(t *testing.T, w *connWatch) (*watchedConn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	ln := w.listener(&oneConnListener{c: a})
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return nc.(*watchedConn), b
}

type oneConnListener struct {
	net.Listener
	c net.Conn
}

func (l *oneConnListener) Accept() (net.Conn, error) { return l.c, nil }

// TestWatchedConnDeadlines: clearing a deadline that is not set never
// reaches the connection; setting one always does, and so does the
// clearing after it (net/http's abortPendingRead: aLongTimeAgo, then zero).
func TestWatchedConnDeadlines(t *testing.T) {
	past := time.Unix(1, 0)
	type call struct {
		op string // "r", "w" or "rw"
		t  time.Time
	}
	tests := []struct {
		name  string
		calls []call
		want  []string // calls that reach the connection
	}{
		{"clears of nothing", []call{{"r", time.Time{}}, {"w", time.Time{}}, {"rw", time.Time{}}}, nil},
		{"abort a background read", []call{{"r", time.Time{}}, {"r", past}, {"r", time.Time{}}, {"r", time.Time{}}},
			[]string{"r set", "r clear"}},
		{"POST body deadline", []call{{"r", past.Add(time.Hour)}, {"w", time.Time{}}, {"r", time.Time{}}},
			[]string{"r set", "r clear"}},
		{"read and write apart", []call{{"w", past}, {"r", time.Time{}}, {"w", time.Time{}}, {"w", time.Time{}}},
			[]string{"w set", "w clear"}},
		{"both", []call{{"rw", past}, {"r", time.Time{}}, {"w", time.Time{}}, {"rw", time.Time{}}},
			[]string{"rw set", "r clear", "w clear"}},
		{"both, cleared at once", []call{{"r", past}, {"rw", time.Time{}}, {"r", time.Time{}}, {"w", time.Time{}}},
			[]string{"r set", "rw clear"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &deadlineConn{}
			c := &watchedConn{Conn: rec}
			for _, cl := range tt.calls {
				var err error
				switch cl.op {
				case "r":
					err = c.SetReadDeadline(cl.t)
				case "w":
					err = c.SetWriteDeadline(cl.t)
				default:
					err = c.SetDeadline(cl.t)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(rec.calls, tt.want) {
				t.Errorf("reached the connection: %q, want %q", rec.calls, tt.want)
			}
		})
	}
}

// deadlineConn records the deadline calls that reach it.
type deadlineConn struct {
	net.Conn
	calls []string
}

func (d *deadlineConn) record(op string, t time.Time) error {
	if t.IsZero() {
		d.calls = append(d.calls, op+" clear")
	} else {
		d.calls = append(d.calls, op+" set")
	}
	return nil
}
func (d *deadlineConn) SetReadDeadline(t time.Time) error  { return d.record("r", t) }
func (d *deadlineConn) SetWriteDeadline(t time.Time) error { return d.record("w", t) }
func (d *deadlineConn) SetDeadline(t time.Time) error      { return d.record("rw", t) }
