package main

import (
	"bytes"
	"testing"
	"time"

	"voicetoken/internal/check"
	"voicetoken/internal/smoke"
)

// TestWriteSmoke renders made-up outcomes: one room with the voice
// figures, and several rooms (one failed) as the table and as JSON.
func TestWriteSmoke(t *testing.T) {
	ok := smoke.Outcome{
		Room: "smoke-1",
		Results: []check.Result{
			{Name: "join a", Status: check.OK, Duration: 120 * time.Millisecond},
			{Name: "greeting", Status: check.OK, Detail: "heard 1.53s", Duration: 800 * time.Millisecond},
		},
		Figures: smoke.Figures{Join: 120 * time.Millisecond, Greeting: 800 * time.Millisecond, GreetingLength: 1534 * time.Millisecond,
			Reply: 950 * time.Millisecond, HasJoin: true, HasGreeting: true, HasReply: true},
		Records: []string{"/tmp/heard/smoke-1-greeting.ogg"},
	}
	failed := smoke.Outcome{
		Room: "smoke-2",
		Results: []check.Result{
			{Name: "join a", Status: check.OK, Duration: 130 * time.Millisecond},
			{Name: "agent", Status: check.Fail, Detail: "no agent joined within 20s"},
			{Name: "greeting", Status: check.Skipped},
		},
		Figures: smoke.Figures{Join: 130 * time.Millisecond, HasJoin: true},
	}
	tests := []struct {
		name   string
		outs   []smoke.Outcome
		asJSON bool
		golden string
	}{
		{name: "one room", outs: []smoke.Outcome{ok}, golden: "write_one.golden"},
		{name: "one room json", outs: []smoke.Outcome{ok}, asJSON: true, golden: "write_one.golden.json"},
		{name: "rooms", outs: []smoke.Outcome{ok, failed}, golden: "write_rooms.golden"},
		{name: "rooms json", outs: []smoke.Outcome{ok, failed}, asJSON: true, golden: "write_rooms.golden.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			e := &env{stdout: &out, stderr: &bytes.Buffer{}, getenv: func(string) string { return "" }, now: func() time.Time { return testNow }}
			if err := writeSmoke(e, tc.outs, tc.asJSON); err != nil {
				t.Fatal(err)
			}
			smokeGolden(t, tc.golden, out.String())
		})
	}
}
