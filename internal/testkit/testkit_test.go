package testkit_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"voicetoken/internal/testkit"
)

// fakeT records a failure instead of ending the goroutine.
type fakeT struct {
	testing.TB
	failed string
}

func (f *fakeT) Helper()                        {}
func (f *fakeT) Fatalf(format string, a ...any) { f.failed = fmt.Sprintf(format, a...) }

func TestEventually(t *testing.T) {
	tests := []struct {
		name     string
		trueFrom int32 // the call from which cond holds; 0: never
		wantFail bool
	}{
		{name: "holds at once", trueFrom: 1},
		{name: "holds on the fifth poll", trueFrom: 5},
		{name: "never holds", trueFrom: 0, wantFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			f := &fakeT{TB: t}
			testkit.Eventually(f, 200*time.Millisecond, "the thing", func() bool {
				n := calls.Add(1)
				return tt.trueFrom > 0 && n >= tt.trueFrom
			})
			if got := f.failed != ""; got != tt.wantFail {
				t.Fatalf("failed %v (%q), want %v", got, f.failed, tt.wantFail)
			}
			if tt.wantFail && !strings.Contains(f.failed, "the thing") {
				t.Errorf("failure %q does not say what it waited for", f.failed)
			}
			if !tt.wantFail && calls.Load() != tt.trueFrom {
				t.Errorf("cond called %d times, want %d (polling must stop once it holds)", calls.Load(), tt.trueFrom)
			}
		})
	}
}

func TestToken(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	a, b := testkit.TokenExp(t, now, time.Hour), testkit.TokenExp(t, now, time.Hour)
	if a == b {
		t.Fatal("two calls gave the same token: jti and signature must be random")
	}
	parts := strings.Split(a, ".")
	if len(parts) != 3 {
		t.Fatalf("%d segments, want 3", len(parts))
	}
	var claims map[string]any
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(p, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["exp"] != float64(now.Add(time.Hour).Unix()) || claims["iss"] != "podium" || claims["jti"] == "" {
		t.Errorf("claims %v", claims)
	}
	fixed := strings.Split(testkit.Token(t, map[string]any{"jti": "fixed"}), ".")[1]
	if p, _ := base64.RawURLEncoding.DecodeString(fixed); !strings.Contains(string(p), `"jti":"fixed"`) {
		t.Errorf("a given jti is not kept: %s", p)
	}
}
