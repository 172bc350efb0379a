package main

import (
	"fmt"
	"testing"
	"time"
)

func TestSmokeConfig(t *testing.T) {
	lk := map[string]string{"LIVEKIT_URL": "ws://127.0.0.1:7880"}
	tests := []configCase[smokeConfig]{
		{name: "LIVEKIT_URL and the defaults", environ: lk, check: func(t *testing.T, c smokeConfig) {
			if c.run.URL != "ws://127.0.0.1:7880" || c.rooms != 1 || c.asJSON || c.run.Agent != "" || c.run.Timeout <= 0 {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "flags", environ: lk, args: []string{"--livekit-url", "wss://lk.example.com", "--agent", "a", "--agent-timeout", "20s", "--record", t.TempDir(), "--rooms", "3", "--json"},
			check: func(t *testing.T, c smokeConfig) {
				if c.run.URL != "wss://lk.example.com" || c.run.Agent != "a" || c.run.AgentTimeout != 20*time.Second || c.rooms != 3 || !c.asJSON || c.run.RecordDir == "" {
					t.Errorf("got %+v", c)
				}
			}},
		{name: "no URL", want: []string{"no LiveKit URL: set LIVEKIT_URL or --livekit-url (LIVEKIT_URL in the --env-file counts too)"}},
		{name: "bad URL", args: []string{"--livekit-url", "ftp://x"}, want: []string{`LiveKit URL: bad URL: "ftp://x": scheme must be ws, wss, http or https`}},
		{name: "argument", environ: lk, args: []string{"extra"}, want: []string{`unexpected argument "extra"`}},
		{name: "timeout", environ: lk, args: []string{"--timeout", "0s"}, want: []string{"--timeout must be positive"}},
		{name: "agent timeout", environ: lk, args: []string{"--agent", "a", "--agent-timeout", "-1s"}, want: []string{"--agent-timeout must be positive"}},
		{name: "audio without agent", environ: lk, args: []string{"--agent-audio"}, want: []string{"--agent-audio needs --agent NAME"}},
		{name: "voice timeout", environ: lk, args: []string{"--agent", "a", "--voice-timeout", "0s"}, want: []string{"--voice-timeout must be positive"}},
		{name: "record without agent", environ: lk, args: []string{"--record", t.TempDir()}, want: []string{"--say and --record need --agent NAME"}},
		{name: "say: no such file", environ: lk, args: []string{"--agent", "a", "--say", "/nonexistent/x.ogg"},
			want: []string{"--say: open /nonexistent/x.ogg: no such file or directory"}},
		{name: "record: not a directory", environ: lk, args: []string{"--agent", "a", "--record", "smoke_test.go"}, want: []string{"--record smoke_test.go: not a directory"}},
		{name: "rooms", environ: lk, args: []string{"--rooms", "0"}, want: []string{fmt.Sprintf("--rooms must be between 1 and %d", maxSmokeRooms)}},
		{name: "rooms with a room", environ: lk, args: []string{"--rooms", "2", "--room", "r"}, want: []string{"--rooms needs fresh rooms: drop --room"}},
		{name: "every problem at once", args: []string{"--timeout", "0s", "--agent-audio", "--rooms", "2", "--room", "r", "--record", "smoke_test.go", "extra"},
			want: []string{
				`unexpected argument "extra"`,
				"--timeout must be positive",
				"--agent-audio needs --agent NAME",
				"--say and --record need --agent NAME",
				"--rooms needs fresh rooms: drop --room",
				"--record smoke_test.go: not a directory",
				"no LiveKit URL: set LIVEKIT_URL or --livekit-url (LIVEKIT_URL in the --env-file counts too)",
			}},
	}
	runConfigCases(t, parseSmokeFlags, tests)
}
