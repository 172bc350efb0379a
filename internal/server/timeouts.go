package server

import (
	"errors"
	"net"
	"net/http"
	"os"
	"sync/atomic"
)

// The timeouts are net/http's own (see Serve): ReadHeaderTimeout for a
// request's header, WriteTimeout from the end of the header to the end of
// the answer, IdleTimeout between requests, and a per-request read
// deadline on a POST body (issue). This file only counts the connections
// those deadlines end, in voicetoken_http_timeouts_total{phase}.
//
// net/http closes a connection whose deadline passed without a word, so
// the count is taken where the deadline shows: a read or write on the
// connection that fails with os.ErrDeadlineExceeded, classified by the
// connection's state from the ConnState hook:
//
//   - header: a read fails before the first request's header is read, or
//     after a byte of the next request arrived on a kept-alive connection;
//   - idle: a read fails on a kept-alive connection with no byte of the
//     next request;
//   - active: a write fails (the client does not read its answer).
//
// A read that fails while a request is active is not counted: net/http
// ends its own background read that way, and a POST body too slow for
// its deadline is answered 400 and counted as a denial. Each connection
// is counted at most once.

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

// timeoutCounter wraps accepted connections so that a deadline net/http
// set, once passed, is counted under its phase.
type timeoutCounter struct {
	counted [phaseCount]func() // may be nil
}

// listener wraps ln so every accepted connection is counted.
func (tc *timeoutCounter) listener(ln net.Listener) net.Listener { return countedListener{ln, tc} }

// connState is the http.Server's ConnState hook.
func (tc *timeoutCounter) connState(nc net.Conn, cs http.ConnState) {
	c, ok := nc.(*countedConn)
	if !ok {
		return
	}
	switch cs {
	case http.StateActive:
		c.state.Store(stateActive)
	case http.StateIdle:
		c.state.Store(stateIdle)
	}
}

// A countedConn's state; stateIdleRead is idle with a byte of the next
// request read.
const (
	stateNew int32 = iota
	stateActive
	stateIdle
	stateIdleRead
	stateCounted
)

type countedListener struct {
	net.Listener
	tc *timeoutCounter
}

func (l countedListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: nc, tc: l.tc}, nil
}

// countedConn is an accepted connection and its state.
type countedConn struct {
	net.Conn
	tc    *timeoutCounter
	state atomic.Int32
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.state.Load() == stateIdle {
		c.state.CompareAndSwap(stateIdle, stateIdleRead)
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		switch c.state.Load() {
		case stateNew, stateIdleRead:
			c.count(phaseHeader)
		case stateIdle:
			c.count(phaseIdle)
		}
	}
	return n, err
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.count(phaseActive)
	}
	return n, err
}

// count counts the connection's timeout once.
func (c *countedConn) count(p connPhase) {
	if c.state.Swap(stateCounted) == stateCounted {
		return
	}
	if f := c.tc.counted[p]; f != nil {
		f()
	}
}

// CloseWrite keeps net/http's half-close (after a refused oversized
// body) working through the wrapper.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
