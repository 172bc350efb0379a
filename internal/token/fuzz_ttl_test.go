package token_test

import (
	"errors"
	"testing"
	"time"

	"voicetoken/internal/token"
)

// FuzzParseTTL: the ttl parser (?ttl= of the token API, --ttl, policy
// durations) never panics; it accepts only a positive validity of at
// least a second and at most a century, and refuses with ErrInvalidTTL.
func FuzzParseTTL(f *testing.F) {
	for _, s := range []string{"48", "0.5", "10m", "6h", "-1", "0", "NaN", "Inf", "1e400", "1ns", "9999999999h", "0x10", " 1", "876000", "876001", "877000h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := token.ParseTTL(s)
		if err != nil {
			if !errors.Is(err, token.ErrInvalidTTL) {
				t.Fatalf("%q: error without ErrInvalidTTL: %v", s, err)
			}
			return
		}
		if d < time.Second || d > 100*365*24*time.Hour {
			t.Fatalf("%q accepted as %s", s, d)
		}
	})
}
