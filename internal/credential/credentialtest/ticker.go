// Package credentialtest holds test doubles for package credential: a
// Ticker that a test drives, one poll at a time, instead of waiting for
// time to pass.
package credentialtest

import (
	"context"
	"time"
)

// Ticker is a credential.Ticker a test drives: Poll sends one tick and
// returns once the Source has finished the work it started (setec's
// setectest.Ticker).
type Ticker struct {
	ch   chan time.Time
	done chan struct{}
}

// NewTicker returns a Ticker that fires only when Poll is called.
func NewTicker() *Ticker {
	return &Ticker{ch: make(chan time.Time), done: make(chan struct{}, 1)}
}

// Chan is what the Source waits on.
func (t *Ticker) Chan() <-chan time.Time { return t.ch }

// Stop does nothing: the test owns the ticks.
func (t *Ticker) Stop() {}

// Done is called by the Source after a tick's work. It never blocks, so
// a Source is not stuck by a test that stopped polling.
func (t *Ticker) Done() {
	select {
	case t.done <- struct{}{}:
	default:
	}
}

// Poll fires one tick and waits until the Source has done its work. It
// fails (returns false) when ctx ends first: the Source is not running.
func (t *Ticker) Poll(ctx context.Context) bool {
	select {
	case t.ch <- time.Now():
	case <-ctx.Done():
		return false
	}
	select {
	case <-t.done:
		return true
	case <-ctx.Done():
		return false
	}
}
