package credential

import "time"

// Ticker drives a Source's periodic work: the file: poll, the exec: and
// vault: refresh, and the renewal of a vault: source's Vault token. The
// Source calls Done after the work one tick started has finished, so a
// test can drive a poll and know when it is over (setec's PollTicker).
// Without one the Source uses time's own timers. credentialtest.Ticker
// is the fake.
type Ticker interface {
	Chan() <-chan time.Time
	Stop()
	Done()
}

// schedule is a timer whose next delay is computed after each fire (the
// exec: and vault: refresh), or a Ticker when one is injected: then each
// tick fires it and the computed delays are ignored.
type schedule struct {
	timer    *time.Timer
	injected Ticker
}

func newSchedule(injected Ticker, first time.Duration) *schedule {
	if injected != nil {
		return &schedule{injected: injected}
	}
	return &schedule{timer: time.NewTimer(first)}
}

func (s *schedule) C() <-chan time.Time {
	if s.injected != nil {
		return s.injected.Chan()
	}
	return s.timer.C
}

// next arms the timer for d, or tells an injected Ticker the tick's work
// is done.
func (s *schedule) next(d time.Duration) {
	if s.injected != nil {
		s.injected.Done()
		return
	}
	s.timer.Reset(d)
}

func (s *schedule) stop() {
	if s.timer != nil {
		s.timer.Stop()
	}
}
