package server

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// connWatch enforces the server's timeouts with one goroutine that looks
// at every connection a few times a second, instead of net/http's
// per-request deadlines. With ReadHeaderTimeout, ReadTimeout, WriteTimeout
// and IdleTimeout set, net/http re-arms a runtime timer four times and reads
// the clock four times for every request on a keep-alive connection; on
// this project's benchmark that was 7% of throughput. Here a request costs
// two atomic stores (the ConnState hook) and an atomic load per read.
//
// The limits, measured in whole ticks so a connection is never closed
// early and at most two ticks late:
//
//   - header: from accept, or from the first byte of the next request on a
//     kept-alive connection, to the end of the request header
//     (ReadHeaderTimeout; slowloris).
//   - active: from the end of the header to the end of the response
//     (WriteTimeout, net/http's meaning: a client that does not read its
//     answer, a handler that hangs). The body of a POST is also bounded
//     by ReadTimeout, with a deadline set where it is read.
//   - idle: between requests on a kept-alive connection (IdleTimeout).
//
// A connection over its limit is closed, which also ends a read or write
// blocked on it, and counted in voicetoken_http_timeouts_total.
type connWatch struct {
	limits [phaseCount]int64 // in ticks
	tick   time.Duration
	clock  atomic.Int64 // ticks since start
	closed [phaseCount]func()

	mu    sync.Mutex
	conns map[*watchedConn]struct{}
}

// connPhase is where a connection is in its request cycle.
type connPhase uint8

const (
	phaseHeader connPhase = iota // a request header is awaited or arriving
	phaseActive                  // header read: body, handler, response
	phaseIdle                    // kept alive, no byte of the next request yet
	phaseCount
)

// String labels the timeouts metric.
func (p connPhase) String() string {
	switch p {
	case phaseHeader:
		return "header"
	case phaseActive:
		return "active"
	case phaseIdle:
		return "idle"
	}
	return "unknown"
}

// newConnWatch returns a watch for the given limits; onClose[p] (may be
// nil) runs for each connection closed in phase p.
func newConnWatch(header, active, idle time.Duration, onClose [phaseCount]func()) *connWatch {
	tick := min(header, active, idle) / 8
	tick = max(5*time.Millisecond, min(tick, time.Second))
	w := &connWatch{tick: tick, closed: onClose, conns: map[*watchedConn]struct{}{}}
	for p, d := range [phaseCount]time.Duration{header, active, idle} {
		// An event stamped at tick k happened before tick k+1 began, so at
		// tick n it is at least n-k-1 ticks old: closing when n-k reaches
		// the limit's round-up plus one is never early.
		w.limits[p] = int64((d+tick-1)/tick) + 1
	}
	return w
}

// pack and unpack keep a connection's phase and the tick it began in one
// word, so the sweeper never sees a phase with another phase's start.
func pack(tick int64, p connPhase) uint64     { return uint64(tick)<<2 | uint64(p) }
func unpack(s uint64) (int64, connPhase)      { return int64(s >> 2), connPhase(s & 3) }
func (w *connWatch) stamp(p connPhase) uint64 { return pack(w.clock.Load(), p) }

// listener wraps ln so every accepted connection is watched.
func (w *connWatch) listener(ln net.Listener) net.Listener { return watchedListener{ln, w} }

// connState is the http.Server's ConnState hook.
func (w *connWatch) connState(nc net.Conn, cs http.ConnState) {
	c, ok := nc.(*watchedConn)
	if !ok {
		return
	}
	switch cs {
	case http.StateActive:
		c.state.Store(w.stamp(phaseActive))
	case http.StateIdle:
		c.state.Store(w.stamp(phaseIdle))
	case http.StateClosed, http.StateHijacked:
		w.mu.Lock()
		delete(w.conns, c)
		w.mu.Unlock()
	}
}

// run ticks and sweeps until stop is closed.
func (w *connWatch) run(stop <-chan struct{}) {
	t := time.NewTicker(w.tick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.sweep(w.clock.Add(1))
		case <-stop:
			return
		}
	}
}

// sweep closes every connection over its phase's limit at tick now.
func (w *connWatch) sweep(now int64) {
	type overdue struct {
		c *watchedConn
		p connPhase
	}
	var over []overdue
	w.mu.Lock()
	for c := range w.conns {
		since, p := unpack(c.state.Load())
		if now-since >= w.limits[p] {
			over = append(over, overdue{c, p})
			delete(w.conns, c)
		}
	}
	w.mu.Unlock()
	// Closed outside the lock: Close may block, hooks may want the lock.
	for _, o := range over {
		o.c.Conn.Close()
		if f := w.closed[o.p]; f != nil {
			f()
		}
	}
}

type watchedListener struct {
	net.Listener
	w *connWatch
}

func (l watchedListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &watchedConn{Conn: nc, w: l.w}
	c.state.Store(l.w.stamp(phaseHeader))
	l.w.mu.Lock()
	l.w.conns[c] = struct{}{}
	l.w.mu.Unlock()
	return c, nil
}

// watchedConn is an accepted connection and its packed phase.
type watchedConn struct {
	net.Conn
	w     *connWatch
	state atomic.Uint64

	// dl guards deadlines: which of readDeadline and writeDeadline are
	// set on Conn, so that clearing one that is not costs nothing.
	dl        sync.Mutex
	deadlines uint8
}

const (
	readDeadline = 1 << iota
	writeDeadline
)

// SetReadDeadline passes a deadline to the connection, but not the
// clearing of one that is not set. With its own timeouts off (connWatch
// keeps them), net/http still clears the read deadline three times and the
// write deadline once for every request; each clear takes the poller's
// lock. Deadlines net/http does set (aLongTimeAgo to stop its background
// read) and the POST body deadline go through, and so does the clearing
// that follows them.
func (c *watchedConn) SetReadDeadline(t time.Time) error { return c.setDeadline(readDeadline, t) }

// SetWriteDeadline is SetReadDeadline for writes.
func (c *watchedConn) SetWriteDeadline(t time.Time) error { return c.setDeadline(writeDeadline, t) }

// SetDeadline sets or clears both.
func (c *watchedConn) SetDeadline(t time.Time) error {
	return c.setDeadline(readDeadline|writeDeadline, t)
}

func (c *watchedConn) setDeadline(which uint8, t time.Time) error {
	c.dl.Lock()
	defer c.dl.Unlock()
	if t.IsZero() {
		if c.deadlines&which == 0 {
			return nil
		}
		c.deadlines &^= which
	} else {
		c.deadlines |= which
	}
	switch which {
	case readDeadline:
		return c.Conn.SetReadDeadline(t)
	case writeDeadline:
		return c.Conn.SetWriteDeadline(t)
	}
	return c.Conn.SetDeadline(t)
}

// Read moves an idle connection to the header phase when the first byte
// of its next request arrives, which starts the header limit.
func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		if s := c.state.Load(); connPhase(s&3) == phaseIdle {
			c.state.CompareAndSwap(s, c.w.stamp(phaseHeader))
		}
	}
	return n, err
}

// CloseWrite keeps net/http's half-close (after a refused oversized
// body) working through the wrapper.
func (c *watchedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
