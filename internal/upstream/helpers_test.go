package upstream_test

import (
	"sync/atomic"
	"testing"
	"time"

	"voicetoken/internal/credential"
	"voicetoken/internal/logscan"
	"voicetoken/internal/testkit"
	"voicetoken/internal/token"
)

// The shared helpers live in internal/logscan.
type logs = logscan.Logs

var (
	newLogs    = logscan.New
	tokenExp   = testkit.TokenExp
	eventually = testkit.Eventually
)

// staticSource is a CredentialSource whose value the test swaps.
type staticSource struct {
	cur atomic.Pointer[credential.Credential]
}

func newStatic(t testing.TB, raw string) *staticSource {
	s := &staticSource{}
	s.set(t, raw)
	return s
}

func (s *staticSource) set(t testing.TB, raw string) {
	c, err := credential.Policy{}.Check(raw, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.cur.Store(c)
}

func (s *staticSource) Current() *credential.Credential { return s.cur.Load() }

func fp(s string) string { return token.Fingerprint(s) }
